"""deploy/compose.yaml and deploy/kubernetes.yaml agree with the image and with the bot.

Every environment variable they set must be one the bot reads (bot/config/ and
bot/healthcheck.py, read from their source on each run) or one the Dockerfile sets, so a
misspelt name fails here instead of being silently ignored in production. Both run two
replicas on PostgreSQL, probe ``/healthz`` on the port the bot listens on, keep secrets out of
the files themselves, and run as the Dockerfile's user. Nothing here needs Docker, a cluster
or the network.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from dotenv import dotenv_values

from bot.config import load_config, load_policy_file

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"

# The PostgreSQL settings the deployment files use. Until bot/config/ reads any of them
# (the PostgreSQL store is landing separately) they are accepted as they are spelt here; from
# then on each one used must be read by the bot like every other name.
POSTGRES_NAMES = frozenset(
    {
        "STARTJOBS_DATABASE_URL",
        "STARTJOBS_DB_POOL_MIN",
        "STARTJOBS_DB_POOL_MAX",
        "STARTJOBS_DB_CONNECT_TIMEOUT",
    }
)
# What the official postgres image reads from deploy/postgres.env.
POSTGRES_IMAGE_NAMES = frozenset(
    {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_INITDB_ARGS", "PGDATA"}
)
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|_SK$|_AK$|DATABASE_URL")


# -- what the bot and the image say ------------------------------------------------------------


# The calls through which bot/config/ and healthcheck.py read a variable, first argument a name.
CALL = r"\b(?:get|getenv|secret|_?number|number_setting)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"


def names_read_by_the_bot() -> set[str]:
    """Environment variable names the bot reads: the first argument of each ``get("…")``,
    ``secret("…")``, ``number("…")``, ``env.get("…")`` or ``os.environ.get("…")`` call and
    each ``os.environ["…"]`` in bot/config/ and bot/healthcheck.py (where the bot reads its
    environment: a name read elsewhere is missed here, and the test says so)."""
    names: set[str] = set()
    modules = [*sorted((ROOT / "bot" / "config").glob("*.py")), ROOT / "bot" / "healthcheck.py"]
    for module in modules:
        source = module.read_text(encoding="utf-8")
        names.update(re.findall(CALL, source))
        names.update(re.findall(r"\benviron\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]", source))
    return names


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")


def final_stage() -> str:
    return re.split(r"^FROM\s", dockerfile(), flags=re.MULTILINE)[-1]


def image_env() -> dict[str, str]:
    """``ENV`` of the Dockerfile's last stage (the image that runs)."""
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", final_stage(), flags=re.MULTILINE):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def image_user() -> int:
    match = re.search(r"^USER\s+(\d+)\s*$", final_stage(), flags=re.MULTILINE)
    assert match, "the Dockerfile's USER is a numeric uid"
    return int(match.group(1))


def image_healthcheck() -> list[str]:
    match = re.search(r"^HEALTHCHECK\s.*?\bCMD\s+(\[.*?\])\s*$", final_stage(), re.MULTILINE)
    assert match, "the Dockerfile has an exec-form HEALTHCHECK"
    command = yaml.safe_load(match.group(1))
    assert isinstance(command, list)
    return [str(word) for word in command]


def known_names() -> set[str]:
    read = names_read_by_the_bot()
    pending = POSTGRES_NAMES if not read & POSTGRES_NAMES else frozenset()
    return read | image_env().keys() | pending


def unknown(names: set[str]) -> list[str]:
    return sorted(names - known_names())


def env_file_names(path: Path) -> set[str]:
    """Names an env file sets, and those it suggests in comments (``# NAME=…``)."""
    text = path.read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def env_file_values(path: Path) -> dict[str, str]:
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


# -- the files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def kube() -> dict[str, dict[str, Any]]:
    docs = [
        d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text(encoding="utf-8")) if d
    ]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    assert {"Secret", "ConfigMap", "Deployment", "Service"} <= by_kind.keys()
    return by_kind


def bot_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from the repository's Dockerfile."""
    found = {}
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        if (DEPLOY / context).resolve() == ROOT and build.get("dockerfile", "Dockerfile") == (
            "Dockerfile"
        ):
            found[name] = service
    return found


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def env_files(service: dict[str, Any]) -> list[str]:
    value = service.get("env_file") or []
    items = [value] if isinstance(value, str) else value
    return [item if isinstance(item, str) else item["path"] for item in items]


def example_of(env_file: str) -> Path:
    """The committed example of an env file the compose file names (the real one is not)."""
    path = DEPLOY / f"{env_file}.example"
    assert path.is_file(), f"{env_file} has no committed example {path.name}"
    return path


def container(kube: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = kube["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def container_env(kube: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(kube).get("env", [])}


# -- the cross-check of names ------------------------------------------------------------------


def test_names_are_read_from_the_bots_source() -> None:
    names = names_read_by_the_bot()
    # If the extraction broke (config reads them some other way), say so rather than pass.
    assert {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "PORT",
        "STARTJOBS_CONFIG",
        "STARTJOBS_DB",
        "STARTJOBS_DRS_TIMEOUT",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_IAM_DOMAIN",
    } <= names
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", n) for n in names)


def test_a_misspelt_name_is_caught() -> None:
    assert unknown({"STARTJOBS_DRS_TIMEOUT", "PORT"}) == []
    assert unknown({"STARTJOBS_DATABSE_URL", "SLACK_SIGNING_SECRECT", "STARTJOBS_DRS_TIMOUT"}) == [
        "SLACK_SIGNING_SECRECT",
        "STARTJOBS_DATABSE_URL",
        "STARTJOBS_DRS_TIMOUT",
    ]


def test_compose_sets_only_names_the_bot_reads(compose: dict[str, Any]) -> None:
    for name, service in bot_services(compose).items():
        names = set(service_env(service))
        for env_file in env_files(service):
            names |= env_file_names(example_of(env_file))
        assert unknown(names) == [], f"{name}: not read by the bot"
    postgres = compose["services"]["postgres"]
    for env_file in env_files(postgres):
        names = env_file_names(example_of(env_file))
        assert names <= POSTGRES_IMAGE_NAMES, sorted(names - POSTGRES_IMAGE_NAMES)


def test_kubernetes_sets_only_names_the_bot_reads(kube: dict[str, dict[str, Any]]) -> None:
    spec = container(kube)
    names = set(container_env(kube))
    secret_keys = set(kube["Secret"].get("stringData", {})) | set(kube["Secret"].get("data", {}))
    for source in spec.get("envFrom", []):
        # Every key of a Secret or ConfigMap taken whole becomes a variable.
        assert "secretRef" in source, "envFrom takes the Secret only"
        assert source["secretRef"]["name"] == kube["Secret"]["metadata"]["name"]
        names |= secret_keys
    assert unknown(names) == []
    # Each key the pod takes from the Secret is in the example Secret, under the same name.
    for name, entry in container_env(kube).items():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] == kube["Secret"]["metadata"]["name"]
            assert ref["key"] in secret_keys, name
            assert ref["key"] == name
    assert unknown(secret_keys) == []


def test_once_the_bot_reads_the_postgres_settings_every_one_used_must_be_one_it_reads(
    compose: dict[str, Any], kube: dict[str, dict[str, Any]]
) -> None:
    read = names_read_by_the_bot()
    if not read & POSTGRES_NAMES:
        pytest.skip("bot/config/ reads no PostgreSQL setting yet")
    used = set(container_env(kube)) | set(kube["Secret"].get("stringData", {}))
    for service in bot_services(compose).values():
        used |= set(service_env(service))
        for env_file in env_files(service):
            used |= env_file_names(example_of(env_file))
    assert sorted((used & POSTGRES_NAMES) - read) == []


# -- compose -----------------------------------------------------------------------------------


def test_compose_runs_two_replicas_of_the_image_on_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    bots = bot_services(compose)
    assert len(bots) == 2, sorted(bots)

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "environment" not in postgres, "credentials from the env file, not inline"
    assert env_files(postgres)
    (volume,) = postgres["volumes"]
    source, target = volume.split(":")[:2]
    assert source in compose["volumes"], "a named volume"
    assert target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    config_path = image_env()["STARTJOBS_CONFIG"]
    for name, bot in bots.items():
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert bot["healthcheck"]["test"] == ["CMD", *image_healthcheck()], name
        assert env_files(bot), name
        env = service_env(bot)
        assert not [k for k in env if SECRET_NAME.search(k)], "secrets only in the env file"
        assert "STARTJOBS_CONFIG" not in env
        mounts = [v for v in bot.get("volumes", []) if isinstance(v, dict)]
        policy = [m for m in mounts if m["target"] == config_path]
        assert len(policy) == 1 and policy[0]["read_only"] is True, name
        assert policy[0]["type"] == "bind"


def test_compose_points_the_bot_at_the_postgres_service(compose: dict[str, Any]) -> None:
    credentials = {}
    for env_file in env_files(compose["services"]["postgres"]):
        credentials.update(env_file_values(example_of(env_file)))
    for bot in bot_services(compose).values():
        values: dict[str, str] = {}
        for env_file in env_files(bot):
            values.update(env_file_values(example_of(env_file)))
        values.update(service_env(bot))
        url = urlsplit(values["STARTJOBS_DATABASE_URL"])
        assert url.scheme == "postgresql"
        assert url.hostname == "postgres"
        assert url.hostname in compose["services"]
        assert url.port == 5432
        assert url.username == credentials["POSTGRES_USER"]
        assert url.password == credentials["POSTGRES_PASSWORD"]
        assert url.path == f"/{credentials['POSTGRES_DB']}"


def test_compose_env_file_example_is_http_mode_and_loads(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Filled in, the example gives the mode the proxy serves (HTTP), with no problem."""
    policy = tmp_path / "startjobs.toml"
    policy.write_text("", encoding="utf-8")
    for bot in bot_services(compose).values():
        values: dict[str, str] = {}
        for env_file in env_files(bot):
            values.update(env_file_values(example_of(env_file)))
        assert "SLACK_APP_TOKEN" not in values
        settings, _ = load_config(
            {**values, **service_env(bot), "STARTJOBS_CONFIG": str(policy)},
        )
        assert not settings.socket_mode
        assert settings.port == int(service_env(bot).get("PORT", image_env()["PORT"]))


def test_compose_proxy_spreads_slack_requests_over_both_replicas(compose: dict[str, Any]) -> None:
    bots = bot_services(compose)
    proxy = compose["services"]["proxy"]
    (mount,) = proxy["volumes"]
    conf_path = DEPLOY / mount["source"]
    assert mount["target"] == "/etc/nginx/nginx.conf" and mount["read_only"] is True
    conf = conf_path.read_text(encoding="utf-8")
    upstreams = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)\b", conf, flags=re.MULTILINE))
    expected = {
        f"{name}:{service_env(bot).get('PORT', image_env()['PORT'])}" for name, bot in bots.items()
    }
    assert upstreams == expected
    assert re.search(r"location\s+=\s+/slack/events\s*\{[^}]*proxy_pass\s+http://", conf)
    (published,) = proxy["ports"]
    listen = re.search(r"^\s*listen\s+(\d+);", conf, flags=re.MULTILINE)
    assert listen and published.endswith(f":{listen.group(1)}")
    assert set(proxy["depends_on"]) == set(bots)


def test_env_file_examples_hold_no_real_secrets() -> None:
    for path in sorted(DEPLOY.glob("*.env.example")):
        for name, value in env_file_values(path).items():
            if SECRET_NAME.search(name):
                assert "change-me" in value, f"{path.name}: {name} is not a placeholder"
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert "*.env" in ignored, "the filled-in env files are never committed"


# -- kubernetes --------------------------------------------------------------------------------


def test_kubernetes_runs_two_replicas_probed_on_healthz(kube: dict[str, dict[str, Any]]) -> None:
    deployment = kube["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    spec = container(kube)
    env = container_env(kube)
    port = int(env["PORT"]["value"]) if "PORT" in env else int(image_env()["PORT"])
    ports = {p.get("name"): p["containerPort"] for p in spec["ports"]}
    assert port in ports.values(), "the container port is the one the bot listens on"
    for probe in ("readinessProbe", "livenessProbe"):
        get = spec[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert ports.get(get["port"], get["port"]) == port, probe
    if "startupProbe" in spec:
        assert spec["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert "STARTJOBS_DATABASE_URL" in env or any("secretRef" in s for s in spec.get("envFrom", []))
    assert "STARTJOBS_DATABASE_URL" in kube["Secret"]["stringData"]

    service = kube["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (service_port,) = service["spec"]["ports"]
    target = service_port["targetPort"]
    assert ports.get(target, target) == port


def test_kubernetes_environment_loads_as_http_mode_on_postgres(
    kube: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The pod's environment (its values and the example Secret's) is one the bot accepts."""
    policy = tmp_path / "startjobs.toml"
    policy.write_text("", encoding="utf-8")
    secret = kube["Secret"]["stringData"]
    env: dict[str, str] = {}
    for name, entry in container_env(kube).items():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[name] = secret[ref["key"]] if ref else str(entry["value"])
    settings, _ = load_config({**image_env(), **env, "STARTJOBS_CONFIG": str(policy)})
    assert not settings.socket_mode
    database = getattr(settings, "database", None)
    if database is not None:  # once the bot reads the PostgreSQL settings
        assert database.url is not None


def test_kubernetes_probes_ask_what_the_images_healthcheck_asks(
    kube: dict[str, dict[str, Any]],
) -> None:
    """The Dockerfile's HEALTHCHECK runs bot.healthcheck, which in HTTP mode asks /healthz on
    PORT: the probes ask the same."""
    assert image_healthcheck() == ["python", "-m", "bot.healthcheck"]
    source = (ROOT / "bot" / "healthcheck.py").read_text(encoding="utf-8")
    assert re.search(r"127\.0\.0\.1:\{os\.environ\.get\('PORT'.*?\}/healthz", source)
    assert container(kube)["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_kubernetes_runs_as_the_dockerfiles_user(kube: dict[str, dict[str, Any]]) -> None:
    pod = kube["Deployment"]["spec"]["template"]["spec"]
    spec = container(kube)
    merged = {**pod.get("securityContext", {}), **spec.get("securityContext", {})}
    assert merged["runAsNonRoot"] is True
    assert merged["runAsUser"] == image_user() != 0
    assert merged["allowPrivilegeEscalation"] is False
    assert merged["capabilities"]["drop"] == ["ALL"]


def test_kubernetes_takes_the_policy_from_the_configmap_read_only(
    kube: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    config_path = Path(image_env()["STARTJOBS_CONFIG"])
    assert "STARTJOBS_CONFIG" not in container_env(kube), "the image's path"
    pod = kube["Deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    configmap = kube["ConfigMap"]
    found = False
    for mount in container(kube)["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            continue
        assert volume["configMap"]["name"] == configmap["metadata"]["name"]
        assert mount["readOnly"] is True
        for item in volume["configMap"].get("items", []):
            if Path(mount["mountPath"]) / item["path"] == config_path:
                found = True
                text = configmap["data"][item["key"]]
                tomllib.loads(text)
                (tmp_path / "policy.toml").write_text(text, encoding="utf-8")
                policy = load_policy_file(tmp_path / "policy.toml")
                assert policy.projects
    assert found, f"the ConfigMap is mounted at {config_path}"


def test_kubernetes_keeps_no_state_and_limits_resources(kube: dict[str, dict[str, Any]]) -> None:
    pod = kube["Deployment"]["spec"]["template"]["spec"]
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= {"configMap", "secret", "emptyDir"}, volume
    resources = container(kube)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()


def test_kubernetes_secret_holds_placeholders_only(kube: dict[str, dict[str, Any]]) -> None:
    secret = kube["Secret"]
    assert "data" not in secret, "placeholders in stringData, readable"
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} is not a placeholder"


def test_kubernetes_objects_pass_kubernetes_schemas_offline(
    kube: dict[str, dict[str, Any]],
) -> None:
    """Strict: a misspelt field (``readinessprobe``) fails. The schemas ship with the package."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for obj in kube.values():
        kubernetes_validate.validate(obj, "1.32.0", strict=True)


def test_every_setting_the_bot_reads_is_in_the_readme_table() -> None:
    """An operator finds every variable in the README's settings table (one row each)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows: set[str] = set()
    for cell in re.findall(r"^\| (`[A-Z].*?) \|", readme, flags=re.MULTILINE):
        rows |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", cell))  # "`A`" and "`A`, `B`" rows
    missing = sorted(n for n in names_read_by_the_bot() if n not in rows)
    assert missing == [], f"not in README's settings table: {missing}"

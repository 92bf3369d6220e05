"""``startjobs check`` against the DRS simulator and the fake Slack on loopback: everything
fine, then each setting broken on its own, each reported with its own message."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.check.doctor import REQUIRED_SCOPES, check, cli_main, required_scopes
from bot.core.policy_file import load_policy
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DEMO_USER, DrsSimulator
from bot.devkit.sim.slack import DEFAULT_SCOPES, FakeSlack

TOKEN = "xoxb-check-token-0123456789"
SIGNING = "check-signing-secret-abcdef"
WRONG_SK = "WRONGskWRONGskWRONGskWRONGsk0000000000"
ALL_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "PORT",
    "STARTJOBS_CONFIG",
    "STARTJOBS_DB",
    "STARTJOBS_LOG_LEVEL",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_IAM_USER",
    "HUAWEICLOUD_IAM_PASSWORD",
    "HUAWEICLOUD_IAM_DOMAIN",
)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def policy_toml(
    endpoint: str,
    *,
    groups: bool = True,
    project_id: str = DEFAULT_PROJECT_ID,
    second: bool = False,
) -> str:
    requesters = '["U01ALICE", "S0DBATEAM"]' if groups else '["U01ALICE"]'
    text = ""
    for name in ("prod", "dev") if second else ("prod",):
        text += (
            f"[projects.{name}]\n"
            'region = "cn-north-4"\n'
            f'project_id = "{project_id}"\n'
            f'endpoint = "{endpoint}"\n'
            f'iam_endpoint = "{endpoint}"\n'
            f"requesters = {requesters}\n"
            'approvers = ["U02BOB"]\n\n'
        )
    return text


@dataclass
class Setup:
    sim: DrsSimulator
    slack: FakeSlack
    tmp: Path

    def env(self, policy: str | None = None, **changes: str | None) -> dict[str, str]:
        path = self.tmp / "startjobs.toml"
        path.write_text(policy if policy is not None else policy_toml(self.sim.url))
        env: dict[str, str | None] = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING,
            "SLACK_API_URL": self.slack.url,
            "STARTJOBS_CONFIG": str(path),
            "STARTJOBS_DB": str(self.tmp / "startjobs.db"),
            "HUAWEICLOUD_SDK_AK": DEFAULT_AK,
            "HUAWEICLOUD_SDK_SK": DEFAULT_SK,
            **changes,
        }
        return {k: v for k, v in env.items() if v is not None}


async def run(env: dict[str, str], **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    code = await check(env, out=out, call_timeout=5.0, **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue()


def line(output: str, name: str) -> str:
    """The output line of check ``name``."""
    found = [ln for ln in output.splitlines() if f"  {name}:" in ln]
    assert found, f"no line for {name!r} in:\n{output}"
    return found[0]


def assert_no_secret(output: str) -> None:
    for secret in (TOKEN, SIGNING, DEFAULT_SK, WRONG_SK, DEMO_USER[1]):
        assert secret not in output


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with (
        DrsSimulator(lockout_after=None) as sim,
        FakeSlack(bot_token=TOKEN, usergroups={"S0DBATEAM": ["U01ALICE"]}) as slack,
    ):
        yield Setup(sim, slack, tmp_path)


def make_slack(**kwargs: object) -> FakeSlack:
    return FakeSlack(bot_token=TOKEN, usergroups={"S0DBATEAM": ["U01ALICE"]}, **kwargs)  # type: ignore[arg-type]


# --- all fine ----------------------------------------------------------------------------------


async def test_everything_ok(setup: Setup) -> None:
    code, output = await run(setup.env())
    assert code == 0, output
    assert line(output, "slack token").startswith("ok")
    assert "T0STARTJOBS" in line(output, "slack token")
    scopes = line(output, "slack scopes")
    assert scopes.startswith("ok") and "usergroups:read" in scopes
    assert line(output, "slack user group S0DBATEAM").startswith("ok")
    assert "1 member" in line(output, "slack user group S0DBATEAM")
    drs = line(output, "drs prod")
    assert drs.startswith("ok") and DEFAULT_PROJECT_ID in drs
    assert "FAIL" not in output
    assert output.rstrip().endswith("everything checked is ok")
    assert_no_secret(output)
    # The checks really called both services.
    assert [c.method for c in setup.slack.calls][:2] == ["auth.test", "usergroups.users.list"]
    assert [c.endpoint for c in setup.sim.calls] == ["list"]


async def test_iam_password_login_ok(setup: Setup) -> None:
    user, password, domain = DEMO_USER
    env = setup.env(
        HUAWEICLOUD_SDK_AK=None,
        HUAWEICLOUD_SDK_SK=None,
        HUAWEICLOUD_IAM_USER=user,
        HUAWEICLOUD_IAM_PASSWORD=password,
        HUAWEICLOUD_IAM_DOMAIN=domain,
    )
    code, output = await run(env)
    assert code == 0, output
    assert line(output, "iam prod").startswith("ok")
    assert line(output, "drs prod").startswith("ok")
    assert_no_secret(output)


async def test_policy_without_groups_needs_no_usergroups_scope(setup: Setup) -> None:
    code, output = await run(setup.env(policy_toml(setup.sim.url, groups=False)))
    assert code == 0, output
    assert "usergroups:read" not in line(output, "slack scopes")
    assert "not needed" in line(output, "slack user groups")


def test_required_scopes_follow_the_policy() -> None:
    common = {"region": "cn-north-4", "project_id": DEFAULT_PROJECT_ID, "approvers": ["U02BOB"]}
    plain = load_policy({"projects": {"p": {**common, "requesters": ["U01ALICE"]}}})
    grouped = load_policy({"projects": {"p": {**common, "requesters": ["S0TEAM"]}}})
    assert required_scopes(plain) == list(REQUIRED_SCOPES)
    assert required_scopes(grouped) == [*REQUIRED_SCOPES, "usergroups:read"]
    assert set(REQUIRED_SCOPES) == {
        "commands",
        "chat:write",
        "users:read",
        "files:write",
        "files:read",
        "channels:history",
        "groups:history",
    }


async def test_offline_checks_only_the_configuration(setup: Setup) -> None:
    code, output = await run(setup.env(), offline=True)
    assert code == 0, output
    assert line(output, "online checks").startswith("skip")
    assert not setup.slack.calls and not setup.sim.calls


# --- Slack broken ------------------------------------------------------------------------------


async def test_bad_token(setup: Setup) -> None:
    code, output = await run(setup.env(SLACK_BOT_TOKEN="xoxb-not-the-right-one-9876"))
    assert code == 1
    token = line(output, "slack token")
    assert token.startswith("FAIL")
    assert "SLACK_BOT_TOKEN is not valid: invalid_auth" in token
    assert line(output, "slack scopes").startswith("skip")
    assert "xoxb-not-the-right-one-9876" not in output
    assert_no_secret(output)


async def test_missing_scopes_each_reported(setup: Setup) -> None:
    without = [s for s in DEFAULT_SCOPES if s not in ("files:write", "usergroups:read")]
    async with make_slack(scopes=without) as slack:
        code, output = await run(setup.env(SLACK_API_URL=slack.url))
    assert code == 1
    files = line(output, "slack scope files:write")
    assert files.startswith("FAIL") and "missing" in files
    assert "Bot Token Scopes" in files and "reinstall" in files
    assert line(output, "slack scope usergroups:read").startswith("FAIL")
    assert line(output, "slack user groups").startswith("skip")
    assert "slack scope chat:write" not in output
    assert_no_secret(output)


async def test_plan_without_user_groups(setup: Setup) -> None:
    async with make_slack(plan_has_usergroups=False) as slack:
        code, output = await run(setup.env(SLACK_API_URL=slack.url))
    assert code == 1
    groups = line(output, "slack user groups")
    assert groups.startswith("FAIL")
    assert "plan_upgrade_required" in groups and "S0DBATEAM" in groups
    assert "user IDs (U...)" in groups


async def test_unknown_user_group(setup: Setup) -> None:
    policy = policy_toml(setup.sim.url).replace("S0DBATEAM", "S0NOSUCH")
    code, output = await run(setup.env(policy))
    assert code == 1
    assert "no_such_subteam" in line(output, "slack user group S0NOSUCH")


async def test_slack_unreachable(setup: Setup) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"
    code, output = await run(setup.env(SLACK_API_URL=url))
    assert code == 1
    token = line(output, "slack token")
    assert f"cannot reach {url} (connection refused)" in token


# --- DRS broken --------------------------------------------------------------------------------


async def test_wrong_aksk(setup: Setup) -> None:
    policy = policy_toml(setup.sim.url, second=True)
    code, output = await run(setup.env(policy, HUAWEICLOUD_SDK_SK=WRONG_SK))
    assert code == 1
    drs = line(output, "drs dev")  # projects are checked by name
    assert drs.startswith("FAIL")
    assert "DRS refused the credentials (APIGW.0301): check HUAWEICLOUD_SDK_AK" in drs
    assert "verify aksk signature fail" in drs  # what DRS said, for the operator
    assert "HUAWEICLOUD_SDK_SK" in drs
    # Signature failures lock the AK: the other project is not tried with the same keys.
    assert line(output, "drs prod").startswith("skip")
    assert len([c for c in setup.sim.calls if c.endpoint == "list"]) == 1
    assert_no_secret(output)


async def test_unreachable_endpoint(setup: Setup) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    code, output = await run(setup.env(policy_toml(endpoint)))
    assert code == 1
    drs = line(output, "drs prod")
    assert drs.startswith("FAIL")
    assert f"cannot reach {endpoint} (connection refused): check endpoint / network" in drs


async def test_wrong_project_id(setup: Setup) -> None:
    other = "f" * 32
    code, output = await run(setup.env(policy_toml(setup.sim.url, project_id=other)))
    assert code == 1
    drs = line(output, "drs prod")
    assert f"DRS does not know project id {other} (DRS.M00261)" in drs
    assert "projects.prod.project_id" in drs


async def test_iam_wrong_password(setup: Setup) -> None:
    user, _, domain = DEMO_USER
    env = setup.env(
        HUAWEICLOUD_SDK_AK=None,
        HUAWEICLOUD_SDK_SK=None,
        HUAWEICLOUD_IAM_USER=user,
        HUAWEICLOUD_IAM_PASSWORD="not-the-password-42",
        HUAWEICLOUD_IAM_DOMAIN=domain,
    )
    code, output = await run(env)
    assert code == 1
    iam = line(output, "iam prod")
    assert iam.startswith("FAIL")
    assert f"IAM refused the password login of user {user!r}" in iam
    assert "HUAWEICLOUD_IAM_PASSWORD" in iam
    assert line(output, "drs prod").startswith("skip")
    assert "not-the-password-42" not in output


async def test_iam_unreachable(setup: Setup) -> None:
    user, password, domain = DEMO_USER
    endpoint = f"http://127.0.0.1:{closed_port()}"
    env = setup.env(
        policy_toml(endpoint),
        HUAWEICLOUD_SDK_AK=None,
        HUAWEICLOUD_SDK_SK=None,
        HUAWEICLOUD_IAM_USER=user,
        HUAWEICLOUD_IAM_PASSWORD=password,
        HUAWEICLOUD_IAM_DOMAIN=domain,
    )
    code, output = await run(env)
    assert code == 1
    assert f"cannot reach {endpoint} (connection refused)" in line(output, "iam prod")
    assert_no_secret(output)


# --- configuration broken ----------------------------------------------------------------------


async def test_invalid_toml(setup: Setup) -> None:
    code, output = await run(setup.env("[projects.prod\nregion = "))
    assert code == 1
    config = line(output, "config")
    assert config.startswith("FAIL") and "not valid TOML" in config
    assert line(output, "online checks").startswith("skip")
    assert not setup.slack.calls and not setup.sim.calls


async def test_invalid_policy_lists_every_problem(setup: Setup) -> None:
    policy = policy_toml(setup.sim.url).replace("cn-north-4", "Mars").replace("U02BOB", "bob")
    code, output = await run(setup.env(policy))
    assert code == 1
    problems = [ln for ln in output.splitlines() if ln.startswith("FAIL  config:")]
    assert len(problems) >= 2, output
    assert any("region" in p for p in problems)
    assert any("'bob'" in p for p in problems)


async def test_missing_settings(setup: Setup) -> None:
    code, output = await run(setup.env(SLACK_BOT_TOKEN=None, HUAWEICLOUD_SDK_SK=None))
    assert code == 1
    problems = [ln for ln in output.splitlines() if ln.startswith("FAIL  config:")]
    assert any("SLACK_BOT_TOKEN is not set" in p for p in problems)
    assert any("HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK" in p for p in problems)
    assert_no_secret(output)


async def test_policy_without_projects_fails(setup: Setup) -> None:
    code, output = await run(setup.env("# nothing yet\n"))
    assert code == 1
    assert "no project" in line(output, "policy")


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ALL_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_reads_env_file_and_the_environment_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = clean_env / "good.toml"
    good.write_text(policy_toml("http://127.0.0.1:1"))
    (clean_env / ".env").write_text(
        f"SLACK_BOT_TOKEN={TOKEN}\nSLACK_SIGNING_SECRET={SIGNING}\n"
        f"HUAWEICLOUD_SDK_AK={DEFAULT_AK}\nHUAWEICLOUD_SDK_SK={DEFAULT_SK}\n"
        "STARTJOBS_CONFIG=missing.toml\n"
    )
    monkeypatch.setenv("STARTJOBS_CONFIG", str(good))
    assert cli_main(["--offline"]) == 0
    output = capsys.readouterr().out
    assert line(output, "env file").startswith("ok")
    assert str(good) in line(output, "policy")
    assert_no_secret(output)
    # Without the environment's value, the file's (missing) policy path is used.
    monkeypatch.delenv("STARTJOBS_CONFIG")
    assert cli_main(["--offline"]) == 1
    assert "missing.toml" in capsys.readouterr().out


def test_cli_missing_env_file(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--env-file", "nope.env", "--offline"]) == 1
    output = capsys.readouterr().out
    assert "nope.env does not exist" in line(output, "env file")


def test_cli_bad_arguments(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--no-such-option"]) == 2
    assert cli_main(["--timeout", "0"]) == 2


async def test_an_unusable_database_is_a_configuration_failure(setup: Setup) -> None:
    directory = setup.tmp / "a-directory"
    directory.mkdir()
    code, output = await run(setup.env(STARTJOBS_DB=str(directory)), offline=True)
    assert code == 1
    assert "FAIL  config: STARTJOBS_DB" in output and "directory" in output, output


async def test_a_postgresql_database_is_named_without_its_password(setup: Setup) -> None:
    url = "postgresql://startjobs:pa55-word-x@127.0.0.1:1/startjobs"
    code, output = await run(setup.env(STARTJOBS_DATABASE_URL=url), offline=True)
    assert code == 0, output
    settings_line = line(output, "settings")
    assert "PostgreSQL postgresql://startjobs:***@127.0.0.1:1/startjobs" in settings_line
    assert "pa55-word-x" not in output


def test_the_database_password_is_among_the_secrets_logs_never_show(setup: Setup) -> None:
    from bot.__main__ import secrets_of
    from bot.config import load_config

    url = "postgresql://startjobs:pa55-word-x@db.internal:5432/startjobs?sslmode=require"
    settings, _ = load_config(setup.env(STARTJOBS_DATABASE_URL=url))
    assert "pa55-word-x" in secrets_of(settings)
    assert url in secrets_of(settings)

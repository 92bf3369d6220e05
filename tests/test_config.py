from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import cli_main
from bot.config import AkSk, ConfigError, IamPassword, load_config

POLICY = """
[projects.prod]
region = "ap-southeast-1"
project_id = "054ba152d480d55b2f5dc0069e7ddef0"
requesters = ["U01ALICE", "S0DBATEAM"]
approvers = ["U02BOB"]
approval = "two-person"
channels = ["C0OPS"]
"""


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "startjobs.toml"
    config.write_text(POLICY, encoding="utf-8")
    base = {
        "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "STARTJOBS_CONFIG": str(config),
        "STARTJOBS_DB": str(tmp_path / "db.sqlite"),
        "HUAWEICLOUD_SDK_AK": "AKEXAMPLE",
        "HUAWEICLOUD_SDK_SK": "SKEXAMPLESECRET",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v != "-"}


def test_valid_environment_loads(tmp_path: Path) -> None:
    settings, policy = load_config(env(tmp_path))
    assert isinstance(settings.credentials, AkSk)
    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert not settings.socket_mode
    assert "AKEXAMPLE" not in repr(settings)
    assert "SKEXAMPLESECRET" not in repr(settings)
    assert policy.project("prod") is not None


def test_socket_mode_needs_no_signing_secret(tmp_path: Path) -> None:
    settings, _ = load_config(
        env(tmp_path, SLACK_APP_TOKEN="xapp-1-A-2-abc", SLACK_SIGNING_SECRET="-")
    )
    assert settings.socket_mode
    assert settings.slack_signing_secret is None


def test_iam_password_login(tmp_path: Path) -> None:
    settings, _ = load_config(
        env(
            tmp_path,
            HUAWEICLOUD_SDK_AK="-",
            HUAWEICLOUD_SDK_SK="-",
            HUAWEICLOUD_IAM_USER="ops",
            HUAWEICLOUD_IAM_PASSWORD="pw-secret",
            HUAWEICLOUD_IAM_DOMAIN="acme",
        )
    )
    assert isinstance(settings.credentials, IamPassword)
    assert "pw-secret" not in repr(settings)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    bad = env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxp-user-token",
        SLACK_SIGNING_SECRET="-",
        PORT="eighty",
        SLACK_API_URL="slack.example",
        HUAWEICLOUD_SDK_SK="-",
        STARTJOBS_DRS_CHUNK_SIZE="0",
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    problems = "\n".join(info.value.problems)
    for expected in (
        "SLACK_BOT_TOKEN must start with 'xoxb-'",
        "SLACK_SIGNING_SECRET is not set",
        "PORT='eighty' is not a number",
        "SLACK_API_URL",
        "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
        "STARTJOBS_DRS_CHUNK_SIZE",
    ):
        assert expected in problems
    assert "xoxp-user-token" not in str(info.value)


def test_policy_problems_are_reported_with_the_file(tmp_path: Path) -> None:
    e = env(tmp_path)
    Path(e["STARTJOBS_CONFIG"]).write_text(
        '[projects.prod]\nregion = "x"\napproval = "maybe"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        load_config(e)
    assert all(p.startswith(e["STARTJOBS_CONFIG"]) for p in info.value.problems)
    assert any("approval" in p for p in info.value.problems)

    Path(e["STARTJOBS_CONFIG"]).write_text("[projects.prod\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(e)

    with pytest.raises(ConfigError, match="no file at"):
        load_config({**e, "STARTJOBS_CONFIG": str(tmp_path / "missing.toml")})


def test_run_refuses_to_start_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STARTJOBS_CONFIG", str(tmp_path / "none.toml"))
    assert cli_main(["--env-file", str(tmp_path / "absent.env")]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err
    assert "startjobs cannot start" in err


def test_dotenv_never_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SLACK_BOT_TOKEN=xoxb-from-file\nPORT=not-a-port\n", encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")  # restored after the test, whatever .env sets
    monkeypatch.setenv("PORT", "70000")
    monkeypatch.setenv("STARTJOBS_CONFIG", str(tmp_path / "none.toml"))
    assert cli_main(["--env-file", str(dotenv)]) == 2
    err = capsys.readouterr().err
    assert "PORT=70000 must be at most 65535" in err
    assert "not-a-port" not in err
    assert "SLACK_BOT_TOKEN is not set" in err  # the empty real value won over the file


def test_an_answering_replica_needs_a_shared_database(tmp_path: Path) -> None:
    settings, _ = load_config(env(tmp_path))
    assert settings.role == "all"
    with pytest.raises(ConfigError) as refused:
        load_config(env(tmp_path, STARTJOBS_ROLE="answer"))
    assert "STARTJOBS_ROLE=answer" in str(refused.value)
    assert "set STARTJOBS_DATABASE_URL" in str(refused.value)
    url = "postgresql://bot:pw-secret@db:5432/startjobs"
    listen = "postgresql://bot:listen-secret@db-direct:5432/startjobs"
    settings, _ = load_config(
        env(
            tmp_path,
            STARTJOBS_ROLE="Answer",
            STARTJOBS_DATABASE_URL=url,
            STARTJOBS_DATABASE_LISTEN_URL=listen,
        )
    )
    assert settings.role == "answer"
    assert settings.database is not None and settings.database.listen_url is not None
    assert settings.database.listen_url.reveal() == listen
    assert "listen-secret" not in repr(settings)


def test_a_role_or_listen_url_not_understood_says_what_to_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(
            env(
                tmp_path,
                STARTJOBS_ROLE="worker",
                STARTJOBS_DATABASE_LISTEN_URL="mysql://u:hidden@h/db",
            )
        )
    text = str(refused.value)
    assert "STARTJOBS_ROLE='worker': use all" in text
    assert "LISTEN_URL='mysql://u:***@h/db' must start with postgresql://" in text
    assert "hidden" not in text

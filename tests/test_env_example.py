""".env.example agrees with manifest.yml and does not undo the Docker image's settings."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from dotenv import dotenv_values

from bot.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def example() -> dict[str, str]:
    """The variables .env.example sets, as the bot reads them (comments are not settings)."""
    values = dotenv_values(ROOT / ".env.example")
    return {k: v for k, v in values.items() if v is not None}


def image_env() -> dict[str, str]:
    """``ENV`` of the Dockerfile's last stage (the image that runs)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    last_stage = re.split(r"^FROM\s", text, flags=re.MULTILINE)[-1]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.*)$", last_stage, flags=re.MULTILINE):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def test_env_example_uses_the_mode_the_manifest_is_written_for(tmp_path: Path) -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    socket_mode = manifest["settings"]["socket_mode_enabled"]
    assert isinstance(socket_mode, bool)
    env = example()
    # Filled in as an operator would, the example's settings give the manifest's mode.
    policy = tmp_path / "startjobs.toml"
    policy.write_text("", encoding="utf-8")
    filled = {
        **{k: v or "filled-in-value" for k, v in env.items()},
        "STARTJOBS_CONFIG": str(policy),
        "STARTJOBS_DB": str(tmp_path / "startjobs.db"),
    }
    settings, _ = load_config(filled)
    assert settings.socket_mode is socket_mode
    if socket_mode:
        assert env.get("SLACK_APP_TOKEN", "").startswith("xapp-")
        assert "SLACK_SIGNING_SECRET" not in env
    else:
        assert "SLACK_APP_TOKEN" not in env
        assert "SLACK_SIGNING_SECRET" in env
    # The other mode is there, commented out, for whoever switches.
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    other = "SLACK_SIGNING_SECRET" if socket_mode else "SLACK_APP_TOKEN"
    assert re.search(rf"^# {other}=", text, flags=re.MULTILINE)


def test_env_example_leaves_the_images_settings_alone() -> None:
    image = image_env()
    assert {"STARTJOBS_DB", "STARTJOBS_CONFIG"} <= image.keys()  # what this test guards
    overridden = sorted(image.keys() & example().keys())
    # docker run --env-file .env would replace the image's value with the example's.
    assert overridden == [], overridden

"""manifest.yml is a valid Slack app manifest and asks for what the code uses, no more."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack.listeners.commands import COMMAND
from bot.slack.scopes import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_NAME = "manifest.schema.1.0.0.json"


def _schema_path() -> Path | None:
    candidates = [
        os.environ.get("STARTJOBS_MANIFEST_SCHEMA", ""),
        str(ROOT.parent / "shared" / "slack" / SCHEMA_NAME),
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_manifest_passes_slacks_schema(manifest: dict[str, Any]) -> None:
    path = _schema_path()
    if path is None:
        pytest.skip(
            f"Slack's {SCHEMA_NAME} not found beside the project (../shared/slack/) "
            "nor in STARTJOBS_MANIFEST_SCHEMA"
        )
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(manifest), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_check_would_catch_a_broken_manifest(manifest: dict[str, Any]) -> None:
    path = _schema_path()
    if path is None:
        pytest.skip("schema not available")
    schema = json.loads(path.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(manifest))
    broken["features"]["slash_commands"][0]["command"] = "startjobs"  # no leading slash
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert list(validator.iter_errors(broken))


def test_command_and_scopes_match_the_code(manifest: dict[str, Any]) -> None:
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == [COMMAND]
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_http_urls_point_at_the_events_path(manifest: dict[str, Any]) -> None:
    urls = [manifest["settings"]["interactivity"]["request_url"]]
    urls += [c["url"] for c in manifest["features"]["slash_commands"]]
    assert all(u.startswith("https://") and u.endswith("/slack/events") for u in urls)


def test_the_home_tab_and_only_its_event(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened"]
    assert "user_events" not in events
    assert events["request_url"].endswith("/slack/events")

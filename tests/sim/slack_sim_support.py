"""Shared pieces for the fake Slack and driver tests."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.devkit.sim.slack import FakeSlack

TOKEN = "xoxb-test-token"


class Clock:
    """A settable clock for the fake: tests move time instead of waiting."""

    def __init__(self, now: float = 1_764_554_400.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client_for(fake: FakeSlack, token: str = TOKEN, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.url, **kwargs)


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def modal(
    title: str = "Start jobs", blocks: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "start_form",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks
        if blocks is not None
        else [
            {
                "type": "input",
                "block_id": "jobs",
                "label": {"type": "plain_text", "text": "Job IDs"},
                "element": {"type": "plain_text_input", "action_id": "job_ids", "multiline": True},
            }
        ],
    }
    view.update(extra)
    return view

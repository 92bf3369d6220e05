"""Built-in matchers given the body directly pick the same listener as Bolt's, without building
every listener's arguments."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
import slack_bolt.listener_matcher.async_builtins as bolt_builtins
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack import matchers

TEAM = {"id": "T1"}
USER = {"id": "U1", "team_id": "T1"}


async def _authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None, team_id="T1", bot_token="xoxb-test", bot_user_id="UB", bot_id="B1"
    )


def make_app(ran: list[str], *, lean: bool) -> AsyncApp:
    """Listeners of every kind the bot registers, each recording its name when it runs."""
    app = AsyncApp(
        authorize=_authorize,
        signing_secret="not-checked",
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )

    def listener(name: str) -> Any:
        async def run(ack: AsyncAck) -> None:
            ran.append(name)
            await ack()

        return run

    app.command("/startjobs")(listener("command"))
    app.action("sj_approve")(listener("approve click"))
    app.action(re.compile(r"^sj_(reject|cancel)$"))(listener("reject or cancel click"))
    app.action({"block_id": "sj_pick", "action_id": "sj_job_pick"})(listener("pick in block"))
    app.action(re.compile(".*"))(listener("any other action"))
    app.view("startjobs_start")(listener("start submission"))
    app.view_closed("startjobs_start")(listener("start closed"))
    app.view(re.compile(r"^startjobs_(approve|reject)$"))(listener("decision submission"))
    app.options("sj_job_pick")(listener("job options"))
    app.shortcut("sj_shortcut")(listener("shortcut"))
    if lean:
        assert matchers.install(app) == 10
    return app


def form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def click(action_id: str, block_id: str = "b") -> str:
    action = {"type": "button", "action_id": action_id, "block_id": block_id, "value": "v"}
    return form({"type": "block_actions", "team": TEAM, "user": USER, "actions": [action]})


def view(kind: str, callback_id: str) -> str:
    modal = {"id": "V1", "type": "modal", "callback_id": callback_id, "state": {"values": {}}}
    return form({"type": kind, "team": TEAM, "user": USER, "view": modal})


BODIES = [
    urlencode({"command": "/startjobs", "text": "", "team_id": "T1", "user_id": "U1"}),
    urlencode({"command": "/other", "text": "", "team_id": "T1", "user_id": "U1"}),
    click("sj_approve"),
    click("sj_reject"),
    click("sj_cancel"),
    click("sj_job_pick", "sj_pick"),
    click("sj_job_pick", "elsewhere"),
    click("sj_unknown"),
    view("view_submission", "startjobs_start"),
    view("view_closed", "startjobs_start"),
    view("view_submission", "startjobs_approve"),
    view("view_submission", "startjobs_reject"),
    view("view_submission", "startjobs_other"),
    form({"type": "block_suggestion", "team": TEAM, "user": USER, "action_id": "sj_job_pick"}),
    form({"type": "shortcut", "team": TEAM, "user": USER, "callback_id": "sj_shortcut"}),
    form({"type": "message_action", "team": TEAM, "user": USER, "callback_id": "sj_shortcut"}),
]


def request(body: str) -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )


async def test_each_request_reaches_the_listener_bolts_own_matching_picks() -> None:
    for body in BODIES:
        picked: dict[bool, list[str]] = {True: [], False: []}
        statuses = {}
        for lean in (False, True):
            response = await make_app(picked[lean], lean=lean).async_dispatch(request(body))
            statuses[lean] = response.status
        assert picked[True] == picked[False], body
        assert statuses[True] == statuses[False], body
    # The corpus reaches every listener but the closed one (Bolt's own matching ignores it
    # without notify_on_close): a matcher that said no to everything would fail above.
    reached: list[str] = []
    app = make_app(reached, lean=True)
    for body in BODIES:
        await app.async_dispatch(request(body))
    assert set(reached) >= {
        "command",
        "approve click",
        "reject or cancel click",
        "pick in block",
        "any other action",
        "start submission",
        "decision submission",
        "job options",
        "shortcut",
    }


async def test_matching_builds_no_listener_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    real = bolt_builtins.build_async_required_kwargs

    def counting(**kwargs: Any) -> dict[str, Any]:
        built.append(kwargs["this_func"])
        return real(**kwargs)

    monkeypatch.setattr(bolt_builtins, "build_async_required_kwargs", counting)
    body = view("view_submission", "startjobs_approve")  # the eighth listener registered
    ran: list[str] = []
    await make_app(ran, lean=False).async_dispatch(request(body))
    assert len(built) >= 7  # Bolt's way: a round of argument building per listener tried
    built.clear()
    await make_app(ran, lean=True).async_dispatch(request(body))
    assert built == []
    assert ran == ["decision submission", "decision submission"]

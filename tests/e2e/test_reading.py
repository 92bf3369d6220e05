"""What `/startjobs help | status | history` show, and to whom; what an unknown first word gets.

Each person sees only what they may: requests of projects they are a requester or approver of
(directly or through a user group), or of their channel where a project allows it, and only
their own projects in help.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.devkit.sim.slack_model import FakeEphemeral
from bot.slack.ui.ids import BlockId, CallbackId, When
from tests.e2e.harness import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    MALLORY,
    OTHER_CHANNEL,
    Harness,
)

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]
REASON = "CHG-77 payroll cut-over, do not share"


def _payroll_for_mallory(data: dict[str, Any]) -> None:
    """A project of its own for MALLORY, requested from any channel, approved by DAVE."""
    prod = data["projects"]["prod"]
    data["projects"]["payroll"] = {
        k: v for k, v in prod.items() if k not in ("channels", "requesters", "approvers")
    } | {"requesters": [MALLORY], "approvers": [DAVE]}


def _dev_visible_to_channel(data: dict[str, Any]) -> None:
    data["projects"]["dev"]["visible_to_channel"] = True


async def _ask(h: Harness, user: str, text: str, channel: str = CHANNEL) -> FakeEphemeral:
    """Run ``/startjobs text`` as ``user`` and return the private answer it got."""
    before = len(h.slack.ephemerals(user))
    resp = await h.d.slash(user, channel, text)
    assert resp.ok and not resp.late, resp
    await h.wait(lambda: len(h.slack.ephemerals(user)) > before)
    return h.slack.ephemerals(user)[-1]


def _shown(answer: FakeEphemeral) -> str:
    return f"{answer.text}\n{answer.blocks}"


async def _dev_request(h: Harness) -> str:
    """ALICE asks, in CHANNEL, to start ORDERS in dev (no approval needed)."""
    h.sim.seed_demo()
    _, msg = await h.request(ALICE, "dev", [ORDERS], reason=REASON)
    await h.wait(lambda: len(h.thread(msg)) >= 1)
    return h.request_id(msg)


async def test_status_and_history_show_a_request_only_to_its_projects_people(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, policy_edit=_payroll_for_mallory) as h:
        rid = await _dev_request(h)

        # Requester and approvers of dev see it, an approver even from another channel.
        assert REASON in _shown(await _ask(h, ALICE, f"status {rid}"))
        assert REASON in _shown(await _ask(h, BOB, f"status {rid}", OTHER_CHANNEL))
        assert REASON in _shown(await _ask(h, DAVE, f"status {rid}"))

        # People of other projects do not, wherever they ask from: MALLORY of payroll, and
        # CAROL, an approver of prod through a user group.
        for user in (MALLORY, CAROL):
            hidden = await _ask(h, user, f"status {rid}")
            assert REASON not in _shown(hidden)
            assert "batch-starting" not in _shown(hidden)
            assert f"No request `{rid}` that you can see." in hidden.text
            # The same answer as for a request that does not exist: ids cannot be probed.
            missing = await _ask(h, user, "status SJ-NOSUCH99")
            assert missing.text == hidden.text.replace(rid, "SJ-NOSUCH99")

        assert rid in _shown(await _ask(h, ALICE, "history"))
        for user in (MALLORY, CAROL):
            history = await _ask(h, user, "history")
            assert rid not in _shown(history)
            assert "No start requests in this channel that you can see." in _shown(history)


async def test_a_project_may_show_its_requests_to_their_channel(tmp_path: Path) -> None:
    async with Harness(tmp_path, policy_edit=_dev_visible_to_channel) as h:
        rid = await _dev_request(h)
        # MALLORY is in no project, but asks from the request's channel.
        assert REASON in _shown(await _ask(h, MALLORY, f"status {rid}"))
        assert rid in _shown(await _ask(h, MALLORY, "history"))
        elsewhere = await _ask(h, MALLORY, f"status {rid}", OTHER_CHANNEL)
        assert REASON not in _shown(elsewhere)
        assert f"No request `{rid}` that you can see." in elsewhere.text


async def test_help_lists_only_the_askers_own_projects(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        alice = _shown(await _ask(h, ALICE, "help"))
        assert "*dev* — requester" in alice and "*prod* — requester" in alice

        carol = _shown(await _ask(h, CAROL, "help"))  # a prod approver through a user group
        assert "*prod* — approver" in carol
        assert "*dev*" not in carol

        mallory = _shown(await _ask(h, MALLORY, "help"))
        assert "You are not in any project" in mallory
        assert "access policy" in mallory and MALLORY in mallory
        assert "Your projects" not in mallory
        assert "*prod*" not in mallory and "*dev*" not in mallory
        assert "/startjobs status" in mallory  # still the usage


async def test_an_approver_can_look_up_the_jobs_of_their_project(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        # CAROL approves prod (through a user group) and requests nowhere.
        answer = _shown(await _ask(h, CAROL, f"status {ORDERS} {CUSTOMERS}"))
        assert "mig-orders-prod" in answer and "mig-customers-prod" in answer
        assert "CONFIGURATION" in answer
        refused = await _ask(h, MALLORY, f"status {ORDERS}")
        assert "not a requester or approver of any project" in refused.text
        assert "mig-orders-prod" not in _shown(refused)


async def test_an_unknown_first_word_is_answered_instead_of_opening_a_form(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        typo = await _ask(h, ALICE, "histroy")
        assert "I did not understand `histroy`" in typo.text
        assert "Did you mean `history`?" in typo.text
        assert "`help`, `history`, `status REQUEST-ID`" in typo.text
        assert "Projects you can request in here: *dev*, *prod*" in typo.text

        project_typo = await _ask(h, ALICE, f"prdo {ORDERS}")
        assert "Did you mean `prod`?" in project_typo.text

        # Someone in no project gets the same answer whether the project exists or not.
        exists = await _ask(h, MALLORY, "prod")
        nothing = await _ask(h, MALLORY, "nosuch")
        assert exists.text == nothing.text.replace("`nosuch`", "`prod`")
        assert "You are not in any project" in exists.text

        # Someone who may use the project, but not from this channel, is told where.
        away = await _ask(h, ALICE, "prod", OTHER_CHANNEL)
        assert f"You can request in `prod` only in <#{CHANNEL}>, not here." in away.text

        assert not [v for v in h.slack.views() if v.user in (ALICE, MALLORY)]
        # A project the user may use still opens the form.
        assert await h.open_modal(ALICE, f"prod {ORDERS}")


async def test_a_past_start_time_is_kept_on_the_form_and_refused_in_the_users_timezone(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        view_id = await h.open_modal(ALICE, f"prod {ORDERS} at 2020-01-01 10:00")
        view = h.slack.view(view_id)
        assert view is not None and view.view["callback_id"] == CallbackId.START.value
        by_block = {b.get("block_id"): b for b in view.view["blocks"]}
        # ALICE's timezone is Asia/Shanghai: 10:00 there is 02:00 UTC.
        past = int(datetime(2020, 1, 1, 2, 0, tzinfo=UTC).timestamp())
        assert by_block[BlockId.WHEN.value]["element"]["initial_option"]["value"] == When.AT.value
        start_at = by_block[BlockId.START_AT.value]
        assert start_at["element"]["initial_date_time"] == past
        assert "is in the past" in start_at["hint"]["text"]

        resp = await h.submit_start(ALICE, view_id, project="prod", job_ids=[ORDERS], start_at=past)
        assert resp.json is not None and resp.json["response_action"] == "errors", resp
        error = resp.json["errors"][BlockId.START_AT.value]
        assert error.startswith("The start time 2020-01-01 10:00 Asia/Shanghai is in the past")
        assert "Asia/Shanghai)" in error and "UTC" not in error
        assert h.sim.start_calls_for(ORDERS) == 0

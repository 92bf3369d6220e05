"""Approvals that hold: races, self-approval, changed rights, reject, cancel, expiry, retry."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.request import AuditKind, RequestState
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.devkit.sim.slack_model import FakeMessage
from bot.service.model import Tuning
from bot.slack.ui.ids import ActionId, BlockId
from tests.e2e.harness import ALICE, BOB, CAROL, CHANNEL, GROUPS, MALLORY, Harness

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]
NO_GROUP_CACHE = {"group_cache_ttl": 0.0}


def _starts(h: Harness) -> int:
    return sum(1 for c in h.sim.calls if c.endpoint == "batch-starting")


def _has_buttons(msg: FakeMessage | None) -> bool:
    assert msg is not None
    return any(b.get("type") == "actions" for b in msg.blocks)


async def _click(h: Harness, user: str, action: ActionId, rid: str, msg: FakeMessage) -> str | None:
    """Click a button; return the id of the modal it opened for ``user``, or None when the
    bot answered with an ephemeral message (or did something else) instead."""
    views_before = {v.id for v in h.slack.views()}
    said_before = len(h.slack.ephemerals(user))
    calls_before = len(h.slack.calls)

    def opened() -> list[str]:
        return [v.id for v in h.slack.views() if v.user == user and v.id not in views_before]

    await h.d.click(user, action_id=action.value, value=rid, channel=CHANNEL, message_ts=msg.ts)
    if action in (ActionId.APPROVE, ActionId.REJECT):
        await h.wait(lambda: bool(opened()) or len(h.slack.ephemerals(user)) > said_before)
    else:
        await h.wait(lambda: len(h.slack.calls) > calls_before)
    await h.settle()
    found = opened()
    return found[-1] if found else None


async def test_fifty_concurrent_approvals_start_once(tmp_path: Path) -> None:
    approvers = [BOB, CAROL] + [f"U5APPR{n:04d}" for n in range(48)]
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        h.slack.set_usergroup("S0DBALEADS", approvers)
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS])
        rid = h.request_id(msg)
        views = await asyncio.gather(*(_click(h, u, ActionId.APPROVE, rid, msg) for u in approvers))
        assert all(views), "every approver gets the approval modal"
        answers = await asyncio.gather(
            *(
                h.d.submit_view(u, v, {BlockId.COMMENT.value: {ActionId.COMMENT.value: f"ok {u}"}})
                for u, v in zip(approvers, views, strict=True)
                if v is not None
            )
        )
        assert all(a.ok and not a.late for a in answers)
        losers = [a for a in answers if a.json and a.json.get("response_action") == "update"]
        winners = [a for a in answers if not a.json]
        assert len(winners) == 1
        assert len(losers) == 49
        assert all("already approved by" in str(a.json) for a in losers)
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        await h.settle()
        assert _starts(h) == 1
        assert h.sim.start_calls_for(ORDERS) == 1
        assert h.sim.start_calls_for(CUSTOMERS) == 1
        approvals = [e for e in h.db.events(rid) if e.kind is AuditKind.APPROVED]
        assert len(approvals) == 1
        final = h.slack.message(CHANNEL, msg.ts)
        assert final is not None and not _has_buttons(final)
        shown = {u for u in approvers if f"<@{u}>" in str(final.blocks)}
        assert shown == {approvals[0].actor}


async def test_requester_cannot_approve_own_request_even_in_approver_group(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, settings_changes=NO_GROUP_CACHE) as h:
        h.sim.seed_demo()
        h.slack.set_usergroup("S0DBALEADS", [*GROUPS["S0DBALEADS"], ALICE])
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        assert await _click(h, ALICE, ActionId.APPROVE, rid, msg) is None
        refusal = h.slack.ephemerals(ALICE)[-1].text
        assert "approve" in refusal.lower()
        # Even a submission crafted without the button is refused.
        reply = await h.b.service.commands.approve(rid, ALICE, None)
        assert not reply.ok
        assert _starts(h) == 0
        req = h.db.get(rid)
        assert req is not None and req.state is RequestState.PENDING


async def test_approver_removed_from_group_is_refused(tmp_path: Path) -> None:
    async with Harness(tmp_path, settings_changes=NO_GROUP_CACHE) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        view_id = await _click(h, CAROL, ActionId.APPROVE, rid, msg)
        assert view_id is not None
        h.slack.set_usergroup("S0DBALEADS", [BOB])  # Carol leaves the group meanwhile
        answer = await h.d.submit_view(CAROL, view_id, {})
        assert answer.json is not None and answer.json["response_action"] == "update"
        assert "approver" in str(answer.json["view"]).lower()
        assert await _click(h, CAROL, ActionId.APPROVE, rid, msg) is None
        assert _starts(h) == 0
        refused = [e for e in h.db.events(rid) if e.kind is AuditKind.REFUSED]
        assert refused and refused[0].actor == CAROL


async def test_reject_and_cancel_end_the_request_with_nothing_sent(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, first = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(first)
        view_id = await _click(h, BOB, ActionId.REJECT, rid, first)
        assert view_id is not None
        empty = await h.d.submit_view(BOB, view_id, {})
        assert empty.json is not None and BlockId.COMMENT.value in empty.json["errors"]
        await h.d.submit_view(
            BOB, view_id, {BlockId.COMMENT.value: {ActionId.COMMENT.value: "not tonight"}}
        )
        await h.settle()
        req = h.db.get(rid)
        assert req is not None and req.state is RequestState.REJECTED
        shown = h.slack.message(CHANNEL, first.ts)
        assert not _has_buttons(shown)
        assert "not tonight" in str(shown.blocks if shown else "")

        _, second = await h.request(ALICE, "prod", [CUSTOMERS])
        rid2 = h.request_id(second)
        await _click(h, MALLORY, ActionId.CANCEL, rid2, second)
        refusal = h.slack.ephemerals(MALLORY)[-1].text
        assert f"<@{ALICE}>" in refusal, "the bot's own mentions render as mentions"
        assert "&lt;" not in refusal
        req2 = h.db.get(rid2)
        assert req2 is not None and req2.state is RequestState.PENDING
        await _click(h, ALICE, ActionId.CANCEL, rid2, second)
        req2 = h.db.get(rid2)
        assert req2 is not None and req2.state is RequestState.CANCELLED
        assert not _has_buttons(h.slack.message(CHANNEL, second.ts))
        # An approval arriving after the fact (a stale client) is answered, not acted on.
        late = await h.b.service.commands.approve(rid2, BOB, None)
        assert not late.ok
        assert "already cancelled" in late.text
        assert _starts(h) == 0


async def test_expired_request_cannot_be_approved(tmp_path: Path) -> None:
    tuning = Tuning(expire_seconds=0.6, followup_interval=0.2, recovery_grace=0.3)
    async with Harness(tmp_path, tuning=tuning) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        view_id = await _click(h, BOB, ActionId.APPROVE, rid, msg)
        assert view_id is not None
        await asyncio.sleep(0.8)
        answer = await h.d.submit_view(BOB, view_id, {})
        assert answer.json is not None and "expired" in str(answer.json["view"])
        await h.wait(lambda: not _has_buttons(h.slack.message(CHANNEL, msg.ts)))
        req = h.db.get(rid)
        assert req is not None and req.state is RequestState.EXPIRED
        assert "expired" in str(h.slack.message(CHANNEL, msg.ts)).lower()
        assert _starts(h) == 0


async def test_lost_answer_confirmed_not_started_can_be_retried(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        h.sim.set_fault("batch-starting", "status_500", count=1, processed=False)
        view_id = await _click(h, BOB, ActionId.APPROVE, rid, msg)
        assert view_id is not None
        await h.d.submit_view(BOB, view_id, {})
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        outcome = h.thread(msg)[0]
        assert "unknown" in outcome.text
        # The follow-up sees the job still in CONFIGURATION: a retry is offered.
        await h.wait(lambda: ActionId.RETRY.value in str(h.thread(msg)[0].blocks))
        assert h.sim.job(ORDERS).status == "CONFIGURATION"
        await _click(h, MALLORY, ActionId.RETRY, rid, h.thread(msg)[0])
        assert h.sim.start_calls_for(ORDERS) == 1
        await _click(h, BOB, ActionId.RETRY, rid, h.thread(msg)[0])
        await h.wait(lambda: len(h.thread(msg)) >= 2)
        await h.settle()
        assert h.sim.start_calls_for(ORDERS) == 2
        assert h.sim.job(ORDERS).status in {"STARTJOBING", "FULL_TRANSFER_STARTED"}
        kinds = [e.kind for e in h.db.events(rid)]
        assert AuditKind.RETRY in kinds


async def test_history_and_status_show_the_audit_trail(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "dev", [ORDERS])
        rid = h.request_id(msg)
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        await h.d.slash(ALICE, CHANNEL, "history")
        await h.wait(lambda: rid in str(h.slack.ephemerals(ALICE)))
        await h.d.slash(ALICE, CHANNEL, f"status {rid}")
        await h.wait(lambda: "batch-starting" in str(h.slack.ephemerals(ALICE)[-1].blocks))
        status = str(h.slack.ephemerals(ALICE)[-1].blocks)
        assert "requested" in status.lower()
        drs_call = next(c for c in h.sim.calls if c.endpoint == "batch-starting")
        assert drs_call.request_id in status
        await h.d.slash(ALICE, CHANNEL, f"status {ORDERS} {CUSTOMERS}")
        await h.wait(lambda: "mig-customers-prod" in str(h.slack.ephemerals(ALICE)[-1].blocks))
        job_status = str(h.slack.ephemerals(ALICE)[-1].blocks)
        assert "CONFIGURATION" in job_status  # customers was never started
        assert h.sim.job(ORDERS).status in job_status
        await h.d.slash(MALLORY, CHANNEL, f"status {rid}")
        await h.wait(lambda: bool(h.slack.ephemerals(MALLORY)))
        hidden = h.slack.ephemerals(MALLORY)[-1]
        assert f"No request `{rid}` that you can see." in hidden.text
        assert "CHG-42" not in str(hidden) and "batch-starting" not in str(hidden)


async def test_approving_outside_a_freeze_asks_slack_nothing_before_the_answer(
    tmp_path: Path,
) -> None:
    """The approver's timezone is only needed to word a change freeze: outside one, the
    approve form's submission is answered without a users.info call (one costs a Slack
    round trip before the answer)."""
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        view_id = await _click(h, BOB, ActionId.APPROVE, rid, msg)
        assert view_id is not None
        asked_before = len(h.slack.calls_to("users.info"))
        answer = await h.d.submit_view(
            BOB, view_id, {BlockId.COMMENT.value: {ActionId.COMMENT.value: "go"}}
        )
        assert answer.ok and answer.json is None, answer
        asked = h.slack.calls_to("users.info")[asked_before:]
        assert [c.args.get("user") for c in asked] == []
        await h.wait(lambda: _starts(h) == 1)

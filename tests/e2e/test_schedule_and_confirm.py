"""Nothing starts unseen or out of time.

* A request scheduled for a time that passed before its approval: the approve form says so and
  approves only when the approver ticks "Start now instead" (recorded, and said in the thread);
  a start whose time passed between approval and sending is not sent at all.
* In a project without approval, a list resolved from a name pattern starts only once its
  requester has seen it and pressed Start.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.core.request import AuditKind, RequestState
from bot.core.status import SCHEDULE_PASSED_CODE
from bot.service.model import Tuning
from bot.slack.ui.decisions import START_NOW_VALUE
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When
from bot.store import Verdict
from tests.e2e.harness import ALICE, BOB, CHANNEL, Harness
from tests.e2e.process import open_view, outcome_replies


class Clock:
    """Real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _harness(tmp_path: Path, clock: Clock | None = None) -> Harness:
    return Harness(
        tmp_path,
        clock=clock,
        tuning=Tuning(followup_interval=0.2, followup_max=10.0, recovery_grace=0.5),
    )


def _starts(h: Harness) -> list[object]:
    return [c for c in h.sim.calls if c.endpoint == "batch-starting"]


async def _open_approve(h: Harness, rid: str, ts: str) -> str:
    clicked = await h.d.click(
        BOB, action_id=ActionId.APPROVE.value, value=rid, channel=CHANNEL, message_ts=ts
    )
    assert clicked.ok
    await h.wait(lambda: open_view(h, BOB, CallbackId.APPROVE) is not None)
    view_id = open_view(h, BOB, CallbackId.APPROVE)
    assert view_id is not None
    return view_id


async def test_a_passed_schedule_needs_an_explicit_start_now(tmp_path: Path) -> None:
    clock = Clock()
    async with _harness(tmp_path, clock) as h:
        job = h.sim.add_job(name="mig-late-approval")
        start_at = int(time.time()) + 600
        _, message = await h.request(ALICE, "prod", [job], start_at=start_at)
        rid = h.request_id(message)
        clock.offset = 900  # the approver comes after the scheduled time
        view_id = await _open_approve(h, rid, message.ts)
        form = h.slack.view(view_id)
        assert form is not None and BlockId.START_NOW.value in json.dumps(form.view)
        # Approving without the tick is refused, in the form, and changes nothing.
        comment = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "late, sorry"}}
        resp = await h.d.submit_view(BOB, view_id, comment)
        assert resp.json is not None and resp.json["response_action"] == "errors"
        assert "has passed" in resp.json["errors"][BlockId.START_NOW.value]
        assert h.db.get(rid).state is RequestState.PENDING  # type: ignore[union-attr]
        assert _starts(h) == []
        # With the tick it starts now, without the past time, on the record.
        ticked = {
            **comment,
            BlockId.START_NOW.value: {ActionId.START_NOW.value: [START_NOW_VALUE]},
        }
        resp = await h.d.submit_view(BOB, view_id, ticked)
        assert resp.ok and resp.json is None, resp
        await h.wait(lambda: len(_starts(h)) == 1)
        # Sent without the old time: DRS starts it now rather than waiting for that time.
        await h.wait(lambda: h.sim.job(job).status in ("STARTJOBING", "FULL_TRANSFER_STARTED"))
        req = h.db.get(rid)
        assert req is not None and req.start_time_ms is None
        approved = next(e for e in h.db.events(rid) if e.kind is AuditKind.APPROVED)
        assert approved.detail["start_now_instead"] is True
        assert approved.detail["scheduled_for_ms"] == start_at * 1000
        await h.wait(lambda: any("start it now instead" in m.text for m in h.thread(message)))


async def test_an_approval_form_opened_in_time_and_sent_late_is_updated(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with _harness(tmp_path, clock) as h:
        job = h.sim.add_job(name="mig-slow-approver")
        _, message = await h.request(ALICE, "prod", [job], start_at=int(time.time()) + 600)
        rid = h.request_id(message)
        view_id = await _open_approve(h, rid, message.ts)
        form = h.slack.view(view_id)
        assert form is not None and BlockId.START_NOW.value not in json.dumps(form.view)
        clock.offset = 900
        resp = await h.d.submit_view(BOB, view_id, {})
        # The form turns into one that says why and offers the choice.
        assert resp.json is not None and resp.json["response_action"] == "update"
        assert BlockId.START_NOW.value in json.dumps(resp.json["view"])
        assert "has passed" in json.dumps(resp.json["view"])
        assert _starts(h) == []


async def test_a_start_whose_time_passed_before_sending_is_not_sent(tmp_path: Path) -> None:
    clock = Clock()
    async with _harness(tmp_path, clock) as h:
        jobs = [h.sim.add_job(name=f"mig-not-sent-{i}") for i in range(2)]
        _, message = await h.request(ALICE, "prod", jobs, start_at=int(time.time()) + 600)
        rid = h.request_id(message)
        # Approved in time (the start is claimed) but sent only after its time: as after a
        # crash between the approval and the send.
        decided = await h.b.store.decide(
            Verdict(rid, target=RequestState.APPROVED, actor=BOB, now=clock())
        )
        assert decided.won
        clock.offset = 900
        # Sent by this call or by maintenance resuming the claimed start, whichever claims
        # the send first: the same path either way.
        await h.b.service.steps.run_start(rid, 1)
        await h.wait(lambda: h.db.get(rid).state is RequestState.FAILED)  # type: ignore[union-attr]
        assert _starts(h) == []  # DRS never got a time in the past
        req = h.db.get(rid)
        assert req is not None and req.state is RequestState.FAILED
        assert {j.error_code for j in req.jobs} == {SCHEDULE_PASSED_CODE}
        await h.wait(lambda: len(outcome_replies(h, message)) == 1)
        (outcome,) = outcome_replies(h, message)
        assert "passed" in json.dumps(outcome.blocks) and "Retry" not in json.dumps(outcome.blocks)


async def test_a_pattern_in_a_project_without_approval_waits_for_its_requester(
    tmp_path: Path,
) -> None:
    async with _harness(tmp_path) as h:
        jobs = [h.sim.add_job(name=f"mig-dev-{i}") for i in range(3)]
        h.sim.add_job(name="other-dev-0")
        view_id = await h.open_modal(ALICE)
        resp = await h.d.submit_view(
            ALICE,
            view_id,
            {
                BlockId.PROJECT.value: {ActionId.PROJECT.value: "dev"},
                BlockId.NAME_PATTERN.value: {ActionId.NAME_PATTERN.value: "mig-dev-*"},
                BlockId.WHEN.value: {ActionId.WHEN.value: When.NOW.value},
                BlockId.REASON.value: {ActionId.REASON.value: "CHG-7"},
            },
        )
        assert resp.ok and resp.json is None, resp
        await h.wait(lambda: len(h.slack.messages(CHANNEL)) == 1)
        message = h.slack.messages(CHANNEL)[0]
        rid = h.request_id(message)
        shown = json.dumps(message.blocks)
        # The resolved list is shown (count and names) with a Start button for the requester.
        assert ActionId.CONFIRM.value in shown and "Start 3 jobs" in shown
        assert all(f"mig-dev-{i}" in shown for i in range(3)) and "other-dev-0" not in shown
        await h.settle()
        assert _starts(h) == [] and h.db.get(rid).state is RequestState.PENDING  # type: ignore[union-attr]
        # Only the requester can press it.
        refused = await h.d.click(
            BOB, action_id=ActionId.CONFIRM.value, value=rid, channel=CHANNEL, message_ts=message.ts
        )
        assert refused.ok
        await h.wait(lambda: bool(h.slack.ephemerals(BOB)))
        assert _starts(h) == []
        pressed = await h.d.click(
            ALICE,
            action_id=ActionId.CONFIRM.value,
            value=rid,
            channel=CHANNEL,
            message_ts=message.ts,
        )
        assert pressed.ok
        await h.wait(lambda: len(_starts(h)) == 1)
        # The outcome is posted in the thread (beside the CSV of the matched jobs).
        await h.wait(lambda: getattr(h.db.start(rid, 1), "state", None) == "posted")
        assert sorted(h.sim.calls[-1].job_ids) == sorted(jobs) or any(
            sorted(c.job_ids) == sorted(jobs) for c in _starts(h)
        )
        approved = next(e for e in h.db.events(rid) if e.kind is AuditKind.APPROVED)
        assert approved.actor == ALICE and "after seeing the 3 jobs" in str(approved.detail)


async def test_a_job_already_in_an_open_request_is_warned_about(tmp_path: Path) -> None:
    async with _harness(tmp_path) as h:
        shared = h.sim.add_job(name="mig-shared")
        alone = h.sim.add_job(name="mig-alone")
        _, first = await h.request(ALICE, "prod", [shared])
        first_id = h.request_id(first)
        assert "Also in another open request" not in json.dumps(first.blocks)
        _, second = await h.request(ALICE, "prod", [shared, alone])
        warned = json.dumps(second.blocks)
        assert "Also in another open request" in warned and first_id in warned
        assert "1 job in" in warned

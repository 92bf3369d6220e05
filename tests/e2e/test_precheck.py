"""DRS's precheck before a start, end to end: shown on the request, required for approval
under ``require``, run from the message, read again right before sending; ``warn`` lets
approval go ahead with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core.model import Outcome
from bot.core.precheck import HELD_CODE
from bot.core.request import AuditKind, RequestState
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.devkit.sim.slack_model import FakeMessage
from bot.slack.ui.ids import ActionId, BlockId
from tests.e2e.harness import ALICE, BOB, CHANNEL, Harness

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]
SCHEMA_ITEM = ("Destination database tables are empty", "FAILED", "table orders has 12 rows")
ALARM_ITEM = ("Source database binlog retention", "ALARM", "binlog kept 1 day, 3 advised")


def _text(h: Harness, msg: FakeMessage) -> str:
    now = h.slack.message(CHANNEL, msg.ts)
    assert now is not None
    return json.dumps(now.blocks, ensure_ascii=False)


def _buttons(h: Harness, msg: FakeMessage) -> list[str]:
    now = h.slack.message(CHANNEL, msg.ts)
    assert now is not None
    return [
        str(el.get("action_id"))
        for b in now.blocks
        if b.get("type") == "actions"
        for el in b.get("elements", [])
    ]


async def _approve(h: Harness, rid: str, msg: FakeMessage, user: str = BOB) -> str | None:
    """Click Approve and submit the form; None when the click was refused (the refusal is the
    user's latest ephemeral)."""
    views = {v.id for v in h.slack.views()}
    said = len(h.slack.ephemerals(user))
    await h.d.click(
        user, action_id=ActionId.APPROVE.value, value=rid, channel=CHANNEL, message_ts=msg.ts
    )
    await h.wait(
        lambda: (
            len(h.slack.ephemerals(user)) > said
            or any(v.user == user and v.id not in views for v in h.slack.views())
        )
    )
    opened = [v.id for v in h.slack.views() if v.user == user and v.id not in views]
    if not opened:
        return None
    return opened[-1]


async def _submit(h: Harness, user: str, view: str) -> Any:
    return await h.d.submit_view(
        user, view, {BlockId.COMMENT.value: {ActionId.COMMENT.value: "ok"}}
    )


async def test_never_prechecked_job_blocks_approval_until_run_precheck_passes(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        h.sim.prechecks.set(ORDERS, state="never", takes=0.5)
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS])
        rid = h.request_id(msg)
        shown = _text(h, msg)
        assert "DRS precheck" in shown and "1 passed" in shown and "1 never run" in shown
        assert ActionId.RUN_PRECHECK.value in _buttons(h, msg)

        assert await _approve(h, rid, msg) is None
        refusal = h.slack.ephemerals(BOB)[-1].text
        assert "precheck" in refusal and ORDERS in refusal and "Run precheck" in refusal
        assert h.db.get(rid).state is RequestState.PENDING
        refused = [e for e in h.db.events(rid) if e.kind is AuditKind.REFUSED]
        assert refused and refused[-1].detail.get("precheck") == "not passed"

        # The requester runs it from the message; DRS takes a while, the message follows.
        await h.d.click(
            ALICE,
            action_id=ActionId.RUN_PRECHECK.value,
            value=rid,
            channel=CHANNEL,
            message_ts=msg.ts,
        )
        await h.wait(lambda: "1 running" in _text(h, msg), timeout=10)
        runs = [c for c in h.sim.calls if c.endpoint == "batch-precheck"]
        assert [c.job_ids for c in runs] == [(ORDERS,)]  # only the job that needed it
        await h.wait(lambda: "2 passed" in _text(h, msg), timeout=15)
        assert ActionId.RUN_PRECHECK.value not in _buttons(h, msg)
        assert any(e.kind is AuditKind.PRECHECK and e.actor == ALICE for e in h.db.events(rid))

        view = await _approve(h, rid, msg)
        assert view is not None
        assert (await _submit(h, BOB, view)).ok
        await h.wait(lambda: h.db.get(rid).state is RequestState.DONE, timeout=10)
        assert h.sim.start_calls_for(ORDERS) == 1


async def test_failed_precheck_shows_its_failed_items(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        h.sim.prechecks.set(ORDERS, state="failed", items=[SCHEMA_ITEM, ALARM_ITEM])
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS])
        shown = _text(h, msg)
        assert "1 failed" in shown
        assert "Destination database tables are empty" in shown and "FAILED" in shown
        assert "Source database binlog retention" in shown and "ALARM" in shown
        assert "60%" in shown  # DRS's passed rate: 3 of 5 items
        stored = h.db.prechecks(h.request_id(msg))
        assert [i.item for i in stored[ORDERS].failed_items] == [SCHEMA_ITEM[0], ALARM_ITEM[0]]
        assert stored[CUSTOMERS].passed


async def test_precheck_turned_stale_after_approval_stops_that_job_and_says_why(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS])
        rid = h.request_id(msg)
        view = await _approve(h, rid, msg)
        assert view is not None
        # Between the approver's look and the send, someone edits the task: its precheck fails.
        h.sim.prechecks.set(ORDERS, state="failed", items=[SCHEMA_ITEM])
        assert (await _submit(h, BOB, view)).ok
        await h.wait(lambda: len(h.thread(msg)) >= 1, timeout=10)
        await h.settle()
        assert h.sim.start_calls_for(ORDERS) == 0  # never sent
        assert h.sim.start_calls_for(CUSTOMERS) == 1
        jobs = {j.job_id: j for j in h.db.get(rid).jobs}
        assert jobs[ORDERS].outcome is Outcome.FAILED
        assert jobs[ORDERS].error_code == HELD_CODE
        assert "precheck failed" in (jobs[ORDERS].error_msg or "")
        assert SCHEMA_ITEM[0] in (jobs[ORDERS].error_msg or "")
        assert jobs[CUSTOMERS].outcome is Outcome.SUCCESS
        thread = json.dumps([m.blocks for m in h.thread(msg)], ensure_ascii=False)
        assert "precheck failed" in thread


async def test_warn_lets_approval_proceed_with_the_warning(tmp_path: Path) -> None:
    def warn(data: dict[str, Any]) -> None:
        data["projects"]["prod"]["precheck"] = "warn"

    async with Harness(tmp_path, policy_edit=warn) as h:
        h.sim.seed_demo()
        h.sim.prechecks.set(ORDERS, state="never")
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS])
        rid = h.request_id(msg)
        shown = _text(h, msg)
        assert "1 never run" in shown and "only warns" in shown
        view = await _approve(h, rid, msg)
        assert view is not None
        assert (await _submit(h, BOB, view)).ok
        await h.wait(lambda: len(h.thread(msg)) >= 1, timeout=10)
        await h.settle()
        # Sent as approved; DRS itself refuses the job whose precheck has not passed.
        assert h.sim.start_calls_for(ORDERS) == 1
        jobs = {j.job_id: j for j in h.db.get(rid).jobs}
        assert jobs[ORDERS].outcome is Outcome.FAILED
        assert jobs[ORDERS].error_code == "DRS.M00304"
        assert "预检查" in (jobs[ORDERS].error_msg or "")  # in the requester's language
        assert jobs[CUSTOMERS].outcome is Outcome.SUCCESS

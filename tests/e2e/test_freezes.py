"""Change-freeze windows, end to end: refused at submit (now, or scheduled into a window), a
glass broken by a listed approver on the record and in the thread (never by the requester), a
window that opened between the approval and the send, and ``/startjobs freezes``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.request import AuditKind, RequestState
from bot.core.status import FREEZE_CODE
from bot.service import freezes
from bot.slack.ui.freeze import OVERRIDE_VALUE
from bot.slack.ui.ids import ActionId, BlockId, CallbackId
from bot.store import Verdict
from tests.e2e.harness import ALICE, BOB, CHANNEL, DAVE, Harness
from tests.e2e.process import open_view


class Clock:
    """Real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _cron_at(t: float) -> str:
    """A daily UTC schedule opening at ``t``'s minute."""
    at = datetime.fromtimestamp(t, UTC)
    return f"{at.minute} {at.hour} * * *"


def _freeze(**window: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["freeze"] = [
            {"name": "release", "duration": "1h", "reason": "CHG-7 release", **window}
        ]

    return edit


def _starts(h: Harness) -> list[object]:
    return [c for c in h.sim.calls if c.endpoint == "batch-starting"]


async def _ask(h: Harness, user: str, text: str) -> str:
    """Run ``/startjobs text`` as ``user``; the private answer's text and blocks."""
    before = len(h.slack.ephemerals(user))
    resp = await h.d.slash(user, CHANNEL, text)
    assert resp.ok, resp
    await h.wait(lambda: len(h.slack.ephemerals(user)) > before)
    answer = h.slack.ephemerals(user)[-1]
    return f"{answer.text}\n{json.dumps(answer.blocks, ensure_ascii=False)}"


async def test_a_request_inside_a_deny_window_is_refused_at_submit(tmp_path: Path) -> None:
    edit = _freeze(schedule="* * * * *", projects=["prod"])  # open all the time, no override
    async with Harness(tmp_path, policy_edit=edit) as h:
        job = h.sim.add_job(name="mig-frozen")
        view_id = await h.open_modal(ALICE)
        resp = await h.submit_start(ALICE, view_id, project="prod", job_ids=[job])
        assert resp.json is not None and resp.json["response_action"] == "errors"
        said = resp.json["errors"][BlockId.WHEN.value]
        assert "change freeze “release” (CHG-7 release), at least until" in said
        assert "Asia/Shanghai" in said  # Alice's own timezone
        assert "Nobody may override it" in said
        assert h.slack.messages(CHANNEL) == [] and h.db.recent(CHANNEL) == []
        # Another project is not frozen.
        view_id = await h.open_modal(ALICE)
        resp = await h.submit_start(ALICE, view_id, project="dev", job_ids=[job])
        assert resp.ok and resp.json is None


async def test_a_start_scheduled_into_a_window_is_refused(tmp_path: Path) -> None:
    opens = (int(time.time()) // 3600 + 3) * 3600  # a whole hour, 2-3 hours from now
    edit = _freeze(schedule=_cron_at(opens), projects=["prod*"])
    async with Harness(tmp_path, policy_edit=edit) as h:
        job = h.sim.add_job(name="mig-scheduled-into-freeze")
        view_id = await h.open_modal(ALICE)
        resp = await h.submit_start(
            ALICE, view_id, project="prod", job_ids=[job], start_at=opens + 600
        )
        assert resp.json is not None and resp.json["response_action"] == "errors"
        until = datetime.fromtimestamp(opens + 3600, UTC).astimezone()
        said = resp.json["errors"][BlockId.WHEN.value]
        assert "Not started at" in said and "change freeze “release”" in said
        assert until.strftime("%M") in said
        # Now (outside the window) is fine.
        _, message = await h.request(ALICE, "prod", [job])
        assert h.request_id(message)


async def test_a_listed_approver_breaks_the_glass_on_the_record(tmp_path: Path) -> None:
    edit = _freeze(schedule="* * * * *", projects=["prod"], override=["S0DBALEADS"])
    async with Harness(tmp_path, policy_edit=edit) as h:
        job = h.sim.add_job(name="mig-glass")
        _, message = await h.request(ALICE, "prod", [job])  # made: someone may override
        rid = h.request_id(message)
        clicked = await h.d.click(
            BOB, action_id=ActionId.APPROVE.value, value=rid, channel=CHANNEL, message_ts=message.ts
        )
        assert clicked.ok
        await h.wait(lambda: open_view(h, BOB, CallbackId.APPROVE) is not None)
        view_id = open_view(h, BOB, CallbackId.APPROVE)
        assert view_id is not None
        form = h.slack.view(view_id)
        assert form is not None and BlockId.FREEZE_OVERRIDE.value in json.dumps(form.view)
        # Approving without the choice is refused, in the form; nothing starts.
        resp = await h.d.submit_view(BOB, view_id, {})
        assert resp.json is not None and resp.json["response_action"] == "errors"
        assert "Override freeze" in resp.json["errors"][BlockId.FREEZE_OVERRIDE.value]
        # The choice without a reason is refused too.
        ticked = {BlockId.FREEZE_OVERRIDE.value: {ActionId.FREEZE_OVERRIDE.value: [OVERRIDE_VALUE]}}
        resp = await h.d.submit_view(BOB, view_id, ticked)
        assert resp.json is not None and BlockId.OVERRIDE_REASON.value in resp.json["errors"]
        assert h.db.get(rid).state is RequestState.PENDING  # type: ignore[union-attr]
        assert _starts(h) == []
        why = {BlockId.OVERRIDE_REASON.value: {ActionId.OVERRIDE_REASON.value: "INC-99 data loss"}}
        resp = await h.d.submit_view(BOB, view_id, {**ticked, **why})
        assert resp.ok and resp.json is None, resp
        await h.wait(lambda: len(_starts(h)) == 1)
        (override,) = [e for e in h.db.events(rid) if e.kind is AuditKind.FREEZE_OVERRIDE]
        assert override.actor == BOB
        assert override.detail["windows"] == ["release"]
        assert override.detail["reason"] == "INC-99 data loss"
        await h.wait(lambda: any("broke the glass" in m.text for m in h.thread(message)))
        (note,) = [m for m in h.thread(message) if "broke the glass" in m.text]
        assert f"<@{BOB}>" in note.text and "“release”" in note.text and "INC-99" in note.text
        # The audit trail, as status shows it, says so.
        await h.settle()
        status = await _ask(h, BOB, f"status {rid}")
        assert "overrode change freeze release: INC-99 data loss" in status


async def test_the_requester_cannot_break_the_glass_of_their_own_request(tmp_path: Path) -> None:
    # Alice is listed, but the request is hers: in a project without approval her own
    # confirmation does not override, and the start is stopped before sending.
    edit = _freeze(schedule="* * * * *", projects=["dev"], override=[ALICE])
    async with Harness(tmp_path, policy_edit=edit) as h:
        job = h.sim.add_job(name="mig-own")
        _, message = await h.request(ALICE, "dev", [job])
        rid = h.request_id(message)
        await h.wait(lambda: h.db.get(rid).state is RequestState.FAILED)  # type: ignore[union-attr]
        req = h.db.get(rid)
        assert req is not None and req.jobs[0].error_code == FREEZE_CODE
        assert _starts(h) == []
        # Nor could she as an approver: the service says she may not override.
        frozen = await freezes.at_approval(h.b.service.ctx, req, ALICE, False, None)
        assert frozen is not None and not frozen.may_override
        other = await freezes.at_approval(h.b.service.ctx, req, DAVE, False, None)
        assert other is not None and not other.may_override  # not listed


async def test_a_window_that_opens_between_approval_and_send_stops_the_start(
    tmp_path: Path,
) -> None:
    clock = Clock()
    opens = time.time() + 1800
    edit = _freeze(schedule=_cron_at(opens), projects=["prod"])
    async with Harness(tmp_path, clock=clock, policy_edit=edit) as h:
        jobs = [h.sim.add_job(name=f"mig-late-freeze-{i}") for i in range(2)]
        _, message = await h.request(ALICE, "prod", jobs)
        rid = h.request_id(message)
        # Approved outside the window (the start is claimed), sent only once it has opened:
        # as after a crash between the approval and the send.
        decided = await h.b.store.decide(
            Verdict(rid, target=RequestState.APPROVED, actor=BOB, now=clock())
        )
        assert decided.won
        clock.offset = 1800 + 120
        # Sent by this call or by maintenance resuming the claimed start (it is now older than
        # the recovery grace), whichever claims the send first: the same path either way.
        await h.b.service.steps.run_start(rid, 1)
        await h.wait(lambda: h.db.get(rid).state is RequestState.FAILED)  # type: ignore[union-attr]
        assert _starts(h) == []
        req = h.db.get(rid)
        assert req is not None and req.state is RequestState.FAILED
        assert {j.error_code for j in req.jobs} == {FREEZE_CODE}
        assert all("change freeze “release”" in (j.error_msg or "") for j in req.jobs)
        await h.wait(
            lambda: any("change freeze" in f"{m.text}{m.blocks}" for m in h.thread(message))
        )


async def test_freezes_command_shows_the_askers_projects_only(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["freeze"] = [
            {
                "name": "prod-weekend",
                "schedule": "* * * * *",
                "duration": "1h",
                "projects": ["prod"],
            },
            {"name": "dev-nights", "schedule": "0 22 * * *", "duration": "8h", "projects": ["dev"]},
        ]

    async with Harness(tmp_path, policy_edit=edit) as h:
        shown = await _ask(h, DAVE, "freezes")  # Dave: dev, and prod through a group
        assert "prod-weekend" in shown and "open now" in shown
        assert "dev-nights" in shown and "next opens" in shown
        shown = await _ask(h, "U07NOBODY", "freezes")
        assert "prod-weekend" not in shown and "dev-nights" not in shown
        assert "in no project" in shown

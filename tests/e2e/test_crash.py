"""Crash recovery: the real bot process is killed with SIGKILL and started again.

Each failpoint (``STARTJOBS_FAILPOINT``) stops the process at one step of an approved start.
After a restart without it, on the same database, the request must be finished: every job
started exactly once at DRS, the outcome in the request's thread, matching what DRS shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.model import Outcome
from bot.core.request import AuditKind, RequestState, StartState
from bot.devkit.sim.drs_jobs import FULL_TRANSFER_STARTED, STARTJOBING
from bot.devkit.sim.slack_model import FakeMessage
from tests.e2e.harness import ALICE, BOB, CHANNEL, Harness
from tests.e2e.process import (
    ProcessHarness,
    approve,
    job_lines,
    mentions,
    outcome_replies,
    shown_started,
)

STARTED = {STARTJOBING, FULL_TRANSFER_STARTED}

# What the database and DRS show at each failpoint, before the restart:
# (the start's state, batch-starting calls per job, outcome replies in the thread).
AT_CRASH = {
    "after_approval": ("claimed", 0, 0),
    "after_send": ("sent", 1, 0),
    "after_record": ("recorded", 1, 0),
    "after_post": ("recorded", 1, 1),
}


async def _request(h: ProcessHarness, jobs: list[str]) -> tuple[str, FakeMessage]:
    """A two-person request from Alice, posted, with its message ts stored."""
    resp, message = await h.request(ALICE, "prod", jobs)
    assert resp.ok, resp
    rid = h.request_id(message)
    # Only once the ts is stored is the message known to the bot; a kill before that would
    # (rightly) have it posted again, which is not what these tests are about.
    await h.wait(lambda: h.request_row(rid)["message_ts"] == message.ts)
    return rid, message


def _finished(h: ProcessHarness, rid: str, message: FakeMessage) -> bool:
    """Nothing is left to do: outcome posted, follow-up over, request message up to date."""
    row = h.request_row(rid)
    return (
        h.start_states(rid) == ["posted"]
        and bool(row["followup_done"])
        and not row["message_stale"]
        and len(mentions(h, message)) >= 1
    )


def _assert_outcome_matches_drs(h: ProcessHarness, message: FakeMessage, jobs: list[str]) -> None:
    replies = outcome_replies(h, message)
    assert replies, "no outcome in the thread"
    for reply in replies:
        lines = job_lines(reply)
        assert set(jobs) <= set(lines), reply.blocks
        for job in jobs:
            # Every job here was startable and DRS accepted it: shown started, and it is.
            assert shown_started(lines[job]), lines[job]
            assert h.sim.job(job).status in STARTED, (job, h.sim.job(job).status)
        assert f"{len(jobs)} started" in reply.text, reply.text


@pytest.mark.parametrize("failpoint", list(AT_CRASH))
async def test_an_approved_start_survives_a_crash(failpoint: str, tmp_path: Path) -> None:
    async with ProcessHarness(tmp_path, failpoint=failpoint) as h:
        jobs = [h.sim.add_job(name=f"mig-crash-{i}") for i in range(3)]
        rid, message = await _request(h, jobs)

        answer = await approve(h, rid, message)
        if failpoint == "after_approval":
            # The process dies inside the submission, before it acknowledges it.
            assert answer is None
        else:
            # The start runs after the acknowledgement, but the kill may still beat the
            # answer's last bytes out of the socket (Bolt hands it over every 10 ms).
            assert answer is None or answer.ok, answer
        assert await h.p.wait_exit() == -9, h.p.log_tail()

        # The crash happened exactly where the failpoint says.
        state, calls, posted = AT_CRASH[failpoint]
        assert h.start_states(rid) == [state]
        assert [h.sim.start_calls_for(j) for j in jobs] == [calls] * len(jobs)
        assert len(outcome_replies(h, message)) == posted

        await h.stop_bot()
        h.failpoint = None
        await h.start_bot()
        await h.wait(lambda: _finished(h, rid, message), timeout=20)

        assert [h.sim.start_calls_for(j) for j in jobs] == [1] * len(jobs)
        row = h.request_row(rid)
        assert row["state"] == "done"
        assert row["outcome_ts"] in {r.ts for r in h.thread(message)}
        outcomes = len(outcome_replies(h, message))
        if failpoint == "after_post":
            # The crashed process posted the outcome but died before recording that it had;
            # the new one cannot tell a post that was made from one that was lost, and posting
            # twice is better than never. Twice, not more: the second is recorded.
            assert 1 <= outcomes <= 2
        else:
            assert outcomes == 1
        _assert_outcome_matches_drs(h, message, jobs)
        assert len(mentions(h, message)) == 1
        # The request message was updated in place: one message, no buttons left.
        assert h.channel_messages() == 1
        final = h.slack.message(CHANNEL, message.ts)
        assert final is not None
        assert not any(b.get("type") == "actions" for b in final.blocks)
        assert final.text.endswith("done"), final.text


async def test_a_pending_request_survives_a_restart(tmp_path: Path) -> None:
    async with ProcessHarness(tmp_path) as h:
        jobs = [h.sim.add_job(name=f"mig-pending-{i}") for i in range(2)]
        rid, message = await _request(h, jobs)
        assert await h.p.kill() == -9

        await h.stop_bot()
        await h.start_bot()
        assert h.request_row(rid)["state"] == "pending"
        shown = h.slack.message(CHANNEL, message.ts)
        assert shown is not None
        assert any(b.get("type") == "actions" for b in shown.blocks)
        assert [h.sim.start_calls_for(j) for j in jobs] == [0, 0]

        answer = await approve(h, rid, message)
        assert answer is not None and answer.ok, answer
        await h.wait(lambda: _finished(h, rid, message), timeout=20)

        assert [h.sim.start_calls_for(j) for j in jobs] == [1, 1]
        assert h.request_row(rid)["decided_by"] == BOB
        assert len(outcome_replies(h, message)) == 1
        _assert_outcome_matches_drs(h, message, jobs)
        # The restarted bot neither posted the request again nor lost its message.
        assert h.channel_messages() == 1
        assert h.p.returncode is None


async def test_recovery_leaves_live_work_alone(tmp_path: Path) -> None:
    # DRS answers more slowly than the recovery grace (0.5 s here). The maintenance loop of
    # the same, healthy process must not take its work over as if its process had died:
    # no second request message, and the outcome is DRS's answer, not a guess from
    # batch-status made while the answer was on its way.
    async with Harness(tmp_path) as h:
        jobs = [h.sim.add_job(name=f"mig-slow-{i}") for i in range(2)]
        h.sim.set_fault("batch-detail", "latency", seconds=1.2, count=1)
        h.sim.set_fault("batch-starting", "latency", seconds=1.2, count=1)
        resp, message = await h.request(ALICE, "prod", jobs)
        assert resp.ok, resp
        rid = h.request_id(message)
        answer = await approve(h, rid, message)
        assert answer is not None and answer.ok, answer
        await h.wait(lambda: _state(h, rid, 1) == StartState.POSTED)
        await h.b.service.tasks.drain()

        kinds = [e.kind for e in h.db.events(rid)]
        assert AuditKind.OUTCOME in kinds and AuditKind.RECOVERED not in kinds
        req = h.db.get(rid)
        assert req is not None and req.state is RequestState.DONE
        assert all(j.outcome is Outcome.SUCCESS for j in req.jobs)
        assert len(outcome_replies(h, message)) == 1
        assert len(h.slack.messages(CHANNEL)) == 1
        assert [h.sim.start_calls_for(j) for j in jobs] == [1, 1]


def _state(h: Harness, rid: str, attempt: int) -> StartState | None:
    start = h.db.start(rid, attempt)
    return start.state if start else None

"""The follow-up: after a start, the bot polls DRS and keeps the thread's outcome up to date.

The simulator's clock (and, where the bot must see time pass too, the bot's) is moved instead
of waited for: a start takes 60 simulated seconds (``STARTJOBING``), a scheduled start five
simulated minutes (``WAITING_FOR_START``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.devkit.sim.drs import DrsSimulator
from bot.devkit.sim.drs_jobs import FULL_TRANSFER_STARTED, STARTJOBING, WAITING_FOR_START
from bot.devkit.sim.slack_model import FakeMessage
from bot.service.model import Tuning
from tests.e2e.harness import ALICE, CHANNEL, Harness
from tests.e2e.process import approve, job_lines, mentions, outcome_replies

START_DELAY = 60.0  # simulated seconds a job spends in STARTJOBING
LEAD = 300  # seconds ahead a scheduled start is set


class Clock:
    """The bot's clock: real time plus an offset the test moves with the simulator's."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _harness(tmp_path: Path) -> tuple[Harness, Clock]:
    clock = Clock()
    h = Harness(
        tmp_path,
        clock=clock,
        tuning=Tuning(followup_interval=0.2, followup_max=60.0, recovery_grace=0.5),
    )
    h.sim = DrsSimulator(start_delay=START_DELAY, lockout_after=None)
    return h, clock


def _advance(h: Harness, clock: Clock, seconds: float) -> None:
    """Time passes for DRS and the bot alike."""
    h.sim.advance(seconds)
    clock.offset += seconds


async def _approved(h: Harness, jobs: list[str], **kw: int) -> tuple[str, FakeMessage]:
    resp, message = await h.request(ALICE, "prod", jobs, **kw)
    assert resp.ok, resp
    rid = h.request_id(message)
    answer = await approve(h, rid, message)
    assert answer is not None and answer.ok, answer
    await h.wait(lambda: len(h.thread(message)) >= 1)
    return rid, message


def _outcome(h: Harness, message: FakeMessage) -> FakeMessage:
    """The outcome reply as it looks now (there is exactly one)."""
    replies = outcome_replies(h, message)
    assert len(replies) == 1, [r.text for r in replies]
    return replies[0]


def _shows(h: Harness, message: FakeMessage, jobs: list[str], status: str) -> bool:
    lines = job_lines(_outcome(h, message))
    return all(f"`{status}`" in lines.get(j, "") for j in jobs)


def _updates_of(h: Harness, ts: str) -> list[str]:
    """The chat.update calls the bot made on the message ``ts``, as JSON text, in order."""
    return [json.dumps(c.args) for c in h.slack.calls_to("chat.update") if c.args.get("ts") == ts]


def _followup_done(h: Harness, rid: str) -> bool:
    req = h.db.get(rid)
    return req is not None and req.followup_done


async def test_outcome_is_updated_until_the_jobs_run(tmp_path: Path) -> None:
    h, _ = _harness(tmp_path)
    async with h:
        jobs = [h.sim.add_job(name=f"mig-follow-{i}") for i in range(2)]
        rid, message = await _approved(h, jobs)
        first = _outcome(h, message)
        # As posted (the follow-up may already have updated it): what batch-starting said.
        (posted,) = [
            json.dumps(c.args)
            for c in h.slack.calls_to("chat.postMessage")
            if c.args.get("thread_ts") == message.ts
        ]
        assert "start accepted" in posted and STARTJOBING not in posted

        await h.wait(lambda: _shows(h, message, jobs, STARTJOBING))
        # Still starting: the same message was updated, nobody was told it is over.
        assert len(h.thread(message)) == 1
        assert _outcome(h, message).ts == first.ts
        assert mentions(h, message) == []
        assert not _followup_done(h, rid)

        h.sim.advance(START_DELAY + 1)
        await h.wait(lambda: _followup_done(h, rid))

        outcome = _outcome(h, message)
        assert outcome.ts == first.ts
        assert _shows(h, message, jobs, FULL_TRANSFER_STARTED), outcome.blocks
        assert all(h.sim.job(j).status == FULL_TRANSFER_STARTED for j in jobs)
        assert "2 started" in outcome.text
        updates = _updates_of(h, first.ts)
        assert STARTJOBING in updates[0] and FULL_TRANSFER_STARTED in updates[-1]
        # Outcome plus one notice, which mentions the requester once and counts the jobs.
        assert len(h.thread(message)) == 2
        (notice,) = mentions(h, message)
        assert notice.text.count(f"<@{ALICE}>") == 1
        assert "2 jobs settled" in notice.text


async def test_a_scheduled_start_is_followed_until_it_runs(tmp_path: Path) -> None:
    h, clock = _harness(tmp_path)
    async with h:
        job = h.sim.add_job(name="mig-scheduled")
        start_at = int(clock()) + LEAD
        rid, message = await _approved(h, [job], start_at=start_at)
        req = h.db.get(rid)
        assert req is not None and req.start_time_ms == start_at * 1000

        # DRS waits for the time: that is settled, so the requester hears of it once, now.
        await h.wait(lambda: _shows(h, message, [job], WAITING_FOR_START))
        await h.wait(lambda: len(mentions(h, message)) == 1)
        assert h.sim.job(job).status == WAITING_FOR_START
        outcome = _outcome(h, message)
        assert "1 scheduled" in outcome.text
        assert not _followup_done(h, rid)  # it looks again when the time comes

        _advance(h, clock, LEAD + 1)
        await h.wait(lambda: _shows(h, message, [job], STARTJOBING))
        h.sim.advance(START_DELAY)
        await h.wait(lambda: _followup_done(h, rid))

        assert _shows(h, message, [job], FULL_TRANSFER_STARTED)
        assert h.sim.job(job).status == FULL_TRANSFER_STARTED
        assert _outcome(h, message).ts == outcome.ts
        statuses = [
            s
            for update in _updates_of(h, outcome.ts)
            for s in (WAITING_FOR_START, STARTJOBING, FULL_TRANSFER_STARTED)
            if f"`{s}`" in update
        ]
        assert statuses[0] == WAITING_FOR_START and statuses[-1] == FULL_TRANSFER_STARTED
        assert STARTJOBING in statuses
        assert len(h.thread(message)) == 2
        assert len(mentions(h, message)) == 1
        assert h.sim.start_calls_for(job) == 1


async def test_the_followup_survives_a_restart(tmp_path: Path) -> None:
    h, clock = _harness(tmp_path)
    async with h:
        jobs = [h.sim.add_job(name=f"mig-restart-{i}") for i in range(2)]
        rid, message = await _approved(h, jobs)
        await h.wait(lambda: _shows(h, message, jobs, STARTJOBING))
        outcome_ts = _outcome(h, message).ts

        await h.stop_bot()
        before = len(_updates_of(h, outcome_ts))
        # The restart takes long enough for a round the old process had claimed (a 5 s
        # lease) to be free again, and for the jobs to finish starting.
        _advance(h, clock, 6)
        h.sim.advance(START_DELAY)
        await h.start_bot()
        await h.wait(lambda: _followup_done(h, rid))

        assert len(_updates_of(h, outcome_ts)) > before  # the new process updated it
        assert _outcome(h, message).ts == outcome_ts
        assert _shows(h, message, jobs, FULL_TRANSFER_STARTED)
        assert len(h.thread(message)) == 2
        assert len(mentions(h, message)) == 1
        assert [h.sim.start_calls_for(j) for j in jobs] == [1, 1]
        assert len(h.slack.messages(CHANNEL)) == 1


async def test_a_lost_answer_is_settled_by_the_followup(tmp_path: Path) -> None:
    h, _ = _harness(tmp_path)
    async with h:
        jobs = [h.sim.add_job(name=f"mig-lost-{i}") for i in range(2)]
        # DRS starts the jobs but the answer is lost: the bot records them as unknown.
        h.sim.set_fault("batch-starting", "status_500", processed=True, count=1)
        rid, message = await _approved(h, jobs)
        (posted,) = [
            json.dumps(c.args)
            for c in h.slack.calls_to("chat.postMessage")
            if c.args.get("thread_ts") == message.ts
        ]
        assert "2 unknown" in posted
        await h.wait(lambda: _shows(h, message, jobs, STARTJOBING))

        h.sim.advance(START_DELAY + 1)
        await h.wait(lambda: _followup_done(h, rid))
        # batch-status showed them starting: now known to have started, everywhere.
        await h.wait(lambda: not h.db.stale_messages())
        req = h.db.get(rid)
        assert req is not None
        assert req.state.value == "done"
        assert all(j.outcome is not None and j.outcome.value == "success" for j in req.jobs)
        outcome = _outcome(h, message)
        assert "2 started" in outcome.text and "unknown" not in outcome.text
        shown = h.slack.message(CHANNEL, message.ts)
        assert shown is not None
        assert shown.text.endswith("done"), shown.text
        assert "Outcome unknown" not in json.dumps(shown.blocks)
        # Its "DRS now" line follows the jobs too.
        assert f"`{FULL_TRANSFER_STARTED}`" in json.dumps(shown.blocks)
        assert STARTJOBING not in json.dumps(shown.blocks)
        assert [h.sim.start_calls_for(j) for j in jobs] == [1, 1]
        assert len(mentions(h, message)) == 1

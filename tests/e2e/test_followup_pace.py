"""The thread keeps up with DRS: a state change shows within 10 s in the first two minutes
after a start, and within the interval after that.

Real time, scaled down five times so the test takes seconds, not minutes: the pace's knobs
(2 s first gap, 5 s early gap, 120 s early window, 30 s interval) and the transitions (DRS moves
one task on 4 s, 30 s and 90 s after the start) are all divided by :data:`SCALE`'s inverse, and
so is the bound. The HTTP round trips to DRS and Slack are not scaled, which makes the bound
stricter here than in production.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.devkit.sim.drs import DrsSimulator
from bot.devkit.sim.drs_jobs import FULL_TRANSFER_STARTED
from bot.devkit.sim.slack_model import FakeMessage
from bot.service.model import Tuning
from tests.e2e.harness import ALICE, Harness
from tests.e2e.process import approve, job_lines, outcome_replies

SCALE = 0.2  # one test second stands for five seconds
TRANSITIONS = (4.0, 30.0, 90.0)  # seconds after the start (unscaled) each task moves on
BOUND = 10.0  # the promise in the first two minutes (unscaled)

TUNING = Tuning(
    followup_interval=30.0 * SCALE,
    followup_first=2.0 * SCALE,
    followup_early=120.0 * SCALE,
    followup_early_gap=5.0 * SCALE,
    followup_max=300.0 * SCALE,
    recovery_grace=0.5,
)


def _shown_at(h: Harness, ts: str, job: str, status: str) -> float | None:
    """When the bot first wrote ``status`` on ``job``'s line of the outcome message ``ts``."""
    for call in h.slack.calls_to("chat.update"):
        if call.args.get("ts") != ts:
            continue
        blocks = call.args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        line = job_lines(FakeMessage(channel="", ts=ts, text="", blocks=blocks or [])).get(job, "")
        if f"`{status}`" in line:
            return call.at
    return None


async def test_each_transition_shows_in_the_thread_within_ten_seconds(tmp_path: Path) -> None:
    h = Harness(tmp_path, tuning=TUNING)
    h.sim = DrsSimulator(start_delay=0.2, lockout_after=None)
    async with h:
        jobs = [
            h.sim.add_job(name=f"mig-pace-{i}", start_delay=at * SCALE)
            for i, at in enumerate(TRANSITIONS)
        ]
        resp, message = await h.request(ALICE, "prod", jobs)
        assert resp.ok, resp
        answer = await approve(h, h.request_id(message), message)
        assert answer is not None and answer.ok, answer
        await h.wait(lambda: len(outcome_replies(h, message)) == 1)
        outcome = outcome_replies(h, message)[0]

        def all_shown() -> bool:
            return all(_shown_at(h, outcome.ts, j, FULL_TRANSFER_STARTED) for j in jobs)

        await h.wait(all_shown, timeout=(TRANSITIONS[-1] + 3 * BOUND) * SCALE + 5)

        delays = {}
        for job, at in zip(jobs, TRANSITIONS, strict=True):
            begin = h.sim.job(job).begin_at
            assert begin is not None
            moved = begin + at * SCALE
            shown = _shown_at(h, outcome.ts, job, FULL_TRANSFER_STARTED)
            assert shown is not None and shown >= moved
            delays[at] = (shown - moved) / SCALE  # in unscaled seconds
        # Each within the bound, with margin (the pace promises 5 s plus a round's work).
        assert all(d <= BOUND * 0.8 for d in delays.values()), delays
        # Nobody is asked about more than the status calls the pace makes: in the first
        # scaled minute at most one call per early gap, and one round at a time.
        status = [c for c in h.sim.calls if c.path.endswith("/jobs/batch-status")]
        assert status, "the follow-up asked DRS"
        assert len(status) <= (TRANSITIONS[-1] + 3 * BOUND) / 2.0 + 2

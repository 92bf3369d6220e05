"""How late does the thread show a DRS state change? The adaptive follow-up against the old
fixed interval, measured in the same run.

Two bots are built in this process (``build_bot``: the real SQLite store, DRS client and Slack
notifier), each with its own DRS simulator and fake Slack Web API on 127.0.0.1, and run at the
same time: one with today's pace (``bot/core/followup_schedule.py``: 2 s after the start,
doubling, at most 5 s apart for two minutes, 2 s after each transition, 30 s interval, 20
status calls per request per minute), one with the old pace (every 30 s, the first round 30 s
after the start). Each starts one request of tasks that DRS moves from ``STARTJOBING`` to
``FULL_TRANSFER_STARTED`` at set times after the start (default 4, 20, 45, 100 and 170 s); the
delay is from that moment to the ``chat.update`` that shows it in the thread. The status calls
are counted from the simulator's call log.

``--scale 0.2`` runs five times faster: every time (the pace, the transitions, the budget's
minute) is scaled, the HTTP round trips are not. The figures are printed in unscaled seconds.

    .venv/bin/python bench/followup_delay.py             # real time, about 3 minutes
    .venv/bin/python bench/followup_delay.py --scale 0.2 # about 40 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot, build_bot, serve_http
from bot.config import AkSk, Settings
from bot.core.policy_file import load_policy
from bot.core.secret import Secret
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DrsSimulator
from bot.devkit.sim.drs_jobs import FULL_TRANSFER_STARTED
from bot.devkit.sim.slack import FakeSlack
from bot.devkit.sim.slack_model import FakeUser
from bot.service.model import Draft, Tuning

CHANNEL = "C0BENCH"
ALICE, BOB = "U01ALICE", "U02BOB"
BOUND = 10.0  # the promise for the first two minutes after a start
EARLY = 120.0


@dataclass(frozen=True)
class Figures:
    name: str
    delays: dict[float, float]  # transition time -> seconds until the thread showed it
    calls_first_minute: int
    calls_total: int
    span: float  # seconds from the start to the last transition shown


def tunings(scale: float) -> dict[str, Tuning]:
    common: dict[str, Any] = {"followup_max": 600.0 * scale, "recovery_grace": 60.0 * scale}
    return {
        "adaptive": Tuning(
            followup_interval=30.0 * scale,
            followup_first=2.0 * scale,
            followup_early=EARLY * scale,
            followup_early_gap=5.0 * scale,
            followup_budget=math.ceil(20 / scale),  # 20 calls in a (scaled) minute
            **common,
        ),
        "fixed 30 s (before)": Tuning(
            followup_interval=30.0 * scale,
            followup_first=30.0 * scale,
            followup_early_gap=30.0 * scale,
            **common,
        ),
    }


def _policy(endpoint: str) -> dict[str, object]:
    return {
        "projects": {
            "prod": {
                "region": "cn-north-4",
                "project_id": DEFAULT_PROJECT_ID,
                "endpoint": endpoint,
                "iam_endpoint": endpoint,
                "channels": [CHANNEL],
                "requesters": [ALICE],
                "approvers": [BOB],
                "approval": "two-person",
            }
        }
    }


def _shown(slack: FakeSlack, job: str) -> float | None:
    """When a chat.update first showed ``job`` as transferring."""
    for call in slack.calls_to("chat.update"):
        blocks = call.args.get("blocks")
        text = blocks if isinstance(blocks, str) else json.dumps(blocks)
        for line in text.replace("\\n", "\n").splitlines():
            if f"`{job}`" in line and f"`{FULL_TRANSFER_STARTED}`" in line:
                return call.at
    return None


async def measure(name: str, tuning: Tuning, transitions: list[float], scale: float) -> Figures:
    sim = DrsSimulator(start_delay=1.0, lockout_after=None)
    slack = FakeSlack(users={ALICE: FakeUser(name="alice"), BOB: FakeUser(name="bob")})
    sim_url = (await sim.start()).rstrip("/")
    await slack.start()
    bot: Bot | None = None
    runner = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            settings = Settings(
                slack_bot_token=Secret("xoxb-fake-token"),
                slack_signing_secret=Secret("bench-signing-secret-0123456789"),
                slack_app_token=None,
                slack_api_url=slack.url,
                port=0,
                config_path=Path(tmp) / "startjobs.toml",
                db_path=str(Path(tmp) / "startjobs.db"),
                credentials=AkSk(Secret(DEFAULT_AK), Secret(DEFAULT_SK)),
            )
            bot = build_bot(
                settings,
                load_policy(_policy(sim_url)),
                tuning=tuning,
                # Due rounds are looked for every second (scaled like everything else).
                maintenance_every=1.0 * scale,
            )
            await bot.start_background()
            runner = await serve_http(bot, host="127.0.0.1", port=0)
            jobs = [
                sim.add_job(name=f"mig-delay-{i}", start_delay=at * scale)
                for i, at in enumerate(transitions)
            ]
            draft = Draft("T0BENCH", CHANNEL, ALICE, "prod", tuple(jobs), None, "bench", "en-us")
            reply = await bot.service.commands.submit(draft)
            assert reply.ok and reply.request is not None, reply.text
            rid = reply.request.id
            for _ in range(500):  # the request message is posted in the background
                req = await bot.store.get(rid)
                if req is not None and req.message_ts is not None:
                    break
                await asyncio.sleep(0.02)
            answer = await bot.service.commands.approve(rid, BOB, None)
            assert answer.ok, answer.text
            limit = (transitions[-1] + 3 * 30.0) * scale + 10.0
            await _until(lambda: all(_shown(slack, j) for j in jobs), limit)
            begin = min(b for b in (sim.job(j).begin_at for j in jobs) if b is not None)
            delays = {}
            for job, at in zip(jobs, transitions, strict=True):
                shown = _shown(slack, job)
                assert shown is not None
                delays[at] = (shown - (begin + at * scale)) / scale
            status = [c.at for c in sim.calls if c.path.endswith("/jobs/batch-status")]
            return Figures(
                name=name,
                delays=delays,
                calls_first_minute=sum(1 for t in status if t - begin < 60.0 * scale),
                calls_total=len(status),
                span=(max(_shown(slack, j) or 0.0 for j in jobs) - begin) / scale,
            )
        finally:
            if runner is not None:
                await runner.cleanup()
            if bot is not None:
                await bot.aclose()
            await slack.stop()
            await sim.stop()


async def _until(predicate: Callable[[], object], within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            print("PROBLEM: a step did not happen in time", file=sys.stderr)
            raise SystemExit(1)
        await asyncio.sleep(0.02)


def report(results: list[Figures], transitions: list[float]) -> int:
    head = "schedule".ljust(22) + "".join(f"{f'at {t:g} s':>10}" for t in transitions)
    print(head + f"{'calls 1st min':>15}{'calls total':>13}")
    for f in results:
        row = f.name.ljust(22) + "".join(f"{f.delays[t]:>9.1f}s" for t in transitions)
        print(row + f"{f.calls_first_minute:>15}{f.calls_total:>13}")
    print(
        "delay = seconds from DRS moving a task to the thread showing it; calls = batch-status"
        " calls of the request (one call per 100 jobs)"
    )
    adaptive = results[0]
    late = [t for t in transitions if t < EARLY and adaptive.delays[t] > BOUND]
    if late:
        print(f"PROBLEM: transitions at {late} s shown later than {BOUND:g} s")
        return 1
    return 0


async def main_async(scale: float, transitions: list[float]) -> int:
    runs = [measure(name, t, transitions, scale) for name, t in tunings(scale).items()]
    results = await asyncio.gather(*runs)
    return report(list(results), transitions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="time scale (0.2: 5x faster)")
    parser.add_argument(
        "--at", type=float, nargs="+", default=[4.0, 20.0, 45.0, 100.0, 170.0],
        help="seconds after the start at which DRS moves each task",
    )  # fmt: skip
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main_async(args.scale, sorted(args.at))))


if __name__ == "__main__":
    main()

"""What the store's part of one approval costs the event loop: the calls an approval makes
before Slack is answered, one approval at a time, on the SQLite store (the baseline: each call
one wait, the work in the store's thread) and, with ``--database-url``, on PostgreSQL, in the
same process. The calls are those of an approve form answered by a process that did not open
it: the request, then the decision (which checks the jobs' prechecks under ``require``); the
process that opened the form makes the decision only (bot/service/shown.py).

For each store: the waits on the event loop per call (times the awaiting task was suspended)
and the process's CPU time per approval. Each approval is of a request of its own, stored
beforehand with its jobs' passed prechecks, not timed. Then the same decisions in bursts of
``--burst`` (50) at once, as fifty approvers' submissions arrive in ``bench/ack_latency.py``:
the time until the burst's last decision is made, the median and the worst over the bursts.
On PostgreSQL the decisions that come together are made in one statement
(bot/store/postgres/together.py); the line "statements" says in how many the bursts' were.

    .venv/bin/python bench/approval_store.py [--approvals 300] [--burst 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.precheck import JobPrecheck, PrecheckState
from bot.core.request import Approval, RequestJob, RequestState, StartRequest
from bot.service.ports import Store as StorePort
from bot.service.ports import Verdict
from bot.store import AsyncStore, PostgresStore, Store

T = TypeVar("T")
CALLS = ("get", "decide")


class Waits:
    """Awaits ``awaitable``, counting the times it was suspended on the running loop."""

    def __init__(self, awaitable: Awaitable[T]) -> None:
        self.awaitable = awaitable
        self.count = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self.awaitable.__await__()
        sent: Any = None
        while True:
            try:
                step = steps.send(sent)
            except StopIteration as done:
                return done.value
            self.count += 1
            sent = yield step


async def waits(awaitable: Awaitable[Any]) -> int:
    """The waits on the loop ``awaitable`` makes until it is done."""
    counted = Waits(awaitable)
    await counted
    return counted.count


def request(n: int, now: float) -> StartRequest:
    return StartRequest(
        id=f"SJ-B{n:07d}",
        team_id="T0BENCH",
        channel_id="C0BENCH",
        requester_id="U0REQ",
        project="prod",
        region="cn-north-4",
        approval=Approval.TWO_PERSON,
        jobs=tuple(RequestJob(job_id=f"job-{n}-{j}") for j in range(3)),
        start_time_ms=None,
        reason="bench",
        language="en-us",
        state=RequestState.PENDING,
        created_at=now,
        expires_at=now + 3600,
    )


@dataclass(frozen=True, slots=True)
class Measured:
    waits: dict[str, float]  # per call, mean
    cpu_ms: float  # per approval, one at a time
    burst_ms: list[float]  # per burst: until its last decision was made
    statements: int | None  # the bursts' decisions were made in (PostgreSQL)


async def stored(store: StorePort, first: int, count: int, now: float) -> list[str]:
    """``count`` pending requests with passed prechecks, numbered from ``first``."""
    ids = []
    for n in range(first, first + count):
        req = request(n, now)
        await store.insert_request(req, actor="U0REQ", detail={}, within=5.0)
        passed = [JobPrecheck(j, PrecheckState.PASSED, read_at=now) for j in req.job_ids]
        await store.save_prechecks(req.id, passed)
        ids.append(req.id)
    return ids


def approval(rid: str) -> Verdict:
    return Verdict(
        rid, RequestState.APPROVED, "U0APP", time.time(), owner="bench", require_prechecks=True
    )


async def measure(store: StorePort, approvals: int, burst: int) -> Measured:
    now = time.time()
    ids = await stored(store, 0, approvals, now)
    counted = dict.fromkeys(CALLS, 0)
    cpu = time.process_time()
    for rid in ids:
        counted["get"] += await waits(store.get(rid))
        counted["decide"] += await waits(store.decide(approval(rid), within=5.0))
    cpu = time.process_time() - cpu
    bursts = []
    made = store.decisions.statements if isinstance(store, PostgresStore) else None
    for first in range(approvals, 2 * approvals - burst + 1, burst):
        ids = await stored(store, first, burst, now)
        began = time.perf_counter()
        decided = await asyncio.gather(*(store.decide(approval(r), within=5.0) for r in ids))
        bursts.append((time.perf_counter() - began) * 1000)
        assert all(d.won for d in decided)
    if isinstance(store, PostgresStore) and made is not None:  # PostgreSQL only
        made = store.decisions.statements - made
    per_call = {k: v / approvals for k, v in counted.items()}
    return Measured(per_call, cpu * 1000 / approvals, bursts, made)


async def run(approvals: int, burst: int, database_url: str | None) -> list[str]:
    rows: list[tuple[str, Measured]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = AsyncStore(Store(Path(tmp) / "bench.db"))
        try:
            rows.append(("SQLite (baseline)", await measure(sqlite, approvals, burst)))
        finally:
            await sqlite.aclose()
    if database_url is not None:
        pg = PostgresStore(database_url)
        try:
            await pg.open()
            rows.append(("PostgreSQL", await measure(pg, approvals, burst)))
        finally:
            await pg.aclose()
    base = rows[0][1]
    lines = [
        f"The store's part of one approval, {approvals} approvals one at a time:",
        f"{'store':<20} {'waits: get':>10} {'decide':>7} {'cpu ms/approval':>16}"
        f" {'x baseline':>10}",
    ]
    for name, m in rows:
        lines.append(
            f"{name:<20} {m.waits['get']:>10.1f} {m.waits['decide']:>7.1f} {m.cpu_ms:>16.2f}"
            f" {m.cpu_ms / base.cpu_ms:>10.2f}"
        )
    lines += [
        "",
        f"The same decisions {burst} at once, {len(base.burst_ms)} bursts:"
        " ms until a burst's last decision was made",
        f"{'store':<20} {'median':>10} {'worst':>7} {'median x baseline':>18}",
    ]
    base_median = statistics.median(base.burst_ms)
    for name, m in rows:
        median = statistics.median(m.burst_ms)
        lines.append(
            f"{name:<20} {median:>10.1f} {max(m.burst_ms):>7.1f} {median / base_median:>18.2f}"
        )
    for name, m in rows:
        if m.statements is not None:
            lines.append(
                f"statements: {name}'s {len(m.burst_ms) * burst} decisions in bursts were made"
                f" in {m.statements}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approvals", type=int, default=300, help="approvals per store (300)")
    parser.add_argument("--burst", type=int, default=50, help="decisions at once (50)")
    parser.add_argument("--database-url", default=None, metavar="URL", help="also PostgreSQL")
    args = parser.parse_args(argv)
    if args.approvals < 1:
        parser.error("--approvals must be positive")
    if not 1 <= args.burst <= args.approvals:
        parser.error("--burst must be between 1 and --approvals")
    for line in asyncio.run(run(args.approvals, args.burst, args.database_url)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

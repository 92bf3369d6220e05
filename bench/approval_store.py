"""What the store's part of one approval costs the event loop: the calls an approval makes
before Slack is answered, one approval at a time, on the SQLite store (the baseline: each call
one wait, the work in the store's thread) and, with ``--database-url``, on PostgreSQL, in the
same process. The calls are those of an approve form answered by a process that did not open
it: the request, then the decision (which checks the jobs' prechecks under ``require``); the
process that opened the form makes the decision only (bot/service/shown.py).

For each store: the waits on the event loop per call (times the awaiting task was suspended)
and the process's CPU time per approval. Each approval is of a request of its own, stored
beforehand with its jobs' passed prechecks, not timed.

    .venv/bin/python bench/approval_store.py [--approvals 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Generator
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


async def measure(store: StorePort, approvals: int) -> tuple[dict[str, float], float]:
    """Waits per call (mean) and CPU ms per approval."""
    now = time.time()
    ids = []
    for n in range(approvals):
        req = request(n, now)
        await store.insert_request(req, actor="U0REQ", detail={}, within=5.0)
        passed = [JobPrecheck(j, PrecheckState.PASSED, read_at=now) for j in req.job_ids]
        await store.save_prechecks(req.id, passed)
        ids.append(req.id)
    counted = dict.fromkeys(CALLS, 0)
    cpu = time.process_time()
    for rid in ids:
        counted["get"] += await waits(store.get(rid))
        verdict = Verdict(
            rid, RequestState.APPROVED, "U0APP", time.time(), owner="bench", require_prechecks=True
        )
        decided = store.decide(verdict, within=5.0)
        counted["decide"] += await waits(decided)
    cpu = time.process_time() - cpu
    return {k: v / approvals for k, v in counted.items()}, cpu * 1000 / approvals


async def run(approvals: int, database_url: str | None) -> list[str]:
    rows: list[tuple[str, dict[str, float], float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = AsyncStore(Store(Path(tmp) / "bench.db"))
        try:
            rows.append(("SQLite (baseline)", *await measure(sqlite, approvals)))
        finally:
            await sqlite.aclose()
    if database_url is not None:
        pg = PostgresStore(database_url)
        try:
            await pg.open()
            rows.append(("PostgreSQL", *await measure(pg, approvals)))
        finally:
            await pg.aclose()
    base_cpu = rows[0][2]
    lines = [
        f"The store's part of one approval, {approvals} approvals one at a time:",
        f"{'store':<20} {'waits: get':>10} {'decide':>7} {'cpu ms/approval':>16}"
        f" {'x baseline':>10}",
    ]
    for name, counted, cpu in rows:
        lines.append(
            f"{name:<20} {counted['get']:>10.1f} {counted['decide']:>7.1f} {cpu:>16.2f}"
            f" {cpu / base_cpu:>10.2f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approvals", type=int, default=300, help="approvals per store (300)")
    parser.add_argument("--database-url", default=None, metavar="URL", help="also PostgreSQL")
    args = parser.parse_args(argv)
    if args.approvals < 1:
        parser.error("--approvals must be positive")
    for line in asyncio.run(run(args.approvals, args.database_url)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

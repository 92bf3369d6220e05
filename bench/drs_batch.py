"""Batch-start throughput: chunked, concurrent batch-starting vs one request per job.

Starts N jobs (default 1,000) on the DRS simulator, which adds a fixed latency (default
100 ms) to every call, and prints side by side:

* our wall time (DrsClient: chunks of ``--chunk-size`` with ``--concurrency`` in flight;
  median of ``--repeat`` runs, each on fresh jobs),
* the lower bound for that shape: ceil(chunks / concurrency) rounds x latency,
* the baseline: a sequential loop sending one batch-starting request per job (the whole
  N by default; with ``--baseline-jobs`` smaller, it is measured on that sample and
  extrapolated linearly, which the output says).

The simulator runs on its own thread and event loop, so its work does not share the client's
loop. Every run checks that each job really started (no silent failures inflate the figures).

    .venv/bin/python bench/drs_batch.py [--jobs 1000] [--latency 0.1] [--baseline-jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bot.core.model import Outcome
from bot.core.secret import Secret
from bot.devkit.sim.drs import (
    DEFAULT_AK,
    DEFAULT_PROJECT_ID,
    DEFAULT_SK,
    DrsSimulator,
    SimulatorThread,
)
from bot.drs import AkSkAuth, DrsClient


async def timed_start(url: str, ids: list[str], *, chunk_size: int, concurrency: int) -> float:
    """Wall time of one batch_start of ``ids``; raises if any job did not start."""
    timeout = httpx.Timeout(connect=5, read=30, write=10, pool=10)
    limits = httpx.Limits(max_connections=max(concurrency, 1) * 2)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        client = DrsClient(
            http=http,
            endpoint=url,
            project_id=DEFAULT_PROJECT_ID,
            auth=AkSkAuth(Secret(DEFAULT_AK), Secret(DEFAULT_SK), DEFAULT_PROJECT_ID),
            chunk_size=chunk_size,
            concurrency=concurrency,
        )
        # one warm-up call so connection set-up is not charged to the first chunk only
        await client.list_jobs(limit=1)
        started = time.perf_counter()
        report = await client.batch_start(ids)
        elapsed = time.perf_counter() - started
    bad = [r for r in report.results if r.outcome is not Outcome.SUCCESS]
    if bad or len(report.results) != len(ids):
        raise SystemExit(f"benchmark invalid: {len(bad)} jobs did not start, e.g. {bad[:1]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per call")
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (median shown)")
    parser.add_argument(
        "--baseline-jobs",
        type=int,
        default=None,
        help="jobs in the sequential baseline (default: all; fewer = extrapolated)",
    )
    args = parser.parse_args(argv)
    baseline_n = min(args.baseline_jobs or args.jobs, args.jobs)

    sim = DrsSimulator(latency=args.latency, lockout_after=None)
    with SimulatorThread(sim) as url:
        runs = []
        for i in range(args.repeat):
            ids = sim.add_generated(args.jobs, prefix=f"bench-ours-{i}")
            runs.append(
                asyncio.run(
                    timed_start(url, ids, chunk_size=args.chunk_size, concurrency=args.concurrency)
                )
            )
        base_ids = sim.add_generated(baseline_n, prefix="bench-baseline")
        print(
            f"baseline: {baseline_n} sequential requests, about {baseline_n * args.latency:.0f} s"
        )
        baseline = asyncio.run(timed_start(url, base_ids, chunk_size=1, concurrency=1))

    chunks = math.ceil(args.jobs / args.chunk_size)
    rounds = math.ceil(chunks / args.concurrency)
    bound = rounds * args.latency
    ours = statistics.median(runs)
    scaled = baseline * args.jobs / baseline_n
    note = "all measured" if baseline_n == args.jobs else f"measured on {baseline_n}, extrapolated"
    print()
    print(
        f"batch start of {args.jobs} jobs, simulator latency {args.latency * 1000:.0f} ms/call, "
        f"chunk {args.chunk_size}, concurrency {args.concurrency}"
    )
    each = "runs: " + ", ".join(f"{r:.3f}" for r in runs)
    rows = [
        (f"ours (median of {len(runs)} runs)", ours, each),
        (f"lower bound ({rounds} rounds x latency)", bound, f"ours = {ours / bound:.2f} x bound"),
        ("one request per job, sequential", scaled, note),
    ]
    for label, seconds, remark in rows:
        print(f"  {label:<36} {seconds:9.3f} s   {remark}")
    print(f"  speed-up over the sequential loop: {scaled / ours:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

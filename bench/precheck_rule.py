"""What the decision's precheck rule costs on a big request: the rule as it is
(``bot.store.records.PRECHECKS_PASSED``: each job's precheck looked up by its key) next to the
rule before it (PostgreSQL's migration 7: ``NOT EXISTS`` over the prechecks), in the same
process, on a request just stored with every job's precheck passed, as an approval finds it.

For each size: the rule alone on a request of its own, each rule on the same request (the
current one first), then a whole decision under ``require`` (``Store.decide`` with
``require_prechecks``: the rule, the update, the claimed start, the request read back) on
another request, against the 1 s an approval's decision is given before its answer says
"try again". On SQLite by default; with ``--database-url`` on PostgreSQL (a fresh database is
best: the figures are of a request whose statistics the server has not read yet).

    .venv/bin/python bench/precheck_rule.py [--sizes 1000,5000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import approval_store
from bot.core.precheck import JobPrecheck, PrecheckState
from bot.core.request import RequestJob, RequestState, StartRequest
from bot.service.model import INTERACTIVE_WRITE_SECONDS
from bot.service.ports import Store as StorePort
from bot.service.ports import Verdict
from bot.store import AsyncStore, PostgresStore, Store
from bot.store.records import PRECHECKS_PASSED

STEP_7_RULE = """NOT EXISTS (SELECT 1 FROM request_jobs j WHERE j.request_id = requests.id
    AND NOT EXISTS (SELECT 1 FROM request_prechecks p WHERE p.request_id = j.request_id
        AND p.job_id = j.job_id AND p.state = 'passed'))"""
"""The rule as PostgreSQL's decision function had it until migration 11 (the baseline)."""


def request(rid: str, size: int) -> StartRequest:
    """``approval_store``'s request, with ``size`` jobs of its own."""
    jobs = tuple(RequestJob(f"{rid}-job-{n:05d}") for n in range(size))
    return replace(approval_store.request(0, time.time()), id=rid, jobs=jobs)


async def stored(store: StorePort, rid: str, size: int) -> None:
    """A request of ``size`` jobs with every job's precheck passed."""
    req = request(rid, size)
    await store.insert_request(req, actor="U0ALICE", detail={})
    passed = PrecheckState.PASSED
    await store.save_prechecks(
        rid, [JobPrecheck(j, passed, "100%", (), "p1", time.time(), None) for j in req.job_ids]
    )


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return (time.perf_counter() - began) * 1000


async def measure(store: StorePort, rule_ms: Callable[[str, str], float], size: int) -> str:
    rid = f"SJ-RULE{size}"
    await stored(store, rid, size)
    now_ms = rule_ms(PRECHECKS_PASSED, rid)
    before_ms = rule_ms(STEP_7_RULE, rid)
    await stored(store, f"SJ-DECIDE{size}", size)
    began = time.perf_counter()
    verdict = Verdict(
        f"SJ-DECIDE{size}", RequestState.APPROVED, "U0BOB", time.time(), require_prechecks=True
    )
    decision = await store.decide(verdict)
    decide_ms = (time.perf_counter() - began) * 1000
    assert decision.won, "the bench's decision was not made"
    late = "  <- past the deadline" if decide_ms > INTERACTIVE_WRITE_SECONDS * 1000 else ""
    return (
        f"{size:>7,} | {now_ms:>10.1f} {before_ms:>12.1f} {before_ms / now_ms:>7.1f}x |"
        f" {decide_ms:>10.1f}{late}"
    )


async def run(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    print("The decision's precheck rule on a request just stored, every job's precheck passed; ms")
    print("   jobs |   rule now  rule step 7   ratio |   decision (deadline 1,000 ms)")
    if args.database_url:
        print("database: PostgreSQL")
        pg = PostgresStore(args.database_url)
        await pg.open()
        with psycopg.connect(args.database_url, autocommit=True) as db:

            def pg_rule(rule: str, rid: str) -> float:
                query = "SELECT 1 FROM requests WHERE id = %s AND " + rule  # noqa: S608
                return timed(lambda: db.execute(query.encode(), (rid,)).fetchall())

            for size in sizes:
                print(await measure(pg, pg_rule, size))
        await pg.aclose()
        return
    print("database: SQLite")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        lite = AsyncStore(Store(path))
        with sqlite3.connect(path) as db:

            def lite_rule(rule: str, rid: str) -> float:
                query = "SELECT 1 FROM requests WHERE id = ? AND " + rule  # noqa: S608
                return timed(lambda: db.execute(query, (rid,)).fetchall())

            for size in sizes:
                print(await measure(lite, lite_rule, size))
        await lite.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000", help="jobs per request, comma-separated")
    parser.add_argument("--database-url", help="a PostgreSQL database to measure (else SQLite)")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

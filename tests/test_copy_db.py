"""``startjobs copy-db``: a SQLite database written by the bot's own store, copied into
PostgreSQL, reads back the same through the PostgreSQL store; a target that holds rows is
refused unless ``--replace``; the source is never changed; the password is never shown."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import psycopg
import pytest

from bot.check import copy_db
from bot.cli import main
from bot.core.model import JobResult, Outcome
from bot.core.precheck import FailedItem, JobPrecheck, PrecheckState
from bot.core.request import AuditKind, RequestJob, RequestState, StartRequest
from bot.store import Store, Verdict
from bot.store.postgres import PostgresStore
from tests.pg_support import PASSWORD
from tests.test_store import V1_SCHEMA
from tests.test_store_contract import JOBS, KW, make_request

PENDING, DONE, REJECTED, ELSEWHERE = "SJ-PENDING1", "SJ-DONE0001", "SJ-REJECT01", "SJ-OTHERCH1"
IDS = (PENDING, DONE, REJECTED, ELSEWHERE)


PRECHECKS = [
    JobPrecheck(
        JOBS[0], PrecheckState.PASSED, passed_rate="100%", precheck_id="p-1", read_at=1_011
    ),
    JobPrecheck(
        JOBS[1],
        PrecheckState.FAILED,
        passed_rate="60%",
        failed_items=(FailedItem("Destination tables empty", "FAILED", "orders has «12» rows"),),
        precheck_id="p-2",
        read_at=1_012.5,
    ),
]


def write_source(path: Path) -> None:
    """Requests in several states, written as the bot writes them."""
    store = Store(path)
    try:
        pending = make_request(PENDING, created_at=1_010.0, reason="CHG-2 «shop» 🚀")
        store.insert_request(pending, actor="U1", detail={"jobs": 3, "source": "mig-*"})
        store.set_message_ts(PENDING, "111.222")
        store.set_jobs_info(
            PENDING, [RequestJob(JOBS[0], name="n0", status_at_request="PAUSED", prepaid=True)]
        )
        store.insert_request(make_request(DONE), actor="U1", detail={"jobs": 3})
        assert store.decide(Verdict(DONE, RequestState.APPROVED, "U2", now=1_100)).won
        assert store.mark_sent(DONE, 1, now=1_101, owner="A", lease=15)
        results = [JobResult(JOBS[0], Outcome.SUCCESS, order_id="O-1")] + [
            JobResult(j, Outcome.FAILED, "DRS.M01504", "busy") for j in JOBS[1:]
        ]
        store.record_outcomes(DONE, 1, results, **KW)
        retry = store.claim_retry(DONE, list(JOBS[1:]), actor="U2", now=1_200)
        assert retry is not None and retry.attempt == 2
        assert store.mark_sent(DONE, 2, now=1_201, owner="A", lease=15)
        again = [JobResult(j, Outcome.SUCCESS, order_id=f"O-{j[:4]}") for j in JOBS[1:]]
        store.record_outcomes(DONE, 2, again, **{**KW, "now": 1_203.0})
        store.audit(DONE, AuditKind.FOLLOWUP, actor=None, now=1_300, detail={"settled": 3})
        store.insert_request(make_request(REJECTED, created_at=1_020.0), actor="U1", detail={})
        rejected = Verdict(REJECTED, RequestState.REJECTED, "U2", now=1_030, comment="not now")
        assert store.decide(rejected).won
        store.insert_request(make_request(ELSEWHERE, channel_id="C2"), actor="U3", detail={})
        store.mark_message_stale(ELSEWHERE, True)
        store.save_prechecks(PENDING, PRECHECKS)
        assert store.lose_channel(ELSEWHERE, "is_archived", now=1_040)
    finally:
        store.close()


def sqlite_view(path: Path) -> dict[str, object]:
    store = Store(path)
    try:
        return {
            "get": [store.get(i) for i in IDS],
            "events": [store.events(i) for i in IDS],
            "start": [store.start(DONE, a) for a in (1, 2, 3)],
            "recent": [store.recent(c) for c in ("C1", "C2")],
            "prechecks": [store.prechecks(i) for i in IDS],
        }
    finally:
        store.close()


async def pg_view(url: str) -> dict[str, object]:
    store = PostgresStore(url, pool_min=1, pool_max=2)
    try:
        return {
            "get": [await store.get(i) for i in IDS],
            "events": [await store.events(i) for i in IDS],
            "start": [await store.start(DONE, a) for a in (1, 2, 3)],
            "recent": [await store.recent(c) for c in ("C1", "C2")],
            "prechecks": [await store.prechecks(i) for i in IDS],
        }
    finally:
        await store.aclose()


def audit_ids(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        return [r[0] for r in db.execute("SELECT id FROM audit ORDER BY id")]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "startjobs.db"
    write_source(path)
    return path


def test_the_copy_reads_back_the_same_through_the_postgres_store(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = sqlite_view(source)
    before = source.read_bytes()
    beside = sorted(source.parent.iterdir())
    with sqlite3.connect(source) as db:
        sqlite_ids = [r[0] for r in db.execute("SELECT id FROM audit ORDER BY id")]
    db.close()

    assert main(["copy-db", "--from", f"sqlite://{source}", "--to", pg_url]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:5] == [
        "requests: 4 rows copied",
        "request_jobs: 12 rows copied",
        "request_prechecks: 2 rows copied",
        "starts: 2 rows copied",
        f"audit: {len(sqlite_ids)} rows copied",
    ], out
    assert len(lines) == 6 and lines[5].startswith(f"copied SQLite {source} to PostgreSQL")
    assert f"new audit ids start at {max(sqlite_ids) + 1}" in lines[5]
    assert PASSWORD not in out + err and ":***@" in lines[5]
    assert source.read_bytes() == before  # the source is never changed
    assert sorted(source.parent.iterdir()) == beside  # nor a -wal or -shm left beside it

    got = asyncio.run(pg_view(pg_url))
    assert got == expected
    requests = expected["get"]
    assert isinstance(requests, list) and all(isinstance(r, StartRequest) for r in requests)
    assert {r.state for r in requests} >= {RequestState.PENDING, RequestState.REJECTED}
    assert audit_ids(pg_url) == sqlite_ids

    async def audit_more() -> None:  # the sequence continues past the copied ids
        store = PostgresStore(pg_url, pool_min=1, pool_max=1)
        try:
            await store.audit(DONE, AuditKind.FOLLOWUP, actor=None, now=2_000, detail={})
        finally:
            await store.aclose()

    asyncio.run(audit_more())
    assert audit_ids(pg_url) == [*sqlite_ids, max(sqlite_ids) + 1]


def test_a_source_in_use_is_copied_with_what_its_write_ahead_log_holds(
    source: Path, pg_url: str
) -> None:
    live = Store(source, autocheckpoint=False)  # a bot still running: commits stay in the log
    try:
        live.insert_request(make_request("SJ-INLOG001", created_at=1_050.0), actor="U1", detail={})
        before = source.read_bytes()
        code, lines = copy_db.run(str(source), pg_url)
        assert code == 0 and lines[0] == "requests: 5 rows copied", lines
        assert source.read_bytes() == before
    finally:
        live.close()
    got = asyncio.run(pg_view(pg_url))
    assert got == sqlite_view(source)


def test_a_target_with_rows_is_refused_and_unchanged_unless_replace(
    source: Path, tmp_path: Path, pg_url: str
) -> None:
    other = tmp_path / "other.db"
    store = Store(other)
    store.insert_request(make_request("SJ-ELSE0001"), actor="U9", detail={"jobs": 3})
    store.close()
    assert copy_db.run(str(other), pg_url)[0] == 0
    with psycopg.connect(pg_url) as db:
        db.execute("INSERT INTO health (id, at) VALUES (1, 5)")
    held = asyncio.run(pg_view(pg_url))

    code, lines = copy_db.run(str(source), pg_url)
    assert code == 1 and len(lines) == 1, lines
    assert "already holds rows (1 requests, 3 request_jobs, 1 audit)" in lines[0]
    assert "--replace" in lines[0] and PASSWORD not in lines[0]
    assert asyncio.run(pg_view(pg_url)) == held

    code, lines = copy_db.run(f"sqlite://{source}", pg_url, replace=True)
    assert code == 0, lines
    assert "its tables emptied first" in lines[-1]
    assert asyncio.run(pg_view(pg_url)) == sqlite_view(source)
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT count(*) FROM requests WHERE id = 'SJ-ELSE0001'").fetchone() == (
            0,
        )
        assert db.execute("SELECT at FROM health").fetchone() == (5.0,)  # not a copied table


def test_sources_that_are_not_startjobs_databases_are_refused(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    assert main(["copy-db", "--from", f"sqlite://{missing}", "--to", pg_url]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"startjobs copy-db: there is no SQLite database at {missing}\n"
    assert not missing.exists()

    text = tmp_path / "notes.txt"
    text.write_text("not a database, just words " * 100)
    code, lines = copy_db.run(str(text), pg_url)
    assert code == 1 and "is not a startjobs SQLite database" in lines[0], lines

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()
    code, lines = copy_db.run(str(foreign), pg_url)
    assert code == 1 and lines == [
        f"startjobs copy-db: {foreign} is not a startjobs SQLite database "
        "(it has no requests table)"
    ]

    old = tmp_path / "v1.db"
    with sqlite3.connect(old) as db:
        db.executescript(V1_SCHEMA)
        db.execute("PRAGMA user_version = 1")
    db.close()
    before = old.read_bytes()
    code, lines = copy_db.run(str(old), pg_url)
    assert code == 1 and "older schema version 1" in lines[0], lines
    assert f"STARTJOBS_DB={old} startjobs migrate" in lines[0]
    assert old.read_bytes() == before
    with psycopg.connect(pg_url) as db:  # nothing was written
        assert db.execute("SELECT to_regclass('requests')").fetchone() == (None,)


def test_bad_targets_and_unreachable_servers_never_show_the_password(
    source: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = copy_db.run(str(source), f"mysql://u:{PASSWORD}@h/db")
    assert code == 2 and PASSWORD not in lines[0] and "postgresql://" in lines[0]
    assert copy_db.run(str(source), None, env={})[0] == 2
    dead = pg_url.rsplit(":", 1)[0] + ":1/db"
    code, lines = copy_db.run(str(source), dead)
    assert code == 1 and len(lines) == 1 and PASSWORD not in lines[0], lines
    # The URL may come from STARTJOBS_DATABASE_URL instead of the command line.
    code, lines = copy_db.run(str(source), None, env={"STARTJOBS_DATABASE_URL": pg_url})
    assert code == 0 and PASSWORD not in "".join(lines)
    assert main(["copy-db", "--bogus"]) == 2
    capsys.readouterr()

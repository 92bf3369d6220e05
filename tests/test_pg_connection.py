"""The PostgreSQL store's connections: one idle for a while is checked before use, so a
server that dropped it costs no failed call; one given back a moment ago is used as it is; a
write cancelled at its deadline leaves its connection working."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from bot.core.request import AuditKind, RequestState
from bot.store import PostgresStore, StoreUnavailable, Verdict
from bot.store.postgres import connection
from tests.pg_support import PgBouncer, PgCluster
from tests.test_store_contract import make_request


async def _drop_the_stores_connections(url: str) -> int:
    """Have the server end every connection of the bot's (as a restart or a failover does)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        cur = await admin.execute(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE application_name = 'startjobs' AND pid != pg_backend_pid()"""
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
async def one_connection(pg_url: str) -> AsyncIterator[PostgresStore]:
    """A store with a pool of one connection, holding one pending request."""
    store = PostgresStore(pg_url, pool_min=1, pool_max=1)
    try:
        await store.insert_request(make_request(), actor="U1", detail={})
        yield store
    finally:
        await store.aclose()


async def test_an_idle_connection_the_server_dropped_costs_no_failed_call(
    one_connection: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "CHECK_IDLE_SECONDS", 0.05)
    await asyncio.sleep(0.1)  # idle for longer than CHECK_IDLE_SECONDS
    assert await _drop_the_stores_connections(pg_url) == 1
    got = await one_connection.get(make_request().id)  # checked, found dead, replaced
    assert got is not None and got.id == make_request().id


async def test_a_connection_given_back_a_moment_ago_is_not_checked_again(
    one_connection: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "CHECK_IDLE_SECONDS", 60.0)
    assert await _drop_the_stores_connections(pg_url) == 1
    # Handed out unchecked: the call finds the connection dead and fails...
    with pytest.raises(psycopg.OperationalError):
        await one_connection.get(make_request().id)
    # ...and the pool replaced it: the next call works.
    got = await one_connection.get(make_request().id)
    assert got is not None and got.id == make_request().id


async def test_a_write_past_its_deadline_is_cancelled_and_its_connection_kept(
    one_connection: PostgresStore, pg_url: str
) -> None:
    """A decision is one statement with no server-side timeout of its own: past ``within``
    the client cancels it on the server, nothing is made, and the pool's only connection
    serves the next call."""
    store = one_connection
    rid = make_request().id
    verdict = Verdict(rid, RequestState.APPROVED, "U2", now=1_100)
    async with await psycopg.AsyncConnection.connect(pg_url) as rival:
        await rival.execute("SELECT * FROM requests WHERE id = %s FOR UPDATE", (rid,))
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="in time"):
            await store.decide(verdict, within=0.15)  # before the server's lock timeout
        assert time.monotonic() - started < 1.5
        await rival.rollback()
    after = await store.get(rid)
    assert after is not None and after.state is RequestState.PENDING
    assert [e.kind for e in await store.events(rid)] == [AuditKind.REQUESTED]
    decided = await store.decide(verdict, within=2.0)
    assert decided.won and decided.request is not None
    assert decided.request.state is RequestState.APPROVED


async def test_behind_pgbouncer_many_pools_share_a_few_server_connections(
    pgbouncer_url: str, pg_url: str, pgbouncer: PgBouncer
) -> None:
    """The store contract also runs behind PgBouncer (tests/test_store_contract.py); this
    shows the pooling is real: three stores' pools of up to ten connections each, deciding
    thirty requests at once, reach the server over at most the pooler's few connections,
    and every decision is made once."""
    stores = [PostgresStore(pgbouncer_url, pool_min=1, pool_max=10) for _ in range(3)]
    try:
        ids = [f"SJ-BOUNCE{n:03d}" for n in range(30)]
        for rid in ids:
            await stores[0].insert_request(make_request(rid), actor="U1", detail={})
        verdicts = [
            Verdict(rid, RequestState.APPROVED, "U2", 1_100.0, owner=f"o{k}")
            for rid in ids
            for k in range(2)
        ]
        decisions = await asyncio.gather(*(stores[n % 3].decide(v) for n, v in enumerate(verdicts)))
        won = sorted(d.request.id for d in decisions if d.won and d.request is not None)
        assert won == ids  # each request approved by one of its two approvals
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
            cur = await admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid != pg_backend_pid()"
            )
            row = await cur.fetchone()
        assert row is not None and 1 <= row[0] <= pgbouncer.server_connections
    finally:
        for store in stores:
            await store.aclose()


async def test_behind_pgbouncer_with_the_server_down_a_person_is_answered_in_time(
    pg_cluster: PgCluster, pgbouncer_url: str
) -> None:
    """With the server down, PgBouncer still takes connections and queues the statements;
    psycopg's cancellation of a write past its deadline then waits seconds for the server.
    The writes a person waits for (a new request, a decision, the health check's) are still
    refused within their deadline and a moment, not after six seconds."""
    store = PostgresStore(pgbouncer_url, pool_min=1, pool_max=3)
    await store.insert_request(make_request(), actor="U1", detail={})  # opened while up
    await asyncio.to_thread(pg_cluster.stop)
    try:
        writes = {
            "request": store.insert_request(
                make_request("SJ-DOWN0001"), actor="U1", detail={}, within=1.0
            ),
            "decision": store.decide(
                Verdict(make_request().id, RequestState.APPROVED, "U2", 1_100.0), within=1.0
            ),
            "health": store.probe(within=1.0),
        }
        for what, write in writes.items():
            began = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await write
            took = time.monotonic() - began
            assert took < 1.0 + connection.ANSWER_GRACE_SECONDS + 0.5, (what, took)
    finally:
        await asyncio.to_thread(pg_cluster.start)
        await store.aclose()

"""Writes that come together are made in one statement on PostgreSQL
(bot/store/postgres/together.py): fifty requests stored at once, and fifty decisions, are each
made once, as each would be alone; two decisions of one request, one wins; one write the
server refuses fails its own caller only. Directly on the server and behind PgBouncer's
transaction pooling."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import psycopg
import pytest

from bot.core.request import AuditKind, RequestJob, RequestState, StartState
from bot.store import PostgresStore, StoreUnavailable, Verdict
from tests.test_store_contract import JOBS, make_request


@pytest.fixture(params=["postgres", "pgbouncer"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PostgresStore]:
    url = request.getfixturevalue("pg_url" if request.param == "postgres" else "pgbouncer_url")
    store = PostgresStore(url, pool_min=1, pool_max=4)
    try:
        await store.open()
        yield store
    finally:
        await store.aclose()


async def pending(store: PostgresStore, count: int, prefix: str = "SJ-TOGETHER") -> list[str]:
    ids = [f"{prefix}{n:03d}" for n in range(count)]
    for rid in ids:
        await store.insert_request(make_request(rid), actor="U1", detail={})
    return ids


async def test_fifty_requests_stored_at_once_read_back_as_each_was_stored(
    store: PostgresStore,
) -> None:
    reqs = [
        make_request(
            f"SJ-STORED{n:03d}",
            jobs=JOBS[: 1 + n % 3],
            start_time_ms=None if n % 2 else 1_767_300_000_000 + n,
            reason=f"CHG-{n} «shop» 🚀",
            created_at=1_000.0 + n / 7,
        )
        for n in range(50)
    ]
    reqs[7] = dataclasses.replace(
        reqs[7],
        jobs=(
            RequestJob(JOBS[0], name="mig-1", status_at_request="CONFIGURATION", prepaid=True),
            RequestJob(JOBS[1], error_code="DRS.404", error_msg="unknown"),
        ),
    )
    before = store.insertions.statements
    await asyncio.gather(
        *(store.insert_request(r, actor="U1", detail={"n": r.id}, within=5.0) for r in reqs)
    )
    assert store.insertions.statements - before <= 5  # one each before
    for req in reqs:
        assert await store.get(req.id) == req
        events = await store.events(req.id)
        assert [(e.kind, e.actor, e.detail, e.at) for e in events] == [
            (AuditKind.REQUESTED, "U1", {"n": req.id}, req.created_at)
        ]


async def test_a_request_stored_twice_at_once_fails_its_second_caller_only(
    store: PostgresStore,
) -> None:
    first, second, other = (
        make_request("SJ-TWICE001"),
        make_request("SJ-TWICE001"),
        make_request("SJ-OTHER001"),
    )
    before = store.insertions.statements
    stored = await asyncio.gather(
        *(
            store.insert_request(r, actor="U1", detail={}, within=5.0)
            for r in (first, second, other)
        ),
        return_exceptions=True,
    )
    # the three in one statement, refused (the id twice); then each alone
    assert store.insertions.statements - before == 4
    assert stored[0] is None and stored[2] is None
    assert isinstance(stored[1], StoreUnavailable) and "refused" in str(stored[1])
    assert await store.get(first.id) == first and await store.get(other.id) == other
    assert len(await store.events(first.id)) == 1


async def test_fifty_decisions_at_once_are_made_in_a_few_statements(
    store: PostgresStore,
) -> None:
    ids = await pending(store, 50)
    before = store.decisions.statements
    verdicts = [
        Verdict(rid, RequestState.APPROVED, f"UA{n}", now=1_100, owner="A", comment=f"ok {n}")
        for n, rid in enumerate(ids)
    ]
    decided = await asyncio.gather(*(store.decide(v, within=5.0) for v in reversed(verdicts)))
    assert store.decisions.statements - before <= 5  # one each before
    for verdict, decision in zip(reversed(verdicts), decided, strict=True):
        assert decision.won and decision.request is not None
        assert decision.request.id == verdict.request_id  # each caller gets its own
        assert decision.request.state is RequestState.APPROVED
        assert decision.request.decided_by == verdict.actor
        assert decision.request.decision_comment == verdict.comment
        assert decision.request.job_ids == JOBS
    for verdict in verdicts:
        start = await store.start(verdict.request_id, 1)
        assert start is not None and start.state is StartState.CLAIMED
        assert list(start.job_ids) == list(JOBS)
        kinds = [e.kind for e in await store.events(verdict.request_id)]
        assert kinds == [AuditKind.REQUESTED, AuditKind.APPROVED]


async def test_two_decisions_of_one_request_together_one_wins(store: PostgresStore) -> None:
    (rid,) = await pending(store, 1, "SJ-TWOATONC")
    approve = Verdict(rid, RequestState.APPROVED, "U2", now=1_100, owner="A")
    reject = Verdict(rid, RequestState.REJECTED, "U3", now=1_100, comment="no")
    decided = await asyncio.gather(store.decide(approve, within=5.0), store.decide(reject))
    assert sorted(d.won for d in decided) == [False, True]
    winner = RequestState.APPROVED if decided[0].won else RequestState.REJECTED
    for d in decided:  # the loser is given the request as the winner left it
        assert d.request is not None and d.request.state is winner
    events = [e.kind for e in await store.events(rid)]
    assert events.count(AuditKind.APPROVED) + events.count(AuditKind.REJECTED) == 1


async def test_a_decision_the_server_refuses_fails_its_own_caller_only(
    store: PostgresStore,
) -> None:
    ids = await pending(store, 3, "SJ-REFUSED")
    good = [Verdict(rid, RequestState.APPROVED, "U2", now=1_100, owner="A") for rid in ids]
    # The server takes no NUL in text: this one's statement is refused.
    hostile = Verdict("SJ-\x00NUL", RequestState.REJECTED, "U3", now=1_100, comment="x")
    before = store.decisions.statements
    decided = await asyncio.gather(
        *(store.decide(v, within=5.0) for v in [good[0], hostile, *good[1:]]),
        return_exceptions=True,
    )
    # the four in one statement, refused; then each alone
    assert store.decisions.statements - before == 5
    assert isinstance(decided[1], StoreUnavailable)
    assert "refused" in str(decided[1])
    for d in [decided[0], *decided[2:]]:
        assert not isinstance(d, BaseException) and d.won
        assert d.request is not None and d.request.state is RequestState.APPROVED


async def test_a_decision_waiting_on_a_lock_holds_up_the_others_a_moment_only(
    store: PostgresStore, pg_url: str
) -> None:
    """A row locked by another process (a replica cut off mid-transaction): its decision is
    refused once the lock was waited for 200 ms, and the decisions made with it are made."""
    locked, *free = await pending(store, 3, "SJ-LOCKED")
    async with await psycopg.AsyncConnection.connect(pg_url) as rival:
        await rival.execute("SELECT * FROM requests WHERE id = %s FOR UPDATE", (locked,))
        loop = asyncio.get_running_loop()
        began = loop.time()
        decided = await asyncio.gather(
            *(
                store.decide(Verdict(rid, RequestState.APPROVED, "U2", now=1_100), within=5.0)
                for rid in (locked, *free)
            ),
            return_exceptions=True,
        )
        took = loop.time() - began
        await rival.rollback()
    assert isinstance(decided[0], StoreUnavailable) and "locked" in str(decided[0])
    for d in decided[1:]:
        assert not isinstance(d, BaseException) and d.won
    assert took < 2.0  # the lock was not waited for until the deadline (5 s)
    after = await store.get(locked)
    assert after is not None and after.state is RequestState.PENDING

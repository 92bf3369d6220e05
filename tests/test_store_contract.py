"""The store contract, against both adapters of the port: SQLite (through
:class:`~bot.store.AsyncStore`) and PostgreSQL (:class:`~bot.store.postgres.PostgresStore`, on
the throwaway server of :mod:`tests.pg_support`).

Each test may open several stores on one database, as several replicas would
(``open_store``); a race is run with ``asyncio.gather`` over stores of their own, so the
conditional updates are what decides the winner: for PostgreSQL those are concurrent
connections, for SQLite concurrent threads, each with its own connection to one file.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.core.model import JobResult, Outcome
from bot.core.precheck import FailedItem, JobPrecheck, PrecheckState
from bot.core.request import (
    Approval,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
    StartState,
)
from bot.service.ports import PostTurn
from bot.service.ports import Store as StorePort
from bot.store import AsyncStore, Recorded, Store, StoreUnavailable, Verdict
from bot.store.postgres import PostgresStore
from tests.pg_support import PASSWORD, PgCluster

JOBS = (
    "9a470239-2308-4bb5-a6bc-1040402fjb21",
    "dbb8127c-b093-4b94-b764-7161e151jb2s",
    "0c5a1e2b-7d9e-4f61-b1aa-51e4c2f0jb33",
)
RID = "SJ-CONTRACT1"
KW: dict[str, Any] = {"now": 1_103.0, "calls": [], "followup_interval": 5.0, "followup_max": 60.0}


def make_request(
    rid: str = RID, *, jobs: tuple[str, ...] = JOBS, expires_at: float = 2_000.0, **kw: Any
) -> StartRequest:
    fields: dict[str, Any] = {
        "id": rid,
        "team_id": "T1",
        "channel_id": "C1",
        "requester_id": "U1",
        "project": "prod",
        "region": "ap-southeast-1",
        "approval": Approval.TWO_PERSON,
        "jobs": tuple(RequestJob(job_id=j) for j in jobs),
        "start_time_ms": None,
        "reason": "CHG-1",
        "language": "en-us",
        "state": RequestState.PENDING,
        "created_at": 1_000.0,
        "expires_at": expires_at,
    }
    fields.update(kw)
    return StartRequest(**fields)


class Backend:
    """Opens stores on one database of one kind; closes them all at the end."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target  # a file path or a URL
        self.opened: list[AsyncStore | PostgresStore] = []

    async def open_store(self) -> AsyncStore | PostgresStore:
        store: AsyncStore | PostgresStore
        if self.kind == "sqlite":
            store = AsyncStore(Store(self.target))
        else:
            store = PostgresStore(self.target, pool_min=1, pool_max=4, connect_timeout=5)
            await store.open()
        self.opened.append(store)
        return store

    async def close(self) -> None:
        for store in self.opened:
            await store.aclose()


@pytest.fixture(params=["sqlite", "postgres", "pgbouncer"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each store: SQLite; PostgreSQL; PostgreSQL behind PgBouncer's transaction pooling (a
    few server connections shared by every store's pool, one transaction at a time)."""
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "startjobs.db"))
    elif request.param == "postgres":
        b = Backend("postgres", request.getfixturevalue("pg_url"))
    else:
        b = Backend("postgres", request.getfixturevalue("pgbouncer_url"))
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncStore | PostgresStore:
    return await backend.open_store()


async def race(
    backend: Backend, n: int, make: Callable[[StorePort, int], Awaitable[Any]]
) -> list[Any]:
    """``make(store_i, i)`` for ``n`` stores of their own, all at once."""
    stores = [await backend.open_store() for _ in range(n)]
    return list(await asyncio.gather(*(make(s, i) for i, s in enumerate(stores))))


async def approved(store: StorePort, rid: str = RID) -> None:
    await store.insert_request(make_request(rid), actor="U1", detail={"jobs": 3})
    d = await store.decide(Verdict(rid, target=RequestState.APPROVED, actor="U2", now=1_100))
    assert d.won


async def recorded(store: StorePort, rid: str = RID) -> None:
    """Approved, sent and recorded: the first job started, the others failed."""
    await approved(store, rid)
    assert await store.mark_sent(rid, 1, now=1_101, owner="A", lease=15)
    results = [JobResult(JOBS[0], Outcome.SUCCESS, order_id="O-1")] + [
        JobResult(j, Outcome.FAILED, "DRS.M01504", "busy") for j in JOBS[1:]
    ]
    assert await store.record_outcomes(rid, 1, results, **KW) is Recorded.RECORDED


def test_both_adapters_have_every_method_of_the_port() -> None:
    """What mypy checks where the bootstrap hands either store to the service, by name."""
    names = [n for n, v in vars(StorePort).items() if inspect.iscoroutinefunction(v)]
    assert len(names) > 30
    for name in names:
        assert inspect.iscoroutinefunction(getattr(AsyncStore, name)), name
        ours = inspect.signature(getattr(PostgresStore, name))
        assert ours.parameters == inspect.signature(getattr(StorePort, name)).parameters, name


# -- requests -------------------------------------------------------------------------------


async def test_a_request_reads_back_as_it_was_stored(store: StorePort) -> None:
    req = make_request(
        jobs=JOBS[:2],
        start_time_ms=1_767_300_000_000,
        reason="CHG-1 — migrate «shop» 🚀",
        approval=Approval.NONE,
    )
    req = StartRequest(
        **{
            **{f: getattr(req, f) for f in req.__dataclass_fields__},
            "jobs": (
                RequestJob(JOBS[0], name="mig-shop-1", status_at_request="CONFIGURATION"),
                RequestJob(JOBS[1], prepaid=True, error_code="DRS.404", error_msg="unknown"),
            ),
        }
    )
    await store.insert_request(req, actor="U1", detail={"jobs": 2, "source": "mig-*"})
    assert await store.get(RID) == req
    assert await store.get("SJ-NOSUCH01") is None
    await store.insert_request(
        make_request("SJ-LATER001", created_at=1_500.0), actor="U1", detail={}
    )
    await store.insert_request(make_request("SJ-ELSEWHER", channel_id="C2"), actor="U1", detail={})
    assert [r.id for r in await store.recent("C1")] == ["SJ-LATER001", RID]
    assert [r.id for r in await store.recent("C1", limit=1)] == ["SJ-LATER001"]
    events = await store.events(RID)
    assert [(e.kind, e.actor, e.detail) for e in events] == [
        (AuditKind.REQUESTED, "U1", {"jobs": 2, "source": "mig-*"})
    ]


async def test_one_live_process_at_a_time_posts_the_request_message(store: StorePort) -> None:
    """The post is claimed: a rival is refused while the holder is alive, takes it over once
    the holder's lease lapsed (told when the earlier post began), and nobody posts once the
    message is recorded."""
    await store.insert_request(make_request(), actor="U1", detail={}, owner="A")
    first = await store.begin_message_post(RID, 1_100, owner="A", alive_until=1_110)
    assert first == PostTurn(True, None)
    again = await store.begin_message_post(RID, 1_105, owner="A", alive_until=1_115)
    assert again == PostTurn(True, 1_100)
    rival = await store.begin_message_post(RID, 1_106, owner="B", alive_until=1_116)
    assert rival == PostTurn(False, 1_100)
    taken = await store.begin_message_post(RID, 1_120, owner="B", alive_until=1_130)
    assert taken == PostTurn(True, 1_100)  # A lapsed at 1_115
    back = await store.begin_message_post(RID, 1_121, owner="A", alive_until=1_131)
    assert back == PostTurn(False, 1_100)  # B holds it now, alive
    assert "A" in await store.live_owners(1_125)  # claiming renewed A's own lease
    await store.set_message_ts(RID, "111.222")
    done = await store.begin_message_post(RID, 1_200, owner="B", alive_until=1_210)
    assert done == PostTurn(False, 1_100)
    missing = await store.begin_message_post("SJ-NOSUCH01", 1_200, owner="B", alive_until=1_210)
    assert missing == PostTurn(False, None)


async def test_message_columns(store: StorePort) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    assert await store.unconfirmed(1_000) == [RID]
    await store.set_message_ts(RID, "111.222")
    await store.set_message_ts(RID, "333.444")  # the first one stays
    assert (await store.get(RID)).message_ts == "111.222"  # type: ignore[union-attr]
    assert await store.unconfirmed(1_000) == []
    assert await store.stale_messages() == []
    await store.mark_message_stale(RID, True)
    assert await store.stale_messages() == [RID]
    await store.mark_message_stale(RID, False)
    assert await store.stale_messages() == []
    await store.set_jobs_info(
        RID, [RequestJob(JOBS[1], name="n1", status_at_request="PAUSED", prepaid=True)]
    )
    jobs = (await store.get(RID)).jobs  # type: ignore[union-attr]
    assert (jobs[1].name, jobs[1].status_at_request, jobs[1].prepaid) == ("n1", "PAUSED", True)
    assert (jobs[0].name, jobs[0].prepaid) == (None, False)


async def test_two_decisions_at_once_one_wins(backend: Backend, store: StorePort) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    targets = [RequestState.APPROVED, RequestState.REJECTED] * 4

    async def decide(s: StorePort, i: int) -> Any:
        return await s.decide(Verdict(RID, target=targets[i], actor=f"U{i}", now=1_100))

    decisions = await race(backend, len(targets), decide)
    winners = [i for i, d in enumerate(decisions) if d.won]
    assert len(winners) == 1
    (won,) = winners
    for d in decisions:  # every caller sees the winner's decision
        assert d.request.state is targets[won] and d.request.decided_by == f"U{won}"
    claimed = await store.starts_in(StartState.CLAIMED)
    assert len(claimed) == (1 if targets[won] is RequestState.APPROVED else 0)
    kinds = [e.kind for e in await store.events(RID)]
    assert len(kinds) == 2 and kinds[0] is AuditKind.REQUESTED


async def test_an_expired_request_is_not_approved_and_start_now_drops_the_schedule(
    store: StorePort,
) -> None:
    await store.insert_request(make_request(expires_at=1_050), actor="U1", detail={})
    late = await store.decide(Verdict(RID, target=RequestState.APPROVED, actor="U2", now=1_060))
    assert not late.won and late.request.state is RequestState.PENDING  # type: ignore[union-attr]
    assert await store.start(RID, 1) is None
    assert await store.expired_pending(1_060) == [RID]
    expire = Verdict(RID, RequestState.EXPIRED, None, now=1_060, require_unexpired=False)
    assert (await store.decide(expire)).won
    assert await store.expired_pending(1_060) == []
    scheduled = make_request("SJ-SCHEDULE", start_time_ms=1_000_500)
    await store.insert_request(scheduled, actor="U1", detail={})
    now = Verdict("SJ-SCHEDULE", RequestState.APPROVED, "U2", now=1_100, start_now=True)
    d = await store.decide(now)
    assert d.won and d.request.start_time_ms is None  # type: ignore[union-attr]
    approved_event = (await store.events("SJ-SCHEDULE"))[-1]
    assert approved_event.detail == {"start_now_instead": True, "scheduled_for_ms": 1_000_500}


async def test_a_lost_channel_is_recorded_once(backend: Backend, store: StorePort) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    await store.mark_message_stale(RID, True)
    errors = ["is_archived", "not_in_channel", "channel_not_found", "is_archived"]

    async def lose(s: StorePort, i: int) -> bool:
        return await s.lose_channel(RID, errors[i], now=1_100 + i)

    wins = await race(backend, len(errors), lose)
    assert wins.count(True) == 1
    req = await store.get(RID)
    assert req is not None and req.channel_problem == errors[wins.index(True)]
    assert await store.stale_messages() == []
    kinds = [e.kind for e in await store.events(RID)]
    assert kinds.count(AuditKind.CHANNEL_LOST) == 1


async def test_overlapping_counts_other_open_requests(store: StorePort) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    await store.insert_request(make_request("SJ-OTHER001", jobs=JOBS[:2]), actor="U1", detail={})
    await store.insert_request(make_request("SJ-THIRD001", jobs=JOBS[2:]), actor="U1", detail={})
    await store.insert_request(make_request("SJ-CLOSED01", jobs=JOBS), actor="U1", detail={})
    closed = Verdict("SJ-CLOSED01", RequestState.CANCELLED, "U1", now=1_100)
    assert (await store.decide(closed)).won
    assert await store.overlapping(RID) == {"SJ-OTHER001": 2, "SJ-THIRD001": 1}
    assert await store.overlapping("SJ-THIRD001") == {RID: 1}


# -- starts ---------------------------------------------------------------------------------


async def test_a_start_is_sent_once(backend: Backend, store: StorePort) -> None:
    await approved(store)
    start = await store.start(RID, 1)
    assert start is not None and start.state is StartState.CLAIMED and start.job_ids == JOBS

    async def send(s: StorePort, i: int) -> bool:
        return await s.mark_sent(RID, 1, now=1_101, owner=f"P{i}", lease=15)

    sent = await race(backend, 6, send)
    assert sent.count(True) == 1
    start = await store.start(RID, 1)
    assert start is not None and start.state is StartState.SENT
    assert start.lease_owner == f"P{sent.index(True)}" and start.lease_until == 1_116
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.STARTING
    assert [j.attempts for j in req.jobs] == [1, 1, 1]
    assert [s.attempt for s in await store.starts_in(StartState.SENT)] == [1]
    assert await store.last_attempt(RID) == 1


async def test_leases_renew_and_one_takeover_wins(backend: Backend, store: StorePort) -> None:
    await approved(store)
    assert await store.mark_sent(RID, 1, now=1_101, owner="A", lease=15)
    assert not await store.take_over(RID, 1, owner="B", now=1_110, lease=15)
    assert await store.renew_lease(RID, 1, owner="A", until=1_130)
    assert not await store.renew_lease(RID, 1, owner="B", until=1_140)  # not B's
    assert not await store.take_over(RID, 1, owner="B", now=1_125, lease=15)

    async def take(s: StorePort, i: int) -> bool:
        return await s.take_over(RID, 1, owner=f"T{i}", now=1_131, lease=15)

    taken = await race(backend, 5, take)
    assert taken.count(True) == 1
    assert not await store.renew_lease(RID, 1, owner="A", until=1_150)  # A lost it
    start = await store.start(RID, 1)
    assert start is not None and start.lease_owner == f"T{taken.index(True)}"
    kinds = [e.kind for e in await store.events(RID)]
    assert kinds.count(AuditKind.TAKEN_OVER) == 1


async def test_outcomes_are_recorded_once_then_posted_once(
    backend: Backend, store: StorePort
) -> None:
    await recorded(store)
    again = [JobResult(j, Outcome.UNKNOWN) for j in JOBS]
    assert await store.record_outcomes(RID, 1, again, recovered=True, **KW) is Recorded.IGNORED
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.DONE
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.FAILED, Outcome.FAILED]
    assert req.jobs[0].order_id == "O-1" and req.jobs[1].error_code == "DRS.M01504"
    assert await store.followup_deadline(RID) == 1_103 + 60
    # (now, who asks, alive until, its turn and when an earlier post began)
    turns = [
        (1_104, "proc-A", 1_110, PostTurn(True, None)),
        # Its poster again (a retry): looks for the first post's message first.
        (1_105, "proc-A", 1_110, PostTurn(True, 1_104)),
        # Another process, while proc-A is alive: not its turn; once proc-A's row lapsed, it is.
        (1_106, "proc-B", 1_120, PostTurn(False, 1_104)),
        (1_111, "proc-B", 1_120, PostTurn(True, 1_104)),
        (1_112, "proc-A", 1_118, PostTurn(False, 1_104)),
    ]
    for now, owner, alive_until, turn in turns:
        got = await store.begin_outcome_post(RID, 1, now, owner=owner, alive_until=alive_until)
        assert got == turn, (now, owner)

    async def post(s: StorePort, i: int) -> bool:
        return await s.mark_posted(RID, 1, f"222.{i}")

    posted = await race(backend, 4, post)
    assert posted.count(True) == 1
    req = await store.get(RID)
    assert req is not None and req.outcome_ts == f"222.{posted.index(True)}"
    start = await store.start(RID, 1)
    assert start is not None and start.state is StartState.POSTED


async def test_the_owners_late_answer_is_merged_into_a_takeovers_record(store: StorePort) -> None:
    await approved(store)
    await store.mark_sent(RID, 1, now=1_101, owner="A", lease=15)
    assert await store.take_over(RID, 1, owner="B", now=1_200, lease=15)
    reconciled = [
        JobResult(JOBS[0], Outcome.UNKNOWN, error_msg="answer lost"),
        JobResult(JOBS[1], Outcome.SUCCESS, error_msg="confirmed by batch-status"),
        JobResult(JOBS[2], Outcome.UNKNOWN, error_msg="answer lost"),
    ]
    rec = await store.record_outcomes(RID, 1, reconciled, recovered=True, **KW)
    assert rec is Recorded.RECORDED
    assert (await store.get(RID)).state is RequestState.UNKNOWN  # type: ignore[union-attr]
    answer = [
        JobResult(JOBS[0], Outcome.SUCCESS, order_id="ORDER-0"),
        JobResult(JOBS[1], Outcome.FAILED, "DRS.M00304", "already started"),  # never wins
        JobResult(JOBS[2], Outcome.SUCCESS),
    ]
    assert await store.record_outcomes(RID, 1, answer, **KW) is Recorded.MERGED
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.DONE
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS] * 3
    assert req.jobs[0].order_id == "ORDER-0"
    merged = [e for e in await store.events(RID) if e.kind is AuditKind.MERGED]
    assert [e.detail for e in merged] == [{"attempt": 1, "settled": 2, "state": "done"}]


async def test_one_retry_is_claimed_at_a_time(backend: Backend, store: StorePort) -> None:
    await approved(store)
    assert await store.claim_retry(RID, [JOBS[1]], actor="U2", now=1_101) is None  # 1 in flight
    await store.mark_sent(RID, 1, now=1_101, owner="A", lease=15)
    results = [JobResult(JOBS[0], Outcome.SUCCESS)] + [
        JobResult(j, Outcome.FAILED, "DRS.M01504") for j in JOBS[1:]
    ]
    await store.record_outcomes(RID, 1, results, **KW)

    async def retry(s: StorePort, i: int) -> Any:
        return await s.claim_retry(RID, list(JOBS[1:]), actor=f"U{i}", now=1_110)

    claims = await race(backend, 6, retry)
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].attempt == 2 and won[0].job_ids == JOBS[1:]
    assert won[0].state is StartState.CLAIMED
    assert await store.last_attempt(RID) == 2
    kinds = [e.kind for e in await store.events(RID)]
    assert kinds.count(AuditKind.RETRY) == 1


# -- follow-up ------------------------------------------------------------------------------


async def test_followups_are_scheduled_and_claimed_once(backend: Backend, store: StorePort) -> None:
    await recorded(store)
    assert await store.due_followups(2_000) == []  # nothing posted yet
    assert await store.mark_posted(RID, 1, "222.1")
    assert await store.due_followups(1_107) == []
    assert await store.due_followups(1_108) == [RID]  # recorded at 1_103, every 5 s

    async def claim(s: StorePort, i: int) -> bool:
        return await s.claim_followup(RID, now=1_110, lease=30)

    claims = await race(backend, 6, claim)
    assert claims.count(True) == 1
    assert await store.due_followups(1_139) == []
    assert await store.due_followups(1_140) == [RID]
    await store.schedule_followup(RID, next_at=1_150, deadline=5_000)
    assert await store.followup_deadline(RID) == 5_000
    await store.schedule_followup(RID, next_at=1_160)  # keeps the deadline
    assert await store.followup_deadline(RID) == 5_000
    assert await store.due_followups(1_160) == [RID]
    await store.schedule_followup(RID, next_at=None)
    assert await store.due_followups(9_999) == []
    assert not await store.claim_followup(RID, now=9_999, lease=30)
    assert (await store.get(RID)).followup_done  # type: ignore[union-attr]

    async def notice(s: StorePort, i: int) -> bool:
        return await s.claim_settled_notice(RID)

    assert (await race(backend, 4, notice)).count(True) == 1


async def test_a_request_told_directly_is_followed_up(store: StorePort) -> None:
    """An outcome that could only be told to the requester (the channel lost) is posted
    without a thread message; the request is still followed up."""
    await recorded(store)
    assert await store.lose_channel(RID, "is_archived", now=1_104)
    assert await store.mark_posted(RID, 1, None)
    assert await store.due_followups(1_108) == [RID]


async def test_the_last_transition_seen_is_kept_for_the_pace(store: StorePort) -> None:
    """A round that saw DRS move a job records when, for the pace of the rounds after it; a
    round that saw nothing keeps the earlier time."""
    await recorded(store)
    assert await store.followup_changed_at(RID) is None
    await store.schedule_followup(RID, next_at=1_110, changed_at=1_108)
    assert await store.followup_changed_at(RID) == 1_108
    await store.schedule_followup(RID, next_at=1_140)
    assert await store.followup_changed_at(RID) == 1_108
    await store.schedule_followup(RID, next_at=1_150, changed_at=1_145)
    assert await store.followup_changed_at(RID) == 1_145
    assert await store.followup_changed_at("SJ-NOSUCH1") is None


async def test_statuses_and_confirmations_settle_unknown_jobs(store: StorePort) -> None:
    await approved(store)
    await store.mark_sent(RID, 1, now=1_101, owner="A", lease=15)
    results = [JobResult(JOBS[0], Outcome.SUCCESS)] + [
        JobResult(j, Outcome.UNKNOWN) for j in JOBS[1:]
    ]
    await store.record_outcomes(RID, 1, results, drs_statuses={JOBS[0]: "STARTING"}, **KW)
    await store.set_message_ts(RID, "111.222")
    await store.mark_message_stale(RID, False)
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.UNKNOWN
    assert [j.drs_status for j in req.jobs] == ["STARTING", None, None]
    await store.update_drs_statuses(RID, {JOBS[1]: "FULL_TRANSFER_STARTED", JOBS[2]: None})
    await store.confirm_outcomes(RID, {JOBS[1]: Outcome.SUCCESS, JOBS[0]: Outcome.FAILED})
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.UNKNOWN  # JOBS[2] still unknown
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.UNKNOWN]
    assert [j.drs_status for j in req.jobs] == ["STARTING", "FULL_TRANSFER_STARTED", None]
    assert await store.stale_messages() == []
    await store.confirm_outcomes(RID, {JOBS[2]: Outcome.SUCCESS})
    assert (await store.get(RID)).state is RequestState.DONE  # type: ignore[union-attr]
    assert await store.stale_messages() == [RID]


async def test_tasks_failing_after_their_start(store: StorePort) -> None:
    await recorded(store)  # JOBS[0] started, the others refused
    failures = {JOBS[2]: ("X", "x"), JOBS[0]: ("DRS.TASK", "task failed")}
    assert await store.fail_started(RID, failures, now=1_200) == [JOBS[0]]
    assert await store.fail_started(RID, failures, now=1_201) == []
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.FAILED
    assert (req.jobs[0].outcome, req.jobs[0].error_code) == (Outcome.FAILED, "DRS.TASK")
    assert req.jobs[2].error_code == "DRS.M01504"  # already failed: left as it was
    failed = [e for e in await store.events(RID) if e.kind is AuditKind.START_FAILED]
    assert [e.detail for e in failed] == [{"jobs": 1, "job_ids": [JOBS[0]], "state": "failed"}]


async def test_events_keep_their_order(store: StorePort) -> None:
    await recorded(store)
    for i in range(5):
        await store.audit(RID, AuditKind.REFUSED, actor=f"U{i}", now=1_000 - i, detail={"i": i})
    events = await store.events(RID)
    assert [e.kind for e in events] == [
        AuditKind.REQUESTED,
        AuditKind.APPROVED,
        AuditKind.OUTCOME,
        *[AuditKind.REFUSED] * 5,
    ]
    assert [e.detail.get("i") for e in events[3:]] == [0, 1, 2, 3, 4]  # not by time
    assert await store.events("SJ-NOSUCH01") == []


# -- in time or not at all -------------------------------------------------------------------


async def test_probe_makes_a_write(backend: Backend, store: StorePort) -> None:
    before = time.time()
    await store.probe(within=2.0)  # type: ignore[attr-defined]
    first = await heartbeat(backend)
    assert first is not None and before <= first <= time.time()
    await store.probe(within=2.0)  # type: ignore[attr-defined]
    second = await heartbeat(backend)
    assert second is not None and second >= first


async def heartbeat(backend: Backend) -> float | None:
    """The time of the last probe's write, read from the database by a connection of its own."""
    if backend.kind == "sqlite":
        db = sqlite3.connect(backend.target)
        try:
            row = db.execute("SELECT at FROM health WHERE id = 1").fetchone()
        finally:
            db.close()
    else:
        async with await psycopg.AsyncConnection.connect(backend.target) as conn:
            cur = await conn.execute("SELECT at FROM health WHERE id = 1")
            row = await cur.fetchone()
    return float(row[0]) if row else None


async def test_a_decision_blocked_by_another_writer_is_not_made(
    backend: Backend, store: StorePort
) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    verdict = Verdict(RID, RequestState.APPROVED, "U2", now=1_100)
    async with hold_lock(backend):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await store.decide(verdict, within=0.4)
        assert time.monotonic() - started < 2.0
    assert PASSWORD not in str(caught.value)
    req = await store.get(RID)
    assert req is not None and req.state is RequestState.PENDING  # nothing was made
    assert (await store.decide(verdict, within=2.0)).won  # and can be, once free


async def test_a_request_whose_id_is_taken_is_refused_plainly(store: StorePort) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    with pytest.raises(StoreUnavailable):
        await store.insert_request(make_request(), actor="U9", detail={}, within=2.0)
    assert len(await store.events(RID)) == 1


class hold_lock:
    """Another process's transaction holding what a decision needs: SQLite's write lock, or
    the request's row in PostgreSQL."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.sqlite: sqlite3.Connection | None = None
        self.pg: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> None:
        if self.backend.kind == "sqlite":
            self.sqlite = sqlite3.connect(self.backend.target, isolation_level=None)
            self.sqlite.execute("BEGIN IMMEDIATE")
        else:
            self.pg = await psycopg.AsyncConnection.connect(self.backend.target)
            await self.pg.execute("SELECT * FROM requests WHERE id = %s FOR UPDATE", (RID,))

    async def __aexit__(self, *exc: object) -> None:
        if self.sqlite is not None:
            self.sqlite.execute("ROLLBACK")
            self.sqlite.close()
        if self.pg is not None:
            await self.pg.rollback()
            await self.pg.close()


# -- PostgreSQL only --------------------------------------------------------------------------


async def test_probe_fails_plainly_while_the_server_is_stopped_and_recovers(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    store = PostgresStore(pg_url, pool_min=2, pool_max=2, connect_timeout=2)
    try:
        await store.probe(within=2.0)
        pg_cluster.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                await store.probe(within=1.0)
            assert time.monotonic() - started < 3.0
            with pytest.raises(StoreUnavailable):
                await store.insert_request(make_request(), actor="U1", detail={}, within=0.5)
        finally:
            pg_cluster.start()
        message = str(caught.value)
        assert message and PASSWORD not in message
        await asyncio.wait_for(_until_probe_works(store), timeout=15)
        assert await store.get(RID) is None  # the refused write was not made
    finally:
        await store.aclose()


async def _until_probe_works(store: PostgresStore) -> None:
    while True:
        try:
            await store.probe(within=1.0)
        except StoreUnavailable:
            await asyncio.sleep(0.1)
        else:
            return


async def test_an_unreachable_server_is_reported_without_the_password() -> None:
    from tests.pg_support import free_port

    url = f"postgresql://someone:{PASSWORD}@127.0.0.1:{free_port()}/nothing"
    store = PostgresStore(url, connect_timeout=1)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.open()
        assert PASSWORD not in str(caught.value)
        assert "postgresql://someone:***@127.0.0.1" in str(caught.value)
    finally:
        await store.aclose()


async def test_the_app_homes_reads_page_newest_first(store: StorePort) -> None:
    """Pending requests of some projects, one person's requests and the followed-up ones,
    each newest first and a page at a time below a (created_at, id) cursor."""
    made = [
        make_request("SJ-HOME0001", created_at=1_000.0),
        make_request("SJ-HOME0002", created_at=1_001.0, project="dev"),
        make_request("SJ-HOME0003", created_at=1_002.0, requester_id="U7"),
        make_request("SJ-HOME0004", created_at=1_002.0),  # same time: the id orders them
        make_request("SJ-HOME0005", created_at=1_003.0, project="other"),
    ]
    for req in made:
        await store.insert_request(req, actor=req.requester_id, detail={})
    await store.decide(Verdict("SJ-HOME0004", target=RequestState.REJECTED, actor="U2", now=1_010))

    async def ids(found: Awaitable[list[StartRequest]]) -> list[str]:
        return [r.id for r in await found]

    assert await ids(store.pending_in(["prod", "dev"])) == [
        "SJ-HOME0003",
        "SJ-HOME0002",
        "SJ-HOME0001",
    ]
    assert await ids(store.pending_in(["prod", "dev"], limit=2)) == ["SJ-HOME0003", "SJ-HOME0002"]
    assert await ids(store.pending_in(["prod", "dev"], before=(1_001.0, "SJ-HOME0002"))) == [
        "SJ-HOME0001"
    ]
    assert await ids(store.pending_in([])) == []
    mine = await store.requested_by("U1")
    assert [r.id for r in mine] == ["SJ-HOME0005", "SJ-HOME0004", "SJ-HOME0002", "SJ-HOME0001"]
    assert mine[1].state is RequestState.REJECTED and len(mine[1].jobs) == len(JOBS)
    assert await ids(store.requested_by("U1", before=(1_002.0, "SJ-HOME0004"), limit=1)) == [
        "SJ-HOME0002"
    ]
    assert await ids(store.requested_by("U9")) == []


async def test_the_app_home_sees_what_is_being_followed_up(store: StorePort) -> None:
    await recorded(store)  # followed up from its record on
    await store.insert_request(make_request("SJ-HOMEPEND"), actor="U1", detail={})
    other = make_request("SJ-HOMEOTHR", project="other", requester_id="U7")
    await store.insert_request(other, actor="U7", detail={})
    await approved(store, "SJ-HOMEDONE")
    await store.schedule_followup("SJ-HOMEDONE", next_at=None)  # ended
    assert [r.id for r in await store.following(["prod"], requester="U5")] == [RID]
    assert [r.id for r in await store.following([], requester="U1")] == [RID]
    assert await store.following(["dev"], requester="U5") == []
    await store.schedule_followup(RID, next_at=None)
    assert await store.following(["prod"], requester="U1") == []


async def test_work_of_a_process_no_longer_alive_is_found_at_once(store: StorePort) -> None:
    """A request made by a process whose ``replicas`` row lapsed is unconfirmed work at
    once, not only after the recovery grace; a live owner's is left to it."""
    created = make_request().created_at
    await store.keep_alive("host-a:1", now=created, until=created + 10)
    await store.keep_alive("host-b:2", now=created, until=created + 30)
    await store.insert_request(make_request(), actor="U1", detail={}, owner="host-a:1")
    other = make_request("SJ-OTHER001")
    await store.insert_request(other, actor="U1", detail={}, owner="host-b:2")
    before_grace = created - 1  # nothing is old enough for the grace alone
    assert await store.unconfirmed(before_grace, now=created + 5) == []
    assert await store.live_owners(created + 5) == {"host-a:1", "host-b:2"}
    assert await store.unconfirmed(before_grace, now=created + 11) == [RID]
    assert await store.live_owners(created + 11) == {"host-b:2"}
    assert await store.unconfirmed(before_grace) == []  # without ``now``: the grace only
    # Renewed, it is alive again; rows lapsed an hour ago are forgotten.
    await store.keep_alive("host-a:1", now=created + 12, until=created + 22)
    assert await store.unconfirmed(before_grace, now=created + 13) == []
    await store.keep_alive("host-c:3", now=created + 4_000, until=created + 4_010)
    assert await store.live_owners(created + 4_000) == {"host-c:3"}
    assert sorted(await store.unconfirmed(before_grace, now=created + 4_000)) == sorted(
        [RID, "SJ-OTHER001"]
    )


async def test_a_claimed_start_names_the_process_that_claimed_it(store: StorePort) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    verdict = Verdict(RID, RequestState.APPROVED, "U2", now=1_001, owner="host-a:1")
    assert (await store.decide(verdict)).won
    start = await store.start(RID, 1)
    assert start is not None and start.state is StartState.CLAIMED
    assert start.lease_owner == "host-a:1" and start.lease_until is None
    assert await store.mark_sent(RID, 1, now=1_002, owner="host-a:1", lease=15)
    results = [JobResult(j, Outcome.FAILED, "DRS.X", "no") for j in JOBS]
    await store.record_outcomes(RID, 1, results, **KW)
    retry = await store.claim_retry(RID, [JOBS[0]], actor="U2", now=1_200, owner="host-b:2")
    assert retry is not None and retry.lease_owner == "host-b:2"


async def test_prechecks_are_stored_per_job_and_a_newer_read_is_never_undone(
    store: StorePort,
) -> None:
    await store.insert_request(make_request(jobs=JOBS[:2]), actor="U1", detail={})
    assert await store.prechecks(RID) == {}
    failed = JobPrecheck(
        JOBS[0],
        PrecheckState.FAILED,
        passed_rate="60%",
        failed_items=(FailedItem("Tables empty «orders»", "FAILED", "12 rows"),),
        precheck_id="p-1",
        read_at=100.0,
        reason=None,
    )
    never = JobPrecheck(JOBS[1], PrecheckState.NEVER_RUN, read_at=100.0, reason="DRS.M00304 x")
    await store.save_prechecks(RID, [failed, never])
    assert await store.prechecks(RID) == {JOBS[0]: failed, JOBS[1]: never}
    passed = JobPrecheck(JOBS[0], PrecheckState.PASSED, passed_rate="100%", read_at=200.0)
    await store.save_prechecks(RID, [passed])
    older = JobPrecheck(JOBS[0], PrecheckState.RUNNING, read_at=150.0)  # a slow poll's answer
    await store.save_prechecks(RID, [older])
    assert (await store.prechecks(RID))[JOBS[0]] == passed
    assert (await store.prechecks(RID))[JOBS[1]] == never


async def test_an_approval_requiring_prechecks_waits_for_every_job_to_pass(
    store: StorePort,
) -> None:
    await store.insert_request(make_request(jobs=JOBS[:2]), actor="U1", detail={})
    approve = Verdict(RID, RequestState.APPROVED, "U2", now=1_100, require_prechecks=True)
    nothing_read = await store.decide(approve)
    assert not nothing_read.won
    assert nothing_read.request is not None and nothing_read.request.state is RequestState.PENDING
    one = JobPrecheck(JOBS[0], PrecheckState.PASSED, passed_rate="100%", read_at=100.0)
    other = JobPrecheck(JOBS[1], PrecheckState.RUNNING, read_at=100.0)
    await store.save_prechecks(RID, [one, other])
    assert not (await store.decide(approve)).won  # one job still running its precheck
    assert await store.start(RID, 1) is None  # nothing claimed, nothing audited as approved
    assert [e.kind for e in await store.events(RID)] == [AuditKind.REQUESTED]
    # Without the condition the same approval would be made: it is the prechecks that hold it.
    other_passed = JobPrecheck(JOBS[1], PrecheckState.PASSED, passed_rate="100%", read_at=200.0)
    await store.save_prechecks(RID, [other_passed])
    made = await store.decide(approve)
    assert made.won and made.request is not None
    assert made.request.state is RequestState.APPROVED
    claimed = await store.start(RID, 1)
    assert claimed is not None and list(claimed.job_ids) == list(JOBS[:2])


async def test_unwatched_prechecks_are_pending_requests_running_one_not_read_lately(
    store: StorePort,
) -> None:
    """A request whose running prechecks nobody read since the given time is listed; one
    read since, one whose prechecks finished, and one no longer pending are not."""

    def running(job: str, at: float) -> JobPrecheck:
        return JobPrecheck(job, PrecheckState.RUNNING, read_at=at)

    stale, fresh, done, decided = "SJ-STALE001", "SJ-FRESH001", "SJ-DONE0001", "SJ-DECIDED1"
    for rid in (stale, fresh, done, decided):
        await store.insert_request(make_request(rid, jobs=JOBS[:2]), actor="U1", detail={})
    await store.save_prechecks(stale, [running(JOBS[0], 100.0), running(JOBS[1], 120.0)])
    # One job read since 150 is enough: its poller is alive.
    await store.save_prechecks(fresh, [running(JOBS[0], 100.0), running(JOBS[1], 160.0)])
    passed = JobPrecheck(JOBS[0], PrecheckState.PASSED, passed_rate="100%", read_at=100.0)
    await store.save_prechecks(done, [passed])
    await store.save_prechecks(decided, [running(JOBS[0], 100.0)])
    assert (await store.decide(Verdict(decided, RequestState.REJECTED, "U2", now=1_100))).won
    assert await store.unwatched_prechecks(150.0) == [stale]
    assert await store.unwatched_prechecks(100.0) == []
    # Read again: watched.
    await store.save_prechecks(stale, [running(JOBS[0], 170.0)])
    assert await store.unwatched_prechecks(150.0) == []


async def test_a_precheck_poll_is_taken_up_by_one_process_until_its_lease_lapses(
    store: StorePort,
) -> None:
    await store.insert_request(make_request(), actor="U1", detail={})
    claims = await asyncio.gather(
        *(
            store.claim_precheck_poll(RID, owner=f"proc-{n}", now=100.0, until=190.0)
            for n in range(8)
        )
    )
    assert sorted(claims) == [False] * 7 + [True]  # processes claiming at once: one has it
    assert not await store.claim_precheck_poll(RID, owner="proc-9", now=189.0, until=279.0)
    # Its holder did not keep the precheck watched (it died): the lease lapses, another takes it.
    assert await store.claim_precheck_poll(RID, owner="proc-9", now=190.0, until=280.0)
    assert not await store.claim_precheck_poll(RID, owner="proc-0", now=200.0, until=290.0)
    # Another request's poll is its own.
    assert await store.claim_precheck_poll("SJ-OTHER001", owner="proc-0", now=200.0, until=290.0)


async def test_a_home_page_turned_on_one_replica_is_read_by_every_other(backend: Backend) -> None:
    one, other = await backend.open_store(), await backend.open_store()
    page = '{"own":[1000.5,"SJ-OWN00001"],"pending":[999.25,"SJ-PEND0001"]}'
    await one.keep_home_page("U1", page, now=100.0, until=160.0)
    assert await other.home_page("U1", now=159.0) == page
    assert await other.home_page("U2", now=159.0) is None  # someone else's is their own
    assert await other.home_page("U1", now=160.0) is None  # no longer kept: the newest page
    # Two replicas keeping one person's page at once: one of them is kept, whole.
    turned = [f'{{"own":[{n},"SJ-TURN{n:04d}"]}}' for n in range(6)]
    pairs = zip([one, other] * 3, turned, strict=True)
    await asyncio.gather(*(s.keep_home_page("U1", p, now=200.0, until=260.0) for s, p in pairs))
    assert await one.home_page("U1", now=201.0) in turned
    # Opening the tab (no page) forgets it, and lapsed pages go with any keep.
    await other.keep_home_page("U2", '{"own":[1,"SJ-X"]}', now=200.0, until=230.0)
    await other.keep_home_page("U1", None, now=240.0, until=300.0)
    assert await one.home_page("U1", now=241.0) is None
    assert await one.home_page("U2", now=100.0) is None  # forgotten at 240, though asked as at 100


async def test_a_precheck_that_fails_again_holds_an_approval_back(store: StorePort) -> None:
    await store.insert_request(make_request(jobs=JOBS[:1]), actor="U1", detail={})
    passed = JobPrecheck(JOBS[0], PrecheckState.PASSED, passed_rate="100%", read_at=100.0)
    await store.save_prechecks(RID, [passed])
    rerun = JobPrecheck(JOBS[0], PrecheckState.FAILED, passed_rate="80%", read_at=150.0)
    await store.save_prechecks(RID, [rerun])
    approve = Verdict(RID, RequestState.APPROVED, "U2", now=1_100, require_prechecks=True)
    assert not (await store.decide(approve)).won
    reject = Verdict(RID, RequestState.REJECTED, "U2", now=1_100, require_prechecks=False)
    assert (await store.decide(reject)).won

"""The fake store answers as the real one does: each scenario runs the same calls on
:class:`tests.service.fakes.FakeStore` and on the SQLite store (in memory, through the same
:class:`bot.store.threaded.AsyncStore` the bot uses) and compares every answer and what each
holds after, then checks the answers that matter most by themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.core.model import JobResult, Outcome
from bot.core.request import (
    Approval,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
    StartState,
)
from bot.service.ports import PostTurn, Recorded, Store, Verdict
from bot.store.sqlite import Store as SqliteStore
from bot.store.threaded import AsyncStore
from tests.conftest import ALICE, BOB, CAROL, CHANNEL
from tests.service.fakes import FakeStore

T0 = 1_767_225_600.0
Log = list[tuple[str, Any]]


def request(
    rid: str,
    jobs: tuple[str, ...] = ("J1", "J2", "J3"),
    *,
    created: float = T0,
    expires: float = T0 + 100,
    start_time_ms: int | None = None,
    approval: Approval = Approval.TWO_PERSON,
) -> StartRequest:
    return StartRequest(
        id=rid,
        team_id="T0TEAM",
        channel_id=CHANNEL,
        requester_id=ALICE,
        project="prod",
        region="cn-north-4",
        approval=approval,
        jobs=tuple(RequestJob(j) for j in jobs),
        start_time_ms=start_time_ms,
        reason="CHG-1",
        language="en-us",
        state=RequestState.PENDING,
        created_at=created,
        expires_at=expires,
    )


async def put(store: Store, req: StartRequest) -> None:
    await store.insert_request(req, actor=ALICE, detail={"jobs": len(req.jobs)}, within=1.0)


def approve(rid: str, now: float = T0, **kw: Any) -> Verdict:
    return Verdict(rid, target=RequestState.APPROVED, actor=BOB, now=now, **kw)


async def record(store: Store, rid: str, attempt: int, results: list[JobResult], **kw: Any) -> Any:
    return await store.record_outcomes(
        rid,
        attempt,
        results,
        now=kw.pop("now", T0 + 30),
        calls=kw.pop("calls", []),
        followup_interval=30.0,
        followup_max=600.0,
        **kw,
    )


async def holdings(store: Store, log: Log, *rids: str) -> None:
    """What the store holds for ``rids`` after a scenario, into ``log``."""
    for rid in rids:
        log.append((f"get {rid}", await store.get(rid)))
        log.append((f"events {rid}", await store.events(rid)))
        for attempt in range(1, await store.last_attempt(rid) + 1):
            log.append((f"start {rid}#{attempt}", await store.start(rid, attempt)))


# -- scenarios: each returns the log of what the store answered --------------------------------


async def decisions(s: Store) -> Log:
    log: Log = []
    await put(s, request("R1"))
    await put(s, request("R2"))
    await put(s, request("R3", start_time_ms=int((T0 + 50) * 1000), expires=T0 + 1000))
    log.append(("approve R1", await s.decide(approve("R1"), within=1.0)))
    log.append(("approve R1 again", await s.decide(approve("R1", T0 + 1))))
    rejected = Verdict("R1", target=RequestState.REJECTED, actor=CAROL, now=T0 + 2)
    log.append(("reject R1", await s.decide(rejected)))
    log.append(("approve R2 expired", await s.decide(approve("R2", T0 + 100))))
    expire = Verdict(
        "R2", target=RequestState.EXPIRED, actor=None, now=T0 + 100, require_unexpired=False
    )
    log.append(("expire R2", await s.decide(expire)))
    log.append(("approve unknown", await s.decide(approve("R9"))))
    log.append(("approve R3 start now", await s.decide(approve("R3", T0 + 60, start_now=True))))
    log.append(("starts claimed", await s.starts_in(StartState.CLAIMED)))
    await holdings(s, log, "R1", "R2", "R3")
    return log


async def lifecycle(s: Store) -> Log:
    log: Log = []
    await put(s, request("R1"))
    await s.decide(approve("R1"))
    log.append(("mark_sent", await s.mark_sent("R1", 1, now=T0 + 1, owner="A", lease=15.0)))
    log.append(("mark_sent again", await s.mark_sent("R1", 1, now=T0 + 2, owner="B", lease=15.0)))
    log.append(("renew by B", await s.renew_lease("R1", 1, owner="B", until=T0 + 30)))
    log.append(("renew by A", await s.renew_lease("R1", 1, owner="A", until=T0 + 20)))
    log.append(("take over live", await s.take_over("R1", 1, owner="C", now=T0 + 19, lease=15)))
    log.append(("take over", await s.take_over("R1", 1, owner="C", now=T0 + 20, lease=15)))
    log.append(("take over again", await s.take_over("R1", 1, owner="D", now=T0 + 20, lease=15)))
    log.append(("renew by A lost", await s.renew_lease("R1", 1, owner="A", until=T0 + 40)))
    recovered = [
        JobResult("J1", Outcome.SUCCESS, error_msg="confirmed by batch-status"),
        JobResult("J2", Outcome.UNKNOWN),
        JobResult("J3", Outcome.UNKNOWN),
    ]
    log.append(
        (
            "record recovered",
            await record(s, "R1", 1, recovered, recovered=True, drs_statuses={"J1": "STARTJOBING"}),
        )
    )
    log.append(("record recovered again", await record(s, "R1", 1, recovered, recovered=True)))
    answer = [
        JobResult("J1", Outcome.FAILED, "X", "must not overwrite a seen success", "O-1"),
        JobResult("J2", Outcome.SUCCESS, order_id="O-2"),
        JobResult("J3", Outcome.UNKNOWN),
    ]
    call = {"attempt": 1, "operation": "batch-starting", "jobs": 3, "http_status": 200}
    log.append(("merge answer", await record(s, "R1", 1, answer, calls=[call], now=T0 + 40)))
    log.append(
        ("begin post", await s.begin_outcome_post("R1", 1, T0 + 41, owner="A", alive_until=T0 + 50))
    )
    log.append(
        (
            "begin post again",
            await s.begin_outcome_post("R1", 1, T0 + 45, owner="A", alive_until=T0 + 50),
        )
    )
    log.append(
        (
            "begin post elsewhere",
            await s.begin_outcome_post("R1", 1, T0 + 46, owner="B", alive_until=T0 + 56),
        )
    )
    log.append(("posted", await s.mark_posted("R1", 1, "111.222")))
    log.append(("posted again", await s.mark_posted("R1", 1, "333.444")))
    log.append(("late answer after post", await record(s, "R1", 1, answer, now=T0 + 50)))
    log.append(("retry", await s.claim_retry("R1", ["J3"], actor=BOB, now=T0 + 60)))
    log.append(("retry while claimed", await s.claim_retry("R1", ["J3"], actor=BOB, now=T0 + 61)))
    log.append(("last attempt", await s.last_attempt("R1")))
    log.append(("record unsent", await record(s, "R1", 2, answer[2:])))
    log.append(("by state", await s.starts_in(StartState.CLAIMED, StartState.POSTED)))
    await holdings(s, log, "R1")
    return log


async def follow_up(s: Store) -> Log:
    log: Log = []
    await put(s, request("R1"))
    await s.decide(approve("R1"))
    await s.mark_sent("R1", 1, now=T0 + 1, owner="A", lease=15.0)
    results = [
        JobResult("J1", Outcome.SUCCESS),
        JobResult("J2", Outcome.UNKNOWN),
        JobResult("J3", Outcome.SUCCESS),
    ]
    log.append(("record", await record(s, "R1", 1, results)))
    log.append(("due before posted", await s.due_followups(T0 + 100)))
    await s.mark_posted("R1", 1, "111.222")
    log.append(("due early", await s.due_followups(T0 + 59)))
    log.append(("due", await s.due_followups(T0 + 60)))
    log.append(("claim early", await s.claim_followup("R1", now=T0 + 59, lease=30)))
    log.append(("claim", await s.claim_followup("R1", now=T0 + 60, lease=30)))
    log.append(("claim again", await s.claim_followup("R1", now=T0 + 61, lease=30)))
    await s.update_drs_statuses("R1", {"J1": "FULL_TRANSFER_STARTED", "J2": None, "J9": "X"})
    await s.confirm_outcomes("R1", {"J1": Outcome.FAILED, "J2": Outcome.SUCCESS})
    log.append(("after confirm", await s.get("R1")))
    failures = {"J3": ("START_JOB_FAILED", "disk full"), "J1": ("START_JOB_FAILED", None)}
    log.append(("fail started", await s.fail_started("R1", failures, now=T0 + 70)))
    log.append(("fail started again", await s.fail_started("R1", failures, now=T0 + 71)))
    await s.schedule_followup("R1", next_at=T0 + 200, deadline=T0 + 900)
    log.append(("deadline", await s.followup_deadline("R1")))
    await s.schedule_followup("R1", next_at=T0 + 230)
    log.append(("deadline kept", await s.followup_deadline("R1")))
    log.append(("due later", await s.due_followups(T0 + 230)))
    log.append(("settled notice", await s.claim_settled_notice("R1")))
    log.append(("settled notice again", await s.claim_settled_notice("R1")))
    await s.schedule_followup("R1", next_at=None)
    log.append(("due after the end", await s.due_followups(T0 + 10_000)))
    log.append(("claim after the end", await s.claim_followup("R1", now=T0 + 10_000, lease=30)))
    await holdings(s, log, "R1")
    return log


async def messages(s: Store) -> Log:
    log: Log = []
    await put(s, request("R1", ("J1", "J2", "J3")))
    await put(s, request("R2", ("J2", "J3", "J4"), created=T0 + 1))
    await put(s, request("R3", ("J3",), created=T0 + 1, approval=Approval.NONE))
    await put(s, request("R4", ("J1",), created=T0 + 2))
    await s.decide(Verdict("R4", target=RequestState.CANCELLED, actor=ALICE, now=T0 + 3))
    log.append(("overlapping", await s.overlapping("R1")))
    await s.set_jobs_info("R1", [RequestJob("J2", "two", "CONFIGURATION", prepaid=True)])
    log.append(
        ("begin message", await s.begin_message_post("R1", T0 + 5, owner="P", alive_until=T0 + 20))
    )
    log.append(
        (
            "begin message again",
            await s.begin_message_post("R1", T0 + 9, owner="P", alive_until=T0 + 20),
        )
    )
    log.append(
        (
            "begin message elsewhere",
            await s.begin_message_post("R1", T0 + 9, owner="Q", alive_until=T0 + 20),
        )
    )
    await s.set_message_ts("R1", "1.1")
    await s.set_message_ts("R1", "2.2")
    await s.set_message_ts("R3", "3.3")
    log.append(("unconfirmed", sorted(await s.unconfirmed(T0 + 1))))
    log.append(("unconfirmed early", sorted(await s.unconfirmed(T0))))
    log.append(("expired", sorted(await s.expired_pending(T0 + 100))))
    log.append(("stale", sorted(await s.stale_messages())))
    await s.mark_message_stale("R1", True)
    await s.mark_message_stale("R2", True)  # no message yet: not listed
    log.append(("stale marked", sorted(await s.stale_messages())))
    log.append(("lose channel", await s.lose_channel("R1", "is_archived", now=T0 + 10)))
    log.append(("lose channel again", await s.lose_channel("R1", "channel_not_found", now=T0 + 11)))
    log.append(("stale after loss", sorted(await s.stale_messages())))
    await s.audit("R1", AuditKind.REFUSED, actor=BOB, now=T0 + 12, detail={"action": "approve"})
    log.append(("recent", [r.id for r in await s.recent(CHANNEL, limit=3)]))
    await holdings(s, log, "R1", "R2", "R3", "R4")
    return log


async def home_pages(s: Store) -> Log:
    log: Log = []
    await s.keep_home_page(ALICE, '{"own":[1,"R9"]}', now=T0, until=T0 + 60)
    await s.keep_home_page(BOB, '{"own":[2,"R1"]}', now=T0, until=T0 + 10)
    log.append(("alice", await s.home_page(ALICE, now=T0 + 1)))
    log.append(("bob", await s.home_page(BOB, now=T0 + 1)))
    log.append(("bob lapsed", await s.home_page(BOB, now=T0 + 10)))
    log.append(("nobody", await s.home_page(CAROL, now=T0 + 1)))
    await s.keep_home_page(ALICE, '{"following":[3,"R2"]}', now=T0 + 2, until=T0 + 62)
    log.append(("alice turned again", await s.home_page(ALICE, now=T0 + 3)))
    await s.keep_home_page(ALICE, None, now=T0 + 4, until=T0 + 64)
    log.append(("alice opened the tab", await s.home_page(ALICE, now=T0 + 5)))
    return log


# -- running them on both ------------------------------------------------------------------------


@pytest.fixture
async def sqlite_store() -> AsyncIterator[AsyncStore]:
    store = AsyncStore(SqliteStore(":memory:"))
    yield store
    await store.aclose()


Scenario = Callable[[Store], Awaitable[Log]]


@pytest.mark.parametrize("scenario", [decisions, lifecycle, follow_up, messages, home_pages])
async def test_the_fake_answers_as_the_sqlite_store_does(
    scenario: Scenario, sqlite_store: AsyncStore
) -> None:
    real = await scenario(sqlite_store)
    fake = await scenario(FakeStore())

    assert [label for label, _ in fake] == [label for label, _ in real]
    for (label, got), (_, want) in zip(fake, real, strict=True):
        assert got == want, label


def answers(log: Log) -> dict[str, Any]:
    return dict(log)


async def test_decisions_are_conditional() -> None:
    log = answers(await decisions(FakeStore()))

    assert log["approve R1"].won
    assert not log["approve R1 again"].won
    assert log["approve R1 again"].request.decided_by == BOB
    assert not log["reject R1"].won
    assert not log["approve R2 expired"].won
    assert log["expire R2"].won
    assert log["approve unknown"].request is None
    assert log["get R3"].start_time_ms is None
    assert [(s.request_id, s.job_ids) for s in log["starts claimed"]] == [
        ("R1", ("J1", "J2", "J3")),
        ("R3", ("J1", "J2", "J3")),
    ]


async def test_leases_and_the_merge_rule() -> None:
    log = answers(await lifecycle(FakeStore()))

    assert [log[k] for k in ("mark_sent", "mark_sent again")] == [True, False]
    assert [log[k] for k in ("renew by B", "renew by A")] == [False, True]
    assert [log[k] for k in ("take over live", "take over", "take over again")] == [
        False,
        True,
        False,
    ]
    assert log["renew by A lost"] is False
    assert log["record recovered"] is Recorded.RECORDED
    assert log["record recovered again"] is Recorded.IGNORED
    assert log["merge answer"] is Recorded.MERGED
    jobs = log["get R1"].jobs
    # The late answer settled J2, never turned J1's seen success into a failure, and J3's
    # "unknown" stays unknown; J1's order id came with it.
    assert [(j.outcome, j.order_id) for j in jobs] == [
        (Outcome.SUCCESS, "O-1"),
        (Outcome.SUCCESS, "O-2"),
        (Outcome.UNKNOWN, None),
    ]
    assert [log["begin post"], log["begin post again"], log["begin post elsewhere"]] == [
        PostTurn(True, None),
        PostTurn(True, T0 + 41),
        PostTurn(False, T0 + 41),  # A holds the post and is alive
    ]
    assert [log["posted"], log["posted again"]] == [True, False]
    assert log["get R1"].outcome_ts == "111.222"
    assert log["late answer after post"] is Recorded.MERGED
    assert log["retry"].attempt == 2
    assert log["retry while claimed"] is None
    assert log["record unsent"] is Recorded.IGNORED  # attempt 2 was never marked sent


async def test_follow_up_scheduling() -> None:
    log = answers(await follow_up(FakeStore()))

    assert log["due before posted"] == []
    assert (log["due early"], log["due"]) == ([], ["R1"])
    assert (log["claim early"], log["claim"], log["claim again"]) == (False, True, False)
    # confirm_outcomes settles only unknown jobs.
    assert [j.outcome for j in log["after confirm"].jobs] == [Outcome.SUCCESS] * 3
    assert log["after confirm"].state is RequestState.DONE
    assert log["fail started"] == ["J1", "J3"]  # request order
    assert log["fail started again"] == []
    assert (log["deadline"], log["deadline kept"]) == (T0 + 900, T0 + 900)
    assert (log["settled notice"], log["settled notice again"]) == (True, False)
    assert log["due after the end"] == []


async def test_messages_and_channels() -> None:
    log = answers(await messages(FakeStore()))

    assert log["overlapping"] == {"R2": 2, "R3": 1}  # R4 was cancelled
    assert (log["begin message"], log["begin message again"]) == (
        PostTurn(True, None),
        PostTurn(True, T0 + 5),
    )
    assert log["begin message elsewhere"] == PostTurn(False, T0 + 5)  # P is alive
    assert log["get R1"].message_ts == "1.1"
    # R1 is posted and needs an approver; R3 is posted but waits for its own confirmation.
    assert log["unconfirmed"] == ["R2", "R3"]
    assert (log["lose channel"], log["lose channel again"]) == (True, False)
    assert log["get R1"].channel_problem == "is_archived"
    assert log["stale marked"] == ["R1"]
    assert log["stale after loss"] == []
    assert log["recent"] == ["R4", "R2", "R3"]  # newest first; ties by id

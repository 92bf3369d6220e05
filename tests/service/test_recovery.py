"""Maintenance: work a crash or another process left behind, under leases and a grace time;
each item retried on its own with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from bot.core.model import JobResult, Outcome
from bot.core.precheck import JobPrecheck, PrecheckState
from bot.core.request import AuditKind, RequestState, StartState
from bot.service import Service
from bot.service.ports import NotShown
from bot.service.prechecking import UNWATCHED_AFTER
from tests.conftest import BOB, DAVE
from tests.service.fakes import FakeDrs, FakeNotifier, FakeStore
from tests.service.support import (
    JOBS,
    ServiceFactory,
    approve_in_store,
    draft,
    outcome_posted_once,
    settle,
    submitted,
)

if TYPE_CHECKING:
    from tests.conftest import FakeClock


async def test_a_claimed_start_older_than_the_grace_is_started(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await submitted(service)
    await approve_in_store(store, rid, fake_clock())  # the approver's process died here

    fake_clock.advance(59)
    await service.recovery.round()
    assert drs.started == []  # within the grace: maybe still its process's own work

    fake_clock.advance(1)
    await service.recovery.round()
    await settle(service)
    await service.recovery.round()

    assert drs.started == [(JOBS, None, "en-us")]
    assert len(notifier.outcomes_of(rid)) == 1
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.POSTED


async def test_a_claimed_start_of_a_process_no_longer_alive_is_started_at_once(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await submitted(service)
    await store.keep_alive("proc-B", now=fake_clock(), until=fake_clock() + 10)
    await approve_in_store(store, rid, fake_clock(), owner="proc-B")

    fake_clock.advance(9)
    await service.recovery.round()
    assert drs.started == []  # proc-B is alive: its own work

    fake_clock.advance(2)  # proc-B did not renew its row: it is gone, long before the grace
    await service.recovery.round()
    await settle(service)
    await service.recovery.round()

    assert drs.started == [(JOBS, None, "en-us")]
    assert len(notifier.outcomes_of(rid)) == 1


async def test_this_process_keeps_itself_alive_for_two_thirds_of_a_lease(
    service: Service, store: FakeStore, fake_clock: FakeClock
) -> None:
    lease = service.ctx.tuning.lease_seconds
    task = asyncio.create_task(service.recovery.keep_alive())
    try:
        for _ in range(100):  # its first write is made at once, before its first sleep
            if service.ctx.owner in store.alive:
                break
            await asyncio.sleep(0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert store.alive[service.ctx.owner] == fake_clock() + 2 * lease / 3
    assert await store.live_owners(fake_clock() + 2 * lease / 3 - 0.1) == {service.ctx.owner}
    assert await store.live_owners(fake_clock() + 2 * lease / 3) == frozenset()


async def _sent_by_another(service: Service, store: FakeStore, clock: FakeClock) -> str:
    """A start another process marked sent (lease 15 s) and then went silent."""
    rid = await submitted(service)
    await approve_in_store(store, rid, clock())
    assert await store.mark_sent(rid, 1, now=clock(), owner="proc-B", lease=15.0)
    return rid


async def test_a_sent_start_under_a_live_lease_is_left_alone(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _sent_by_another(service, store, fake_clock)

    fake_clock.advance(14)
    await service.recovery.round()

    assert drs.started == []
    assert drs.status_calls == []
    start = await store.start(rid, 1)
    assert start is not None
    assert (start.state, start.lease_owner) == (StartState.SENT, "proc-B")
    assert AuditKind.TAKEN_OVER not in store.kinds(rid)
    # Asked to take it over anyway, the store's conditional update refuses while it lives.
    await service.steps.take_over(start)
    assert drs.status_calls == []
    after = await store.start(rid, 1)
    assert after is not None
    assert after.lease_owner == "proc-B"


async def test_an_expired_lease_is_taken_over_and_reconciled_without_a_second_start(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _sent_by_another(service, store, fake_clock)
    drs.set_status("J1", "STARTJOBING")  # DRS got proc-B's call for J1 at least
    drs.set_status("J3", "START_JOB_FAILED")

    fake_clock.advance(15)
    await service.recovery.round()

    assert drs.started == []  # never sent blindly again
    assert drs.status_calls == [JOBS]
    req = await store.get(rid)
    assert req is not None
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.UNKNOWN, Outcome.FAILED]
    assert req.state is RequestState.UNKNOWN
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.POSTED
    assert start.lease_owner == "proc-A"
    kinds = store.kinds(rid)
    assert kinds.count(AuditKind.TAKEN_OVER) == 1
    assert kinds.count(AuditKind.RECOVERED) == 1
    (posted,) = notifier.outcomes_of(rid)
    assert posted.view.retryable == 0  # proc-B's call may still be acted on: no Retry yet


async def test_retry_waits_until_a_dead_senders_call_can_no_longer_act(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _sent_by_another(service, store, fake_clock)
    fake_clock.advance(15)
    await service.recovery.round()
    # J1..J3 unknown; the follow-up sees them still configured: they may be sent again...
    await store.update_drs_statuses(rid, dict.fromkeys(JOBS, "CONFIGURATION"))

    early = await service.commands.retry(rid, BOB)
    assert not early.ok
    assert "Retry is possible from" in early.text

    fake_clock.advance(60)
    late = await service.commands.retry(rid, BOB)
    await settle(service)
    assert late.ok
    assert [ids for ids, _, _ in drs.started] == [JOBS]


async def test_the_senders_late_answer_is_merged_into_the_takeovers_record(
    new_service: ServiceFactory,
    store: FakeStore,
    notifier: FakeNotifier,
    drs: FakeDrs,
    fake_clock: FakeClock,
) -> None:
    a = new_service(owner="proc-A")
    b = new_service(owner="proc-B", first_id=100)
    rid = await submitted(a)
    await approve_in_store(store, rid, fake_clock())
    drs.hold = asyncio.Event()  # DRS takes its time answering proc-A
    drs.answers["J3"] = JobResult("J3", Outcome.FAILED, "DRS.M01504", "busy")
    sending = asyncio.create_task(a.steps.run_start(rid, 1))
    while not drs.started:
        await asyncio.sleep(0)

    # proc-A's lease runs out (it cannot renew: say it lost the database for a while).
    fake_clock.advance(16)
    drs.set_status("J1", "STARTJOBING")
    await b.recovery.round()
    taken = await store.get(rid)
    assert taken is not None
    assert [j.outcome for j in taken.jobs] == [Outcome.SUCCESS, Outcome.UNKNOWN, Outcome.UNKNOWN]

    drs.hold.set()
    assert await sending is True
    await settle(a)
    await settle(b)

    assert len(drs.started) == 1
    req = await store.get(rid)
    assert req is not None
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.FAILED]
    assert req.state is RequestState.DONE
    assert store.kinds(rid).count(AuditKind.MERGED) == 1
    assert len(notifier.outcomes_of(rid)) == 1  # posted once (by proc-B), then updated
    assert notifier.outcome_updates[-1][0].state is RequestState.DONE


async def test_two_processes_finding_the_same_unposted_outcome_post_it_once(
    new_service: ServiceFactory, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    """After an outage, both replicas' maintenance finds a recorded outcome nobody posted in
    the same round: while one's post is in flight (Slack slow, the message not yet there to
    be found), the other must not post it too; the outcome is in the thread once."""
    a = new_service(owner="proc-A")
    b = new_service(owner="proc-B", first_id=100)
    rid = await submitted(a)
    await approve_in_store(store, rid, fake_clock())
    notifier.fail("post_outcome", NotShown("Slack answers 503"), times=1)
    with contextlib.suppress(NotShown):
        await a.steps.run_start(rid, 1)  # recorded; its post failed
    await settle(a)
    assert notifier.outcomes == []
    fake_clock.advance(60)  # past the recovery grace: any replica's maintenance posts it
    notifier.outcome_hold = asyncio.Event()
    rounds = [asyncio.create_task(p.recovery.round()) for p in (a, b)]
    await asyncio.sleep(0.05)
    assert notifier.outcomes_in_flight == 1  # one post in flight; the other process left it
    notifier.outcome_hold.set()
    await asyncio.gather(*rounds)
    await asyncio.gather(settle(a), settle(b))
    await outcome_posted_once(store, notifier, rid)


async def test_a_failing_item_does_not_stop_the_next_and_backs_off(
    service: Service, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    first = await submitted(service)
    second = await submitted(service, draft(requester=DAVE))
    for rid in (first, second):
        await approve_in_store(store, rid, fake_clock())
        fake_clock.advance(1)
    notifier.fail("post_outcome", NotShown("Slack answers 503"), request_id=first)
    notifier.fail("post_outcome", NotShown("Slack answers 503"), request_id=second, times=1)
    for rid in (first, second):
        # The background task would log the fault; maintenance takes over.
        with contextlib.suppress(NotShown):
            await service.steps.run_start(rid, 1)
    await settle(service)
    assert notifier.outcomes == []

    fake_clock.advance(60)
    await service.recovery.round()

    assert notifier.tries("post_outcome", first) == 2
    assert [p.req.id for p in notifier.outcomes] == [second]  # after the first one failed
    key = f"posting the outcome of {first}#1"
    assert service.recovery.items.waiting(key) == fake_clock() + 5

    fake_clock.advance(4)
    await service.recovery.round()
    assert notifier.tries("post_outcome", first) == 2  # backing off: not tried

    notifier.heal("post_outcome")
    fake_clock.advance(1)
    await service.recovery.round()
    assert notifier.tries("post_outcome", first) == 3
    assert [p.req.id for p in notifier.outcomes] == [second, first]
    assert service.recovery.items.waiting(key) is None


async def test_maintenance_expires_pending_requests_past_their_time(
    service: Service, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    rid = await submitted(service)

    fake_clock.advance(3599)
    await service.recovery.round()
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.PENDING

    fake_clock.advance(1)
    await service.recovery.round()
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.EXPIRED
    assert req.decided_by is None
    assert [r.state for r, _ in notifier.request_updates] == [RequestState.EXPIRED]


async def test_maintenance_publishes_a_request_a_crash_left_unposted(
    service: Service, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    notifier.fail("post_request", NotShown("Slack answers 500"), times=1)
    rid = await submitted(service)  # the background post failed (logged)
    assert notifier.requests == []

    fake_clock.advance(60)
    await service.recovery.round()

    (posted,) = notifier.requests
    assert posted.earlier is not None  # the first try may have posted: look for it first
    req = await store.get(rid)
    assert req is not None
    assert req.message_ts == posted.ts


async def test_a_request_message_another_live_process_holds_is_not_posted_twice(
    new_service: ServiceFactory, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    """proc-A began the post and is alive; proc-B's maintenance, once the grace has passed,
    finds the request unposted but leaves the post to proc-A, which posts it once."""
    a = new_service(owner="proc-A")
    b = new_service(owner="proc-B", first_id=100)
    notifier.fail("post_request", NotShown("Slack answers 500"), times=1)
    rid = await submitted(a)  # proc-A claimed the post; Slack failed it
    assert notifier.requests == []

    fake_clock.advance(120)  # past the grace: proc-B's maintenance lists it
    await store.keep_alive("proc-A", now=fake_clock(), until=fake_clock() + 10)
    await b.recovery.round()
    await settle(b)
    assert notifier.requests == []  # proc-A holds the post and is alive

    await a.recovery.round()
    await settle(a)
    (posted,) = notifier.requests
    assert posted.earlier is not None
    req = await store.get(rid)
    assert req is not None and req.message_ts == posted.ts


async def test_a_request_message_whose_holder_died_is_posted_by_another_once(
    new_service: ServiceFactory, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    """proc-A claimed the post and died before Slack answered (its lease lapses); proc-B
    takes the post over, looks for proc-A's message first, and posts it once."""
    a = new_service(owner="proc-A")
    b = new_service(owner="proc-B", first_id=100)
    notifier.fail("post_request", NotShown("the process died here"), times=1)
    rid = await submitted(a)
    assert notifier.requests == []

    fake_clock.advance(30)  # proc-A renews nothing: its lease (2/3 of 15 s) has lapsed
    await b.recovery.round()
    await settle(b)
    (posted,) = notifier.requests
    assert posted.earlier is not None  # proc-A's post may have reached Slack: looked for first
    req = await store.get(rid)
    assert req is not None and req.message_ts == posted.ts
    await a.recovery.round()  # proc-A coming back finds it posted
    await settle(a)
    assert len(notifier.requests) == 1


async def test_a_running_precheck_whose_poller_died_is_polled_again(
    service: Service, store: FakeStore, drs: FakeDrs, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    """A replica started DRS's precheck and died before reading the result: once nobody has
    read it for UNWATCHED_AFTER, maintenance polls it, and the message shows the result."""
    fake_clock.now = time.time()  # the fake DRS stamps its reads with the real time
    rid = await submitted(service)
    started = max(p.read_at for p in (await store.prechecks(rid)).values()) + 1e-6
    running = [JobPrecheck(j, PrecheckState.RUNNING, read_at=started) for j in JOBS]
    await store.save_prechecks(rid, running)
    assert {p.state for p in (await store.prechecks(rid)).values()} == {PrecheckState.RUNNING}
    drs.precheck_reads.clear()
    updates = len(notifier.request_updates)

    fake_clock.advance(UNWATCHED_AFTER - 1)
    await service.recovery.round()
    await settle(service)
    assert drs.precheck_reads == []  # its poller may still be alive, between two reads

    fake_clock.advance(2)
    await service.recovery.round()
    await service.recovery.round()  # polled by this process already: not twice
    await settle(service)
    assert drs.precheck_reads == [tuple(JOBS)]
    stored = await store.prechecks(rid)
    assert {p.state for p in stored.values()} == {PrecheckState.PASSED}
    assert len(notifier.request_updates) > updates  # the message shows it
    await service.recovery.round()
    await settle(service)
    assert drs.precheck_reads == [tuple(JOBS)]  # read, so watched again: nothing more


async def test_two_processes_finding_the_same_unwatched_precheck_poll_it_once(
    new_service: ServiceFactory, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    """Both replicas' maintenance finds a dead poller's precheck in the same round: the one
    whose claim of the poll succeeds reads DRS, the other leaves it; a poll claimed by a
    process that then died is taken up once its lease (UNWATCHED_AFTER) has lapsed."""
    fake_clock.now = time.time()  # the fake DRS stamps its reads with the real time
    a = new_service(owner="proc-A")
    b = new_service(owner="proc-B", first_id=100)
    rid = await submitted(a)
    started = max(p.read_at for p in (await store.prechecks(rid)).values()) + 1e-6
    await store.save_prechecks(
        rid, [JobPrecheck(j, PrecheckState.RUNNING, read_at=started) for j in JOBS]
    )
    drs.precheck_reads.clear()
    fake_clock.advance(UNWATCHED_AFTER + 1)
    now = fake_clock()
    # A third process claimed the poll a moment ago and died before its first read.
    assert await store.claim_precheck_poll(
        rid, owner="proc-C", now=now, until=now + UNWATCHED_AFTER
    )
    await asyncio.gather(a.recovery.round(), b.recovery.round())
    await asyncio.gather(settle(a), settle(b))
    assert drs.precheck_reads == []  # proc-C holds it: it may be about to read

    fake_clock.advance(UNWATCHED_AFTER)
    await asyncio.gather(a.recovery.round(), b.recovery.round())
    await asyncio.gather(settle(a), settle(b))
    assert drs.precheck_reads == [tuple(JOBS)]  # one poll, not one per process
    assert store.precheck_polls[rid][0] in {"proc-A", "proc-B"}
    stored = await store.prechecks(rid)
    assert {p.state for p in stored.values()} == {PrecheckState.PASSED}


async def test_maintenance_stops_when_cancelled_as_it_is_woken(service: Service) -> None:
    """Shutting down (Bot.aclose cancels the maintenance task) while a note's wake-up arrives
    must still stop the rounds: a wake-up that swallowed the cancellation left the task
    running and the shutdown waiting for it forever."""
    task = asyncio.create_task(service.recovery.run(60.0))
    await asyncio.sleep(0.05)  # a round done, waiting for the next
    service.recovery.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    if not done:
        task.cancel()  # let the test end either way
    assert done and task.cancelled()


async def test_background_loops_stop_when_a_cancellation_comes_back_as_an_error(
    service: Service, store: FakeStore
) -> None:
    """psycopg behind PgBouncer can turn a cancelled statement into an error of its own: the
    maintenance and follow-up loops, which catch errors to go on, must still stop."""

    async def cancelled_as_an_error(*args: object, **kwargs: object) -> list[str]:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("the pooler answered the cancel request with an error") from None
        return []

    store.due_followups = cancelled_as_an_error  # type: ignore[method-assign]
    store.expired_pending = cancelled_as_an_error  # type: ignore[method-assign]
    loops = [
        asyncio.create_task(service.followup.run(0.01)),
        asyncio.create_task(service.recovery.run(0.01)),
    ]
    await asyncio.sleep(0.05)  # each waiting in its store call
    for task in loops:
        task.cancel()
    done, pending = await asyncio.wait(loops, timeout=2.0)
    for task in pending:
        task.cancel()
    assert not pending
    assert all(task.cancelled() for task in done)

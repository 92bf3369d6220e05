"""Sending a claimed start (at most once) and recording what DRS answered."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bot.core.model import CallFailure, CallFailureKind, JobResult, Outcome
from bot.core.request import AuditKind, RequestState, StartState
from bot.core.status import SCHEDULE_PASSED_CODE
from bot.service import Service
from bot.service.ports import (
    ChannelGone,
    ChannelLost,
    NotShown,
    OutcomeDirect,
    StoreUnavailable,
    Verdict,
)
from tests.conftest import BOB, CAROL
from tests.service.fakes import FakeDrs, FakeDrsError, FakeNotifier, FakeStore
from tests.service.support import JOBS, approve_in_store, draft, settle, submitted

if TYPE_CHECKING:
    from tests.conftest import FakeClock


async def _claimed(service: Service, store: FakeStore, clock: FakeClock, **kw: object) -> str:
    """A posted prod request, approved in the store: attempt 1 claimed, nothing sent."""
    rid = await submitted(service, draft(**kw))  # type: ignore[arg-type]
    await approve_in_store(store, rid, clock())
    return rid


async def test_run_start_sends_once(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _claimed(service, store, fake_clock)

    assert await service.steps.run_start(rid, 1) is True
    assert await service.steps.run_start(rid, 1) is False
    await settle(service)

    assert drs.started == [(JOBS, None, "en-us")]
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.POSTED
    assert start.lease_owner == "proc-A"


async def test_an_approval_is_sent_from_what_its_decision_returned(
    service: Service, store: FakeStore, drs: FakeDrs
) -> None:
    rid = await submitted(service)
    store.calls.clear()
    reply = await service.commands.approve(rid, BOB, None)
    assert reply.ok
    await settle(service)
    assert drs.started == [(JOBS, None, "en-us")]
    # Neither the request nor its claimed start is read again between the decision and the
    # mark "sent": two statements fewer per approval.
    sending = store.calls[store.calls.index("decide") : store.calls.index("mark_sent")]
    assert "get" not in sending and "start" not in sending


async def test_an_approval_sent_meanwhile_by_another_process_is_not_sent_again(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await submitted(service)
    decided = await store.decide(
        Verdict(rid, target=RequestState.APPROVED, actor=BOB, now=fake_clock(), owner="proc-A")
    )
    assert decided.won and decided.request is not None
    # Maintenance elsewhere sent it first (a process stalled between its decision and send).
    assert await store.mark_sent(rid, 1, now=fake_clock(), owner="proc-B", lease=15.0)
    assert await service.steps.run_start(rid, 1, decided=decided.request) is False
    await settle(service)
    assert drs.started == []


async def test_a_database_fault_before_sending_leaves_the_start_claimed_then_resumed(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    """The precheck re-read before sending cannot be stored (the database went away): the
    start is not marked sent, so no DRS call is owed; maintenance sends it once after."""
    rid = await _claimed(service, store, fake_clock)
    store.broken["save_prechecks"] = StoreUnavailable("the database is not reachable")

    with pytest.raises(StoreUnavailable):
        await service.steps.run_start(rid, 1)
    start = await store.start(rid, 1)
    assert start is not None and start.state is StartState.CLAIMED
    assert drs.started == []

    del store.broken["save_prechecks"]
    fake_clock.advance(120)  # past the grace: maintenance resumes what was claimed
    await service.recovery.round()
    await settle(service)
    assert drs.started == [(JOBS, None, "en-us")]
    start = await store.start(rid, 1)
    assert start is not None and start.state is StartState.POSTED


async def test_two_run_starts_at_once_send_once(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _claimed(service, store, fake_clock)

    sent = await asyncio.gather(service.steps.run_start(rid, 1), service.steps.run_start(rid, 1))
    await settle(service)

    assert sorted(sent) == [False, True]
    assert len(drs.started) == 1
    assert store.calls.count("mark_sent") == 2  # the loser lost at the conditional update


async def test_a_start_whose_time_passed_is_not_sent(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _claimed(service, store, fake_clock, start_time_ms=int((fake_clock() + 100) * 1000))
    fake_clock.advance(200)

    await service.steps.run_start(rid, 1)
    await settle(service)

    assert drs.started == []
    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.FAILED
    assert {j.error_code for j in req.jobs} == {SCHEDULE_PASSED_CODE}
    assert all(j.outcome is Outcome.FAILED for j in req.jobs)
    assert len(notifier.outcomes_of(rid)) == 1


async def test_per_job_results_are_recorded(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.answers["J2"] = JobResult("J2", Outcome.FAILED, "DRS.M01504", "another operation runs")
    drs.answers["J3"] = JobResult("J3", Outcome.SUCCESS, order_id="ORDER-3")
    rid = await _claimed(service, store, fake_clock)

    await service.steps.run_start(rid, 1)
    await settle(service)

    req = await store.get(rid)
    assert req is not None
    assert [(j.outcome, j.error_code) for j in req.jobs] == [
        (Outcome.SUCCESS, None),
        (Outcome.FAILED, "DRS.M01504"),
        (Outcome.SUCCESS, None),
    ]
    assert req.jobs[2].order_id == "ORDER-3"
    assert req.state is RequestState.DONE  # one started: done, with a failure shown
    (posted,) = notifier.outcomes_of(rid)
    assert posted.view.attempt == 1
    assert posted.view.retryable == 1  # DRS.M01504 may be sent again
    assert posted.view.failures == []
    kinds = store.kinds(rid)
    assert kinds.count(AuditKind.OUTCOME) == 1
    assert kinds.count(AuditKind.DRS_CALL) == 1
    # The follow-up's first round is due soon (DRS moves a started task on within seconds).
    assert store.followup_next_at(rid) == fake_clock() + 2.0


async def test_a_whole_call_failure_fails_every_job_and_is_shown(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.whole_call = CallFailure(
        CallFailureKind.AUTH, "IAM refused the token", http_status=403, error_code="APIGW.0301"
    )
    rid = await _claimed(service, store, fake_clock)

    await service.steps.run_start(rid, 1)
    await settle(service)

    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.FAILED
    assert {j.outcome for j in req.jobs} == {Outcome.FAILED}
    (posted,) = notifier.outcomes_of(rid)
    assert [(f.kind, f.http_status, f.error_code) for f in posted.view.failures] == [
        (CallFailureKind.AUTH, 403, "APIGW.0301")
    ]


async def test_a_call_that_may_have_been_processed_leaves_the_jobs_unknown(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.whole_call = CallFailure(CallFailureKind.TIMEOUT, "no answer", maybe_processed=True)
    rid = await _claimed(service, store, fake_clock)

    await service.steps.run_start(rid, 1)
    await settle(service)

    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.UNKNOWN
    assert {j.outcome for j in req.jobs} == {Outcome.UNKNOWN}


async def test_a_start_call_that_raises_is_reconciled_from_batch_status(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.fail("batch_start", FakeDrsError(CallFailure(CallFailureKind.PROTOCOL, "garbled")))
    rid = await _claimed(service, store, fake_clock)
    drs.set_status("J1", "STARTJOBING")  # DRS took J1; J2 still configured; J3 failed
    drs.set_status("J3", "START_JOB_FAILED")

    await service.steps.run_start(rid, 1)
    await settle(service)

    assert len(drs.started) == 1
    assert drs.status_calls == [JOBS]
    req = await store.get(rid)
    assert req is not None
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.UNKNOWN, Outcome.FAILED]
    assert AuditKind.RECOVERED in store.kinds(rid)


async def test_post_outcome_posts_once(
    service: Service, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    rid = await _claimed(service, store, fake_clock)
    await service.steps.run_start(rid, 1)
    await settle(service)

    await service.steps.post_outcome(rid, 1)
    await service.steps.post_outcome(rid, 1)

    (posted,) = notifier.outcomes_of(rid)
    req = await store.get(rid)
    assert req is not None
    assert req.outcome_ts == posted.ts


async def test_a_lost_channel_is_recorded_once_and_the_requester_told_directly(
    service: Service, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    rid = await _claimed(service, store, fake_clock)
    notifier.fail("post_outcome", ChannelLost("is_archived"))
    notifier.fail("update_request", ChannelLost("is_archived"))

    # Sending refreshes the message and posts the outcome: both refused, one loss recorded.
    await service.steps.run_start(rid, 1)
    await settle(service)

    req = await store.get(rid)
    assert req is not None
    assert req.channel_problem == "is_archived"
    assert store.kinds(rid).count(AuditKind.CHANNEL_LOST) == 1
    told = notifier.told_to(rid)
    assert told.count(ChannelGone("is_archived")) == 1
    assert [type(n) for n in told].count(OutcomeDirect) == 1
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.POSTED  # shown, directly: not posted again
    assert req.outcome_ts is None


async def test_a_passing_fault_leaves_the_outcome_to_post_again_where_it_began(
    service: Service, store: FakeStore, notifier: FakeNotifier, fake_clock: FakeClock
) -> None:
    rid = await _claimed(service, store, fake_clock)
    notifier.fail("post_outcome", NotShown("rate limited"), times=1)
    first_try = fake_clock()

    # The background task ends with the fault (logged); maintenance posts it later.
    with pytest.raises(NotShown):
        await service.steps.run_start(rid, 1)
    await settle(service)
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.RECORDED
    assert notifier.outcomes_of(rid) == []

    fake_clock.advance(5)
    await service.steps.post_outcome(rid, 1)

    (posted,) = notifier.outcomes_of(rid)
    assert posted.earlier == first_try  # look for the first try's message before posting


async def test_retry_sends_only_the_retryable_jobs_as_a_new_attempt(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.answers["J2"] = JobResult("J2", Outcome.FAILED, "DRS.M01504", "busy")
    drs.answers["J3"] = JobResult("J3", Outcome.FAILED, "DRS.M05003", "no such job")
    rid = await _claimed(service, store, fake_clock)
    await service.steps.run_start(rid, 1)
    await settle(service)
    drs.answers.clear()

    reply = await service.commands.retry(rid, CAROL)
    await settle(service)

    assert reply.ok
    assert [ids for ids, _, _ in drs.started] == [JOBS, ("J2",)]
    req = await store.get(rid)
    assert req is not None
    assert [j.outcome for j in req.jobs] == [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.FAILED]
    assert [p.view.attempt for p in notifier.outcomes_of(rid)] == [1, 2]
    assert notifier.outcomes_of(rid)[1].view.actor == CAROL
    assert not (await service.commands.retry(rid, BOB)).ok  # nothing retryable left

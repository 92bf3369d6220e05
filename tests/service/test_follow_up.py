"""Following DRS after a start: unknown jobs confirmed, tasks failing after their start, the
settled notice (once), giving up at the deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.model import JobInfo, JobResult, Outcome
from bot.core.request import AuditKind, RequestState
from bot.service import Service
from bot.service.ports import (
    ChannelGone,
    ChannelLost,
    FailedAfterStart,
    NoteDirect,
    Settled,
    StoppedFollowing,
)
from tests.conftest import BOB
from tests.service.fakes import FakeDrs, FakeNotifier, FakeStore
from tests.service.support import JOBS, draft, settle, submitted

if TYPE_CHECKING:
    from tests.conftest import FakeClock


async def _started(service: Service, **kw: object) -> str:
    rid = await submitted(service, draft(**kw))  # type: ignore[arg-type]
    assert (await service.commands.approve(rid, BOB, None)).ok
    await settle(service)
    return rid


def _all(drs: FakeDrs, status: str) -> None:
    for job in JOBS:
        drs.set_status(job, status)


async def test_an_unknown_job_is_confirmed_by_batch_status(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.answers["J1"] = JobResult("J1", Outcome.UNKNOWN, error_msg="missing from the answer")
    rid = await _started(service)
    before = await store.get(rid)
    assert before is not None
    assert before.state is RequestState.UNKNOWN
    _all(drs, "FULL_TRANSFER_STARTED")

    fake_clock.advance(30)
    await service.recovery.round()

    req = await store.get(rid)
    assert req is not None
    assert req.jobs[0].outcome is Outcome.SUCCESS
    assert req.state is RequestState.DONE
    assert {j.drs_status for j in req.jobs} == {"FULL_TRANSFER_STARTED"}
    assert [r.state for r, _ in notifier.outcome_updates] == [RequestState.DONE]
    assert notifier.notes_of(rid) == [Settled()]
    assert store.kinds(rid).count(AuditKind.FOLLOWUP) == 1
    assert store.is_stale(rid)  # the channel message shows DRS's statuses: refreshed next


async def test_a_job_still_configured_stays_unknown_and_is_followed_again(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.answers["J1"] = JobResult("J1", Outcome.UNKNOWN)
    rid = await _started(service)
    # J1 did not start (still CONFIGURATION); the others run.
    drs.set_status("J2", "FULL_TRANSFER_STARTED")
    drs.set_status("J3", "FULL_TRANSFER_STARTED")

    fake_clock.advance(30)
    await service.followup.round(rid)

    req = await store.get(rid)
    assert req is not None
    assert req.jobs[0].outcome is Outcome.UNKNOWN
    assert req.state is RequestState.UNKNOWN
    assert notifier.notes_of(rid) == []
    # DRS moved J2 and J3 just now: the next round comes soon (the pace starts over).
    assert store.followup_next_at(rid) == fake_clock() + 2.0


async def test_a_task_failing_after_its_start_turns_failed_with_drs_reason(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _started(service)
    _all(drs, "INCRE_TRANSFER_STARTED")
    # J1's status carries no reason: batch-detail's failed_reason gives it. J3's does.
    drs.set_status("J1", "START_JOB_FAILED", extra={"failed_reason": "disk full on target"})
    drs.set_status("J3", "FULL_TRANSFER_FAILED", error_msg="source unreachable")

    fake_clock.advance(30)
    await service.followup.round(rid)

    req = await store.get(rid)
    assert req is not None
    assert [(j.outcome, j.error_code, j.error_msg) for j in req.jobs] == [
        (Outcome.FAILED, "START_JOB_FAILED", "disk full on target"),
        (Outcome.SUCCESS, None, None),
        (Outcome.FAILED, "FULL_TRANSFER_FAILED", "source unreachable"),
    ]
    assert req.state is RequestState.DONE  # J2 runs
    assert drs.detail_calls[-1] == ("J1",)
    assert notifier.notes_of(rid) == [FailedAfterStart(("J1", "J3")), Settled()]
    (event,) = [e for e in await store.events(rid) if e.kind is AuditKind.START_FAILED]
    assert event.detail["job_ids"] == ["J1", "J3"]


async def test_every_task_failing_after_start_fails_the_request_and_says_so_once(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _started(service)
    _all(drs, "START_JOB_FAILED")

    fake_clock.advance(30)
    await service.followup.round(rid)
    # Another round (made due by hand): the failures are known, nothing is said again.
    await store.schedule_followup(rid, next_at=fake_clock())
    await service.followup.round(rid)

    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.FAILED
    assert notifier.notes_of(rid) == [FailedAfterStart(JOBS), Settled()]
    assert store.kinds(rid).count(AuditKind.START_FAILED) == 1


async def test_the_settled_notice_is_given_once_across_a_scheduled_start(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    at = fake_clock() + 1800
    rid = await _started(service, start_time_ms=int(at * 1000))
    _all(drs, "WAITING_FOR_START")

    fake_clock.advance(30)
    await service.recovery.round()
    assert notifier.notes_of(rid) == [Settled()]
    # Followed again shortly after their time comes (DRS moves them on then).
    assert store.followup_next_at(rid) == at + 2.0

    fake_clock.advance(at + 30 - fake_clock())
    _all(drs, "FULL_TRANSFER_STARTED")
    await service.recovery.round()
    fake_clock.advance(30)
    await service.recovery.round()

    assert notifier.notes_of(rid) == [Settled()]
    assert len(drs.status_calls) == 2
    assert store.kinds(rid).count(AuditKind.FOLLOWUP) == 1
    req = await store.get(rid)
    assert req is not None
    assert req.followup_done


async def test_the_follow_up_gives_up_at_its_deadline(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _started(service)
    _all(drs, "STARTJOBING")  # never settles

    for _ in range(25):
        fake_clock.advance(30)
        await service.recovery.round()

    assert notifier.notes_of(rid) == [StoppedFollowing(600.0)]
    assert len(drs.status_calls) == 20  # every 30 s for the 600 s the follow-up lasts
    req = await store.get(rid)
    assert req is not None
    assert req.followup_done


async def test_notes_go_to_the_requester_once_the_channel_is_lost(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    rid = await _started(service)
    _all(drs, "START_JOB_FAILED")
    notifier.fail("note", ChannelLost("is_archived"))

    fake_clock.advance(30)
    await service.followup.round(rid)

    told = notifier.told_to(rid)
    assert NoteDirect(FailedAfterStart(JOBS)) in told
    assert NoteDirect(Settled()) in told
    assert store.kinds(rid).count(AuditKind.CHANNEL_LOST) == 1
    assert [n for n in told if isinstance(n, ChannelGone)] == [ChannelGone("is_archived")]


async def test_follow_up_rounds_in_flight_are_bounded(
    service: Service, store: FakeStore, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    """Due rounds of many requests at once: at most ``at_once`` of them wait on DRS together,
    so polling leaves DRS calls for the requests people are waiting on; the others run as
    soon as those finish."""
    rids = []
    for _ in range(6):
        rids.append(await _started(service))
        fake_clock.advance(61)  # a requester may make only a few requests a minute
    _all(drs, "FULL_TRANSFER_STARTED")
    release = asyncio.Event()
    in_flight, most = 0, 0
    polled: list[int] = []
    status = drs.batch_status

    async def slow_status(job_ids: Sequence[str]) -> list[JobInfo]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        polled.append(1)
        return await status(job_ids)

    drs.batch_status = slow_status  # type: ignore[method-assign]
    fake_clock.advance(60)  # every request's next round is due
    assert sorted(await store.due_followups(fake_clock())) == sorted(rids)
    runner = asyncio.create_task(service.followup.run(0.01, at_once=4))
    try:
        await asyncio.sleep(0.2)
        assert (in_flight, most) == (4, 4)
        release.set()
        for _ in range(200):
            if len(polled) >= 6:
                break
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert len(polled) >= 6 and most == 4


async def test_a_failing_round_backs_off_alone_and_the_loop_goes_on(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    """A round that raises (the database hiccups mid-round) is retried with backoff; the
    other requests' rounds and the loop looking for them go on."""
    broken = await _started(service)
    fake_clock.advance(61)
    healthy = await _started(service)
    _all(drs, "FULL_TRANSFER_STARTED")
    get = store.get

    async def flaky_get(request_id: str) -> object:
        if request_id == broken:
            raise RuntimeError("database hiccup")
        return await get(request_id)

    store.get = flaky_get  # type: ignore[method-assign,assignment]
    fake_clock.advance(60)
    assert sorted(await store.due_followups(fake_clock())) == sorted([broken, healthy])
    runner = asyncio.create_task(service.followup.run(0.01))
    try:
        for _ in range(200):
            if Settled() in notifier.notes_of(healthy):
                break
            await asyncio.sleep(0.01)
        assert not runner.done()
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert Settled() in notifier.notes_of(healthy)
    assert Settled() not in notifier.notes_of(broken)
    assert service.followup.items.waiting(f"following up {broken}") == fake_clock() + 5
    assert service.followup.items.waiting(f"following up {healthy}") is None

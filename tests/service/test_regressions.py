"""Regressions: a request told directly is still followed up, submissions that were not
stored do not count against the rate limit, and the audit trail keeps a request's schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.model import JobResult, Outcome
from bot.core.request import AuditKind, RequestState, StartState
from bot.service import Service
from bot.service.ports import ChannelLost, NoteDirect, OutcomeDirect, Settled, StoreUnavailable
from tests.conftest import BOB
from tests.service.fakes import FakeDrs, FakeNotifier, FakeStore
from tests.service.support import JOBS, draft, settle, submitted

if TYPE_CHECKING:
    from tests.conftest import FakeClock


async def test_a_request_told_directly_is_still_followed_up(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    drs.answers["J1"] = JobResult("J1", Outcome.UNKNOWN, error_msg="missing from the answer")
    rid = await submitted(service)
    notifier.fail("post_outcome", ChannelLost("is_archived"))
    notifier.fail("update_request", ChannelLost("is_archived"))
    assert (await service.commands.approve(rid, BOB, None)).ok
    await settle(service)
    start = await store.start(rid, 1)
    assert start is not None
    assert start.state is StartState.POSTED
    assert any(isinstance(n, OutcomeDirect) for n in notifier.told_to(rid))
    for job in JOBS:
        drs.set_status(job, "FULL_TRANSFER_STARTED")

    for _ in range(3):
        fake_clock.advance(30)
        await service.recovery.round()

    req = await store.get(rid)
    assert req is not None
    assert req.jobs[0].outcome is Outcome.SUCCESS
    assert req.state is RequestState.DONE
    assert NoteDirect(Settled()) in notifier.told_to(rid)


async def test_submissions_that_were_not_stored_do_not_count_against_the_rate_limit(
    service: Service, store: FakeStore
) -> None:
    store.broken["insert_request"] = StoreUnavailable("the database is locked by another process")
    for _ in range(3):
        assert not (await service.commands.submit(draft())).ok
    del store.broken["insert_request"]

    reply = await service.commands.submit(draft())

    assert reply.ok, reply.text
    assert len(store.rows) == 1


async def test_the_requested_event_keeps_the_schedule(
    service: Service, store: FakeStore, fake_clock: FakeClock
) -> None:
    at_ms = int((fake_clock() + 600) * 1000)
    rid = await submitted(service, draft(start_time_ms=at_ms))

    (requested,) = [e for e in await store.events(rid) if e.kind is AuditKind.REQUESTED]
    assert requested.detail["start_time_ms"] == at_ms

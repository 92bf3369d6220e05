"""Submitting a request: checked, stored before the answer, then posted in the background."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.model import CallFailure, CallFailureKind
from bot.core.request import AuditKind, RequestState
from bot.service import Service
from bot.service.ports import ChannelLost, NotPosted, StoreUnavailable
from tests.conftest import ALICE, CHANNEL, DAVE, MALLORY
from tests.service.fakes import FakeDrs, FakeDrsError, FakeNotifier, FakeStore
from tests.service.support import JOBS, draft, settle, submitted

if TYPE_CHECKING:
    from tests.conftest import FakeClock


async def test_submit_stores_before_answering_then_posts_in_the_background(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs, fake_clock: FakeClock
) -> None:
    reply = await service.commands.submit(draft())

    assert reply.ok
    assert reply.request is not None
    rid = reply.request.id
    stored = await store.get(rid)
    assert stored is not None
    assert stored.state is RequestState.PENDING
    assert stored.job_ids == JOBS
    assert stored.expires_at == fake_clock() + 3600.0
    assert notifier.requests == []  # not yet: the post runs after the answer

    await settle(service)

    assert [p.req.id for p in notifier.requests] == [rid]
    assert notifier.requests[0].earlier is None
    after = await store.get(rid)
    assert after is not None
    assert after.message_ts == notifier.requests[0].ts
    assert [j.name for j in after.jobs] == ["task-J1", "task-J2", "task-J3"]
    assert drs.detail_calls == [JOBS]
    assert drs.started == []  # prod needs an approver
    assert after.state is RequestState.PENDING
    (requested,) = await store.events(rid)
    assert requested.kind is AuditKind.REQUESTED
    assert requested.actor == ALICE
    assert requested.detail["jobs"] == 3


async def test_request_message_says_why_the_jobs_could_not_be_looked_up(
    service: Service, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    drs.fail("batch_detail", FakeDrsError(CallFailure(CallFailureKind.SERVER, "DRS is down")))

    await submitted(service)

    (posted,) = notifier.requests
    assert posted.view.lookup_problem is not None
    assert "DRS is down" in posted.view.lookup_problem


async def test_a_project_without_approval_starts_once_posted(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    rid = await submitted(service, draft("dev", requester=DAVE))

    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.DONE
    assert req.decided_by == DAVE
    assert drs.started == [(JOBS, None, "en-us")]
    assert len(notifier.outcomes_of(rid)) == 1


async def test_a_list_from_a_pattern_waits_for_the_requesters_start(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    rid = await submitted(service, draft("dev", source="name matches nightly-*"))

    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.PENDING
    assert drs.started == []
    assert [(r.id, source) for r, source in notifier.job_lists] == [(rid, "name matches nightly-*")]
    assert notifier.requests[0].view.source == "name matches nightly-*"


async def test_rate_limit_per_user_per_minute(
    service: Service, store: FakeStore, fake_clock: FakeClock
) -> None:
    for _ in range(3):
        assert (await service.commands.submit(draft())).ok

    refused = await service.commands.submit(draft())

    assert not refused.ok
    assert "3 requests in the last minute" in refused.text
    assert len(store.rows) == 3
    # Another person is not held up by Alice's requests.
    assert (await service.commands.submit(draft(requester=DAVE))).ok
    fake_clock.advance(60)
    assert (await service.commands.submit(draft())).ok
    assert len(store.rows) == 5


async def test_someone_not_a_requester_is_refused_and_nothing_is_stored(
    service: Service, store: FakeStore, notifier: FakeNotifier
) -> None:
    reply = await service.commands.submit(draft(requester=MALLORY))
    await settle(service)

    assert not reply.ok
    assert "not a requester of project prod" in reply.text
    assert store.rows == {}
    assert notifier.requests == []


async def test_a_channel_outside_the_project_is_refused(service: Service, store: FakeStore) -> None:
    reply = await service.commands.submit(draft(channel="C0ELSEWHERE"))

    assert not reply.ok
    assert f"<#{CHANNEL}>" in reply.text
    assert store.rows == {}


async def test_store_unavailable_says_so_and_stores_nothing(
    service: Service, store: FakeStore, notifier: FakeNotifier
) -> None:
    store.broken["insert_request"] = StoreUnavailable("the database is locked by another process")

    reply = await service.commands.submit(draft())
    await settle(service)

    assert not reply.ok
    assert "nothing was stored" in reply.text
    assert "the database is locked by another process" in reply.text
    assert store.rows == {}
    assert store.audit_log == []
    assert notifier.requests == []


async def test_a_request_that_cannot_be_posted_is_cancelled_and_the_requester_told(
    service: Service, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    notifier.fail("post_request", ChannelLost("channel_not_found"))

    rid = await submitted(service, draft("dev", requester=DAVE))

    req = await store.get(rid)
    assert req is not None
    assert req.state is RequestState.CANCELLED
    assert req.message_ts is None
    assert notifier.told_to(rid) == [NotPosted("channel_not_found")]
    assert drs.started == []

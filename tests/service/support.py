"""What the service tests share besides fixtures: the tuning, a Service over the fakes, and
short ways to bring a request to a given point."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from bot.core.request import RequestState, StartState
from bot.service import Service
from bot.service.context import Context, Tasks
from bot.service.handoff import HandOff
from bot.service.home import HomeTab
from bot.service.model import Draft, Tuning
from bot.service.ports import Verdict
from tests.conftest import ALICE, BOB, CHANNEL
from tests.service.fakes import FakeDirectory, FakeDrs, FakeNotifier, FakeStore

if TYPE_CHECKING:
    from tests.conftest import FakeClock, PolicyFactory

TUNING = Tuning(
    expire_seconds=3600.0,
    followup_interval=30.0,
    followup_max=600.0,
    recovery_grace=60.0,
    user_requests_per_minute=3,
    lease_seconds=15.0,
    send_settle=60.0,
)

JOBS = ("J1", "J2", "J3")


ServiceFactory = Callable[..., Service]
"""``make_service`` with the fakes bound: the ``new_service`` fixture."""


def make_service(
    store: FakeStore,
    notifier: FakeNotifier,
    directory: FakeDirectory,
    drs: FakeDrs,
    clock: FakeClock,
    make_policy: PolicyFactory,
    *,
    owner: str,
    first_id: int = 1,
    notes: list[list[str]] | None = None,
    home_tab: HomeTab | None = None,
) -> Service:
    """With ``notes``, a replica that only answers (``STARTJOBS_ROLE=answer``): the notes it
    sends to the working replicas are appended there, a list per call."""
    tasks = Tasks()
    handoff = None
    if notes is not None:
        sent = notes

        async def send(batch: Sequence[str]) -> None:
            sent.append(list(batch))

        handoff = HandOff(send, tasks.spawn)
    ctx = Context(
        store=store,
        notifier=notifier,
        directory=directory,
        policy=make_policy(),
        drs_for=lambda project: drs,
        tuning=TUNING,
        clock=clock,
        owner=owner,
        tasks=tasks,
        handoff=handoff,
    )
    ids: Iterator[str] = (f"SJ-TEST{n:04d}" for n in itertools.count(first_id))
    return Service(ctx, new_id=lambda: next(ids), home_tab=home_tab)


async def settle(svc: Service) -> None:
    """Let the background tasks the use cases spawned finish (none waits on the fake clock)."""
    await svc.tasks.drain(limit=2.0)
    await asyncio.sleep(0)


def draft(
    project: str = "prod",
    jobs: Sequence[str] = JOBS,
    *,
    requester: str = ALICE,
    channel: str = CHANNEL,
    start_time_ms: int | None = None,
    source: str | None = None,
) -> Draft:
    return Draft(
        team_id="T0TEAM",
        channel_id=channel,
        requester_id=requester,
        project=project,
        job_ids=tuple(jobs),
        start_time_ms=start_time_ms,
        reason="CHG-1234 nightly migration",
        language="en-us",
        source=source,
    )


async def submitted(svc: Service, d: Draft | None = None) -> str:
    """Submit ``d`` (a prod request of Alice's by default), let it be posted; its id."""
    reply = await svc.commands.submit(d or draft())
    assert reply.ok, reply.text
    assert reply.request is not None
    await settle(svc)
    return reply.request.id


async def approve_in_store(
    store: FakeStore, request_id: str, now: float, actor: str = BOB, owner: str | None = None
) -> None:
    """Approve straight in the store (attempt 1 claimed), as another process would have;
    ``owner``: that process."""
    decision = await store.decide(
        Verdict(request_id, target=RequestState.APPROVED, actor=actor, now=now, owner=owner)
    )
    assert decision.won


async def outcome_posted_once(store: FakeStore, notifier: FakeNotifier, request_id: str) -> None:
    """Attempt 1's outcome is in the thread once, and the attempt is recorded as posted."""
    assert len(notifier.outcomes_of(request_id)) == 1
    start = await store.start(request_id, 1)
    assert start is not None and start.state is StartState.POSTED

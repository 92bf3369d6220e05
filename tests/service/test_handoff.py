"""A replica that only answers (``STARTJOBS_ROLE=answer``) and the replicas doing its work:
bot.service.handoff, and Recovery.noted / the maintenance round on the working side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from bot.core.request import StartState
from bot.service.handoff import HandOff, Note
from tests.conftest import BOB
from tests.service.fakes import FakeDrs, FakeNotifier, FakeStore
from tests.service.support import ServiceFactory, draft, outcome_posted_once, settle


def texts(notes: list[list[str]]) -> list[str]:
    return [note for batch in notes for note in batch]


async def test_an_answering_replica_leaves_posting_and_starting_to_a_working_one(
    new_service: ServiceFactory, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    notes: list[list[str]] = []
    answering = new_service(owner="answering", notes=notes)
    working = new_service(owner="working", first_id=100)

    reply = await answering.commands.submit(draft())
    assert reply.ok and reply.request is not None
    rid = reply.request.id
    await settle(answering)
    assert notifier.requests == []  # the answering replica posts nothing itself
    assert f"publish {rid} 0" in texts(notes)

    for note in texts(notes):
        working.recovery.noted(note)
    await settle(working)
    assert [p.req.id for p in notifier.requests] == [rid]

    notes.clear()
    approved = await answering.commands.approve(rid, BOB, "go ahead")
    assert approved.ok, approved.text
    await settle(answering)
    assert drs.started == []  # nothing sent by the answering replica
    assert f"start {rid} 1" in texts(notes)
    assert f"changed {rid} 0" in texts(notes)

    for note in texts(notes):
        working.recovery.noted(note)
    await settle(working)
    assert len(drs.started) == 1
    assert len(notifier.outcomes_of(rid)) == 1

    # The same note again, and the working replica's own round: nothing more.
    working.recovery.noted(f"start {rid} 1")
    await working.recovery.round()
    await settle(working)
    assert len(drs.started) == 1
    assert len(notifier.outcomes_of(rid)) == 1


async def test_with_the_notes_lost_the_next_round_takes_the_work_over_at_once(
    new_service: ServiceFactory, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    """The answering replica is never alive in the store's eyes: what it left is orphaned
    from the start, not after the recovery grace."""
    answering = new_service(owner="answering", notes=[])
    working = new_service(owner="working", first_id=100)
    reply = await answering.commands.submit(draft())
    assert reply.ok and reply.request is not None
    rid = reply.request.id
    await settle(answering)
    await working.recovery.round()
    await settle(working)
    assert [p.req.id for p in notifier.requests] == [rid]
    assert (await answering.commands.approve(rid, BOB, None)).ok
    await settle(answering)
    start = await store.start(rid, 1)
    assert start is not None and start.state is StartState.CLAIMED
    await working.recovery.round()  # the clock has not moved: well within the grace
    await settle(working)
    assert len(drs.started) == 1
    await outcome_posted_once(store, notifier, rid)


async def test_two_working_replicas_woken_by_one_note_start_once(
    new_service: ServiceFactory, store: FakeStore, notifier: FakeNotifier, drs: FakeDrs
) -> None:
    answering = new_service(owner="answering", notes=[])
    one = new_service(owner="working-1", first_id=100)
    two = new_service(owner="working-2", first_id=200)
    reply = await answering.commands.submit(draft())
    assert reply.ok and reply.request is not None
    rid = reply.request.id
    await one.steps.publish_and_run(rid)
    assert (await answering.commands.approve(rid, BOB, None)).ok
    drs.hold = asyncio.Event()
    for replica in (one, two):
        replica.recovery.noted(f"start {rid} 1")
    await asyncio.sleep(0.05)
    drs.hold.set()
    await asyncio.gather(settle(one), settle(two))
    assert len(drs.started) == 1
    assert len(notifier.outcomes_of(rid)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "start",
        "start SJ-1",
        "drop SJ-1 1",
        "start SJ-1 1; DROP TABLE starts",
        "start " + "A" * 65 + " 1",
        "start SJ-1 1234567",
        "publish SJ-1 0\n",
        "start SJ-1 1" + " " * 200,
    ],
)
def test_a_note_that_is_not_ours_is_refused(text: str) -> None:
    assert Note.parse(text) is None


def test_notes_read_back_as_written() -> None:
    for note in (Note("start", "SJ-ABCDEFGH", 2), Note("publish", "SJ-X", 0)):
        assert Note.parse(note.text()) == note


async def test_a_working_replica_ignores_a_note_it_cannot_read(
    new_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    working = new_service(owner="working")
    with caplog.at_level(logging.WARNING):
        working.recovery.noted("start SJ-1 1; DROP TABLE starts")
    await settle(working)
    assert "not one of ours" in caplog.text


async def test_the_notes_of_one_turn_go_in_one_call_each_once() -> None:
    calls: list[list[str]] = []
    running: set[asyncio.Task[None]] = set()

    async def send(batch: Sequence[str]) -> None:
        calls.append(list(batch))

    def spawn(coro: object, *, name: str) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        running.add(task)

    handoff = HandOff(send, spawn)
    for n in range(50):
        handoff.start(f"SJ-{n}", 1)
        handoff.changed(f"SJ-{n}")
    handoff.changed("SJ-0")  # again: sent once
    await asyncio.gather(*running)
    assert len(calls) == 1
    assert len(calls[0]) == 100
    assert handoff.sent == 100


async def test_a_failed_call_is_logged_and_later_notes_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[list[str]] = []
    failing = [True]
    running: list[asyncio.Future[None]] = []

    async def send(batch: Sequence[str]) -> None:
        if failing[0]:
            failing[0] = False
            raise ConnectionError("server closed the connection")
        calls.append(list(batch))

    def spawn(coro: object, *, name: str) -> None:
        running.append(asyncio.ensure_future(coro))  # type: ignore[arg-type]

    handoff = HandOff(send, spawn)
    with caplog.at_level(logging.WARNING):
        handoff.start("SJ-1", 1)
        await asyncio.gather(*running)
        handoff.start("SJ-2", 1)
        await asyncio.gather(*running)
    assert "could not wake the working replicas" in caplog.text
    assert calls == [["start SJ-2 1"]]
    assert handoff.sent == 1

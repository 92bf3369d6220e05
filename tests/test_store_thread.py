"""The store's thread: what a person waits for runs before background work queued earlier."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from bot.service.context import Tasks
from bot.service.ports import StoreUnavailable
from bot.service.urgency import answering, urgent
from bot.store import AsyncStore, Store
from bot.store.threaded import BACKGROUND, URGENT, StoreThread


def held() -> tuple[StoreThread, threading.Event, Future[bool]]:
    """A store thread busy with a call that waits for the returned gate, so that the test
    can queue calls behind it."""
    thread = StoreThread("test-store")
    gate = threading.Event()
    return thread, gate, thread.submit(gate.wait, rank=BACKGROUND)


def test_urgent_calls_overtake_queued_background_calls_each_kind_in_order() -> None:
    thread, gate, busy = held()
    ran: list[str] = []
    futures = [
        thread.submit(lambda name=name: ran.append(name), rank=rank)
        for name, rank in (("b1", BACKGROUND), ("b2", BACKGROUND), ("u1", URGENT), ("u2", URGENT))
    ]
    gate.set()
    for f in (busy, *futures):
        f.result(timeout=5)
    thread.shutdown()
    assert ran == ["u1", "u2", "b1", "b2"]


def test_a_call_whose_caller_stopped_waiting_is_not_made_and_errors_reach_the_caller() -> None:
    thread, gate, busy = held()
    ran: list[str] = []
    dropped = thread.submit(lambda: ran.append("dropped"), rank=BACKGROUND)
    assert dropped.cancel()

    def fail() -> None:
        raise ValueError("bad row")

    failing = thread.submit(fail, rank=BACKGROUND)
    gate.set()
    busy.result(timeout=5)
    with pytest.raises(ValueError, match="bad row"):
        failing.result(timeout=5)
    thread.shutdown()
    assert ran == []


def test_calls_queued_before_the_shutdown_still_run_and_later_ones_are_refused() -> None:
    thread, gate, busy = held()
    ran: list[str] = []
    queued = thread.submit(lambda: ran.append("queued"), rank=BACKGROUND)
    stopper = threading.Thread(target=thread.shutdown)
    stopper.start()
    refused = False
    for _ in range(500):  # until the shutdown has begun
        try:
            thread.submit(lambda: None, rank=BACKGROUND)
        except StoreUnavailable:
            refused = True
            break
        time.sleep(0.01)
    assert refused
    gate.set()
    stopper.join(timeout=5)
    assert not stopper.is_alive()
    busy.result(timeout=5)
    queued.result(timeout=5)
    assert ran == ["queued"]
    with pytest.raises(StoreUnavailable, match="shutting down"):
        thread.submit(lambda: ran.append("after"), rank=URGENT)
    thread.shutdown()  # a second time returns at once
    assert ran == ["queued"]


async def test_a_store_call_after_the_store_is_closed_fails_instead_of_waiting_forever(
    tmp_path: Path,
) -> None:
    store = AsyncStore(Store(str(tmp_path / "bot.db")))
    assert await store.get("SJ-NOTHERE") is None
    await store.aclose()
    with pytest.raises(StoreUnavailable, match="shutting down"):
        await asyncio.wait_for(store.get("SJ-NOTHERE"), 5.0)


async def test_a_persons_store_calls_go_before_background_ones_not_its_spawned_work(
    tmp_path: Path,
) -> None:
    """A task marked as answering a person jumps the queue; a task it hands to the service's
    tasks does not."""
    store = AsyncStore(Store(tmp_path / "bot.db"))
    order: list[str] = []
    gate = threading.Event()
    holding = asyncio.ensure_future(store.run(gate.wait))
    await asyncio.sleep(0.05)  # the thread is held
    seen: dict[str, bool] = {}

    def note(name: str) -> None:
        order.append(name)

    background = [asyncio.ensure_future(store.run(lambda n=n: note(n))) for n in ("bg1", "bg2")]
    tasks = Tasks()

    async def answer() -> None:
        answering()
        seen["answer"] = urgent()
        tasks.spawn(spawned(), name="after the ack")
        await store.run(lambda: note("answer"))

    async def spawned() -> None:
        seen["spawned"] = urgent()
        await store.run(lambda: note("spawned"))

    answered = asyncio.ensure_future(answer())
    await asyncio.sleep(0.05)  # every call is queued behind the held one
    gate.set()
    await asyncio.gather(holding, answered, *background)
    await tasks.drain()
    await store.aclose()
    assert seen == {"answer": True, "spawned": False}
    assert urgent() is False  # the mark stayed in the answering task
    assert order == ["answer", "bg1", "bg2", "spawned"]

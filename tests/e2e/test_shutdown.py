"""A shutdown never hangs on a background loop that does not stop when cancelled.

A library below a loop can swallow the cancellation (a database driver's cancel path, a
pool's checkout) and go on waiting; ``Bot.aclose`` then gives the loop ``stop_within``
seconds, names it in the log and closes the rest, so a replica being replaced exits instead
of waiting for its orchestrator's kill.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.store import PostgresStore
from tests.e2e.harness import Harness

STOP_WITHIN = 0.3


def loop_names(h: Harness) -> set[str]:
    """The bot's background loops: notes from answering replicas on PostgreSQL, the
    write-ahead log's checkpoints on SQLite."""
    extra = "notes" if isinstance(h.b.store, PostgresStore) else "checkpoints"
    return {"alive", "maintenance", "follow-up", extra}


async def test_a_loop_that_swallows_its_cancellation_does_not_hold_up_the_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    released = asyncio.Event()
    entered = asyncio.Event()
    inside: set[asyncio.Task[object]] = set()  # the loops waiting in the store's call

    async def swallows_cancellation(*args: object, **kwargs: object) -> list[str]:
        task = asyncio.current_task()
        assert task is not None
        inside.add(task)
        entered.set()
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue  # what a misbehaving library below the loop does
        return []

    async with Harness(tmp_path) as h:
        h.b.stop_within = STOP_WITHIN
        names = loop_names(h)
        h.b.store.due_followups = swallows_cancellation  # type: ignore[method-assign]
        await asyncio.wait_for(entered.wait(), 5.0)
        try:
            stuck = set(inside)
            assert stuck and {t.get_name() for t in stuck} <= names
            with caplog.at_level(logging.ERROR, logger="bot.bootstrap"):
                loop = asyncio.get_running_loop()
                began = loop.time()
                await asyncio.wait_for(h.stop_bot(), 10.0)
                took = loop.time() - began
            assert not [t for t in stuck if t.done()]  # the shutdown went on without them
            assert took < STOP_WITHIN + 3.0
            logged = [r.getMessage() for r in caplog.records if r.name == "bot.bootstrap"]
            for task in stuck:
                assert any(f"{task.get_name()} loop did not stop" in m for m in logged), logged
            # The other loops stopped as asked.
            others = names - {t.get_name() for t in stuck}
            assert not [t for t in asyncio.all_tasks() if t.get_name() in others]
        finally:
            released.set()  # the library lets go: the loops then see they are being cancelled
        await asyncio.wait_for(asyncio.wait(stuck), 5.0)
        assert all(t.cancelled() for t in stuck)


async def test_loops_that_stop_when_cancelled_are_waited_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Harness(tmp_path) as h:
        h.b.stop_within = 30.0
        names = loop_names(h)
        loops = [t for t in asyncio.all_tasks() if t.get_name() in names]
        assert {t.get_name() for t in loops} == names
        with caplog.at_level(logging.ERROR, logger="bot.bootstrap"):
            await asyncio.wait_for(h.stop_bot(), 10.0)
        assert all(t.cancelled() for t in loops)
        assert not [r for r in caplog.records if r.name == "bot.bootstrap"]

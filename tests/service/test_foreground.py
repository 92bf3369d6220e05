"""Answers first: background work waits (briefly) for the requests waiting for their ack."""

from __future__ import annotations

import asyncio
import time

from bot.service.context import Tasks
from bot.service.foreground import Foreground, answering
from bot.service.work import WorkItems


async def test_nothing_waiting_means_no_wait() -> None:
    fg = Foreground(cap=5.0)
    began = time.monotonic()
    await fg.turn()
    assert time.monotonic() - began < 0.5


async def test_background_work_goes_once_the_waiting_request_is_answered() -> None:
    fg = Foreground(cap=5.0)
    fg.arrived()
    order: list[str] = []

    async def background() -> None:
        await fg.turn()
        order.append("background")

    task = asyncio.create_task(background())
    await asyncio.sleep(0.05)
    assert order == []  # held while the request waits
    order.append("answered")
    fg.answered()
    await asyncio.wait_for(task, 1.0)
    assert order == ["answered", "background"]


async def test_background_work_is_never_held_longer_than_the_cap() -> None:
    fg = Foreground(cap=0.05)
    fg.arrived()  # never answered
    began = time.monotonic()
    await fg.turn()
    waited = time.monotonic() - began
    assert 0.04 <= waited < 1.0


async def test_work_on_an_answer_never_waits() -> None:
    fg = Foreground(cap=5.0)
    fg.arrived()
    fg.arrived()  # another request waits too

    async def the_answer() -> float:
        answering(True)
        began = time.monotonic()
        await fg.turn()
        return time.monotonic() - began

    assert await asyncio.create_task(the_answer()) < 0.5


async def test_answers_are_counted_until_the_last_one() -> None:
    fg = Foreground(cap=5.0)
    fg.arrived()
    fg.arrived()
    fg.answered()
    assert fg.waiting == 1
    task = asyncio.create_task(fg.turn())
    await asyncio.sleep(0.05)
    assert not task.done()
    fg.answered()
    await asyncio.wait_for(task, 1.0)
    fg.answered()  # one too many is harmless
    assert fg.waiting == 0


async def test_spawned_tasks_and_work_items_start_after_the_answers() -> None:
    fg = Foreground(cap=5.0)
    tasks = Tasks(fg)
    items = WorkItems(time.monotonic, foreground=fg)
    ran: list[str] = []

    async def note(what: str) -> None:
        ran.append(what)

    fg.arrived()
    item = asyncio.create_task(items.run("item", lambda: note("item")))
    answering(True)  # spawned from a listener that has not acked yet: background all the same
    tasks.spawn(note("task"), name="task")
    await asyncio.sleep(0.05)
    assert ran == []
    fg.answered()
    await tasks.drain(1.0)
    assert await asyncio.wait_for(item, 1.0)
    assert sorted(ran) == ["item", "task"]

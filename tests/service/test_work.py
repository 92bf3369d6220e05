"""Background work items: each failing one backs off on its own, and one nobody runs again is
forgotten."""

from __future__ import annotations

from bot.service.work import FIRST_DELAY, MAX_DELAY, RetryLater, WorkItems


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _fail() -> None:
    raise RetryLater("DRS answered late")


async def _succeed() -> None:
    return None


async def test_a_failing_item_backs_off_doubling_and_others_run_meanwhile() -> None:
    clock = Clock()
    items = WorkItems(clock)
    assert not await items.run("a", _fail)
    assert items.waiting("a") == clock.now + FIRST_DELAY
    assert not await items.run("a", _succeed)  # backing off: not run
    assert await items.run("b", _succeed)  # another item is not held up
    clock.now += FIRST_DELAY
    assert not await items.run("a", _fail)
    assert items.waiting("a") == clock.now + 2 * FIRST_DELAY
    clock.now += 2 * FIRST_DELAY
    assert await items.run("a", _succeed)
    assert items.waiting("a") is None


async def test_an_item_nobody_runs_again_is_forgotten_once_another_fails() -> None:
    clock = Clock()
    items = WorkItems(clock)
    assert not await items.run("settled elsewhere", _fail)
    assert not await items.run("still failing", _fail)
    for _ in range(12):  # "still failing" is tried whenever it is due; the other never again
        clock.now = max(clock.now, items.waiting("still failing") or clock.now)
        assert not await items.run("still failing", _fail)
    assert clock.now - (1_000.0 + FIRST_DELAY) > MAX_DELAY
    assert items.waiting("settled elsewhere") is None  # forgotten
    assert items.waiting("still failing") == clock.now + MAX_DELAY  # its backoff kept

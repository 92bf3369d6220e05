"""Home publishes in the background: a failing person or request is retried on its own, and
only real failures count towards giving up; publishes keep to Slack's rate, those who opened
their tab first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bot.service.home_updates import MAX_TRIES, HomeUpdates
from bot.service.work import FIRST_DELAY, MAX_DELAY, RetryLater


class _Clock:
    """The loop's time, moved ahead at will (to get past a backoff without waiting it)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.ahead


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.005)


class _Rig:
    def __init__(self, **pace: Any) -> None:
        self.clock = _Clock()
        self.publish_fails = 0  # the next publishes that fail
        self.audience_fails = 0  # the next audience look-ups that fail
        self.published: list[str] = []
        self.looked = 0
        self.tasks: list[asyncio.Task[Any]] = []
        self.updates = HomeUpdates(
            self._publish,
            self._audience,
            spawn=self._spawn,
            window=0.01,
            clock=self.clock,
            **pace,
        )

    def _spawn(self, coro: Any, *, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    async def _publish(self, user: str) -> None:
        if self.publish_fails:
            self.publish_fails -= 1
            raise RetryLater("Slack is down")
        self.published.append(user)

    async def _audience(self, request_id: str) -> frozenset[str]:
        self.looked += 1
        if self.audience_fails:
            self.audience_fails -= 1
            raise RetryLater("the database is down")
        return frozenset({"U1"})

    def past_backoff(self) -> None:
        self.clock.ahead += MAX_DELAY + 1
        self.updates.people([])  # wakes the flusher to find what is due now


async def test_opening_the_tab_while_its_publish_backs_off_is_not_a_failed_try() -> None:
    rig = _Rig()
    rig.publish_fails = 1
    rig.updates.people(["U1"], at_once=True)
    await asyncio.sleep(0.05)  # the first publish failed: U1 waits FIRST_DELAY seconds
    assert rig.published == [] and FIRST_DELAY > 1
    for _ in range(MAX_TRIES - 1):  # a try each, were they counted: enough to give up
        rig.updates.people(["U1"], at_once=True)
        await asyncio.sleep(0.02)
    rig.past_backoff()
    await _until(lambda: rig.published == ["U1"])


async def test_an_audience_found_after_a_failure_starts_counting_afresh() -> None:
    rig = _Rig()
    rig.audience_fails = 1
    rig.updates.request_changed("SJ-1")
    await _until(lambda: rig.looked == 1)
    rig.past_backoff()
    await _until(lambda: rig.published == ["U1"])
    # The same request's audience fails again, one try short of giving up, then is found.
    rig.audience_fails = MAX_TRIES - 1
    rig.updates.request_changed("SJ-1")
    for looked in range(3, 3 + MAX_TRIES - 1):
        await _until(lambda looked=looked: rig.looked == looked)  # type: ignore[misc]
        rig.past_backoff()
    await _until(lambda: rig.published == ["U1", "U1"])


async def test_publishes_keep_to_slacks_rate_and_who_opened_the_tab_goes_first() -> None:
    rig = _Rig(per_minute=60.0, burst=3)  # one a second once three are spent
    rig.updates.people([f"U{i}" for i in range(1, 7)])
    await _until(lambda: len(rig.published) == 3)
    await asyncio.sleep(0.1)
    assert rig.published == ["U1", "U2", "U3"]  # the rest wait for the rate
    rig.updates.people(["U9"], at_once=True)  # opens the tab: ahead of U4..U6
    await asyncio.sleep(0.05)
    assert len(rig.published) == 3
    rig.clock.ahead += 1.0  # one publish more is allowed
    rig.updates.people([])
    await _until(lambda: len(rig.published) == 4)
    assert rig.published[3] == "U9"
    rig.clock.ahead += 3.0  # three more
    rig.updates.people([])
    await _until(lambda: len(rig.published) == 7)
    assert sorted(rig.published[4:]) == ["U4", "U5", "U6"]
    assert len(set(rig.published)) == 7  # each once

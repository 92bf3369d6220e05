"""Publishing Home tabs in the background: coalesced per person, isolated, retried.

A change to a request is noted (:meth:`HomeUpdates.request_changed`, never blocking: it only
records the request id); ``window`` seconds after the first note of a burst, the people who
see that request (its audience) are due, each once however many of their requests changed.
A person is published as one work item of :class:`bot.service.work.WorkItems`: a failure
(Slack refusing, the database down) is logged and that person alone is tried again after the
item's backoff, up to :data:`MAX_TRIES` times; nobody else waits for them. A flusher task runs
while there is something due and ends when there is nothing left.

Publishes keep to Slack's rate for ``views.publish`` (Tier 4: 100+ a minute per workspace):
at most :data:`PUBLISH_BURST` at once, then :data:`PUBLISHES_PER_MINUTE` a minute (a token
bucket, per process). Without it a burst of approvals a second in a project of fifty people
asked for fifty publishes a second (``bench/ack_latency.py``), thirty times what Slack allows:
it answers such a rate with 429s, and a Home refused :data:`MAX_TRIES` times waited for the
next change. People who opened their tab or turned a page go first; the others' Homes follow
as the rate allows, each once, with every change made meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bot.service.work import WorkItems

log = logging.getLogger(__name__)

MAX_TRIES = 5  # a person's Home that fails this often in a row waits for the next change
IN_FLIGHT = 4  # Home tabs published at once (views.publish is Tier 4: 100+ per minute)
PUBLISHES_PER_MINUTE = 100.0  # Slack's Tier 4 rate, which views.publish has
PUBLISH_BURST = 20  # publishes allowed at once after a quiet spell


class HomeUpdates:
    """Coalesces requests for Home publishes and runs them as isolated work items."""

    def __init__(
        self,
        publish: Callable[[str], Awaitable[None]],
        audience: Callable[[str], Awaitable[frozenset[str]]],
        *,
        spawn: Callable[..., Any],
        window: float,
        clock: Callable[[], float],
        per_minute: float = PUBLISHES_PER_MINUTE,
        burst: int = PUBLISH_BURST,
    ) -> None:
        self._publish = publish
        self._audience = audience
        self._spawn = spawn
        self.window = window  # seconds a burst is gathered for (settable while running)
        self._clock = clock
        self._people: dict[str, float] = {}  # person -> when their publish is due
        self._asked: set[str] = set()  # people due who opened their tab or turned a page
        self._rate = per_minute / 60.0  # publishes a second, once the burst is spent
        self._burst = float(max(1, burst))
        self._tokens = self._burst  # publishes that may start now
        self._filled_at = clock()
        self._requests: dict[str, float] = {}  # changed request -> when to find its audience
        self._tries: dict[str, int] = {}
        self._items = WorkItems(clock)
        self._wake = asyncio.Event()
        self._flusher: object | None = None
        self.published = 0  # publishes made (for figures and tests)

    # -- noting what to do (never blocks) ------------------------------------------------------

    def request_changed(self, request_id: str) -> None:
        """A request changed state: its audience is published with the burst it joins (the
        first change of a burst is published ``window`` seconds after it, with all since)."""
        self._requests.setdefault(request_id, self._burst_due())
        self._kick()

    def _burst_due(self) -> float:
        return min(self._requests.values(), default=self._clock() + self.window)

    def people(self, users: Iterable[str], *, at_once: bool = False) -> None:
        """Publish ``users``' Home tabs (at once, or within the window)."""
        due = self._clock() if at_once else self._burst_due()
        for user in users:
            self._people[user] = min(self._people.get(user, due), due)
            if at_once:
                self._asked.add(user)
        self._kick()

    def _kick(self) -> None:
        self._wake.set()
        if self._flusher is None:
            self._flusher = self._spawn(self._flush(), name="home updates")

    # -- doing it --------------------------------------------------------------------------

    async def _flush(self) -> None:
        try:
            while self._people or self._requests:
                self._wake.clear()
                now = self._clock()
                self._refill(now)
                nearest = min([*self._requests.values(), self._next_publish()])
                if nearest > now:
                    # Woken early by a newer, sooner item (an opened tab) or at the due time.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(nearest - now):
                            await self._wake.wait()
                    continue
                for rid in [r for r, at in self._requests.items() if at <= now]:
                    del self._requests[rid]
                    look = functools.partial(self._add_audience, rid, now)
                    await self._run(f"home audience of {rid}", look, self._requests, rid)
                due = self._next_due(now)
                self._tokens -= len(due)
                for user in due:
                    del self._people[user]
                    self._asked.discard(user)
                gate = asyncio.Semaphore(IN_FLIGHT)
                await asyncio.gather(*(self._one(user, gate) for user in due))
        finally:
            self._flusher = None

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._filled_at) * self._rate)
        self._filled_at = now

    def _next_publish(self) -> float:
        """When a publish may start: the soonest person due, or later the next token."""
        due = min(self._people.values(), default=math.inf)
        return max(due, self._filled_at + (1 - self._tokens) / self._rate)

    def _next_due(self, now: float) -> list[str]:
        """The people to publish now, as many as the rate allows: those who asked first,
        then the longest due."""
        due = [u for u, at in self._people.items() if at <= now]
        due.sort(key=lambda u: (u not in self._asked, self._people[u]))
        return due[: int(self._tokens)]

    async def _add_audience(self, rid: str, now: float) -> None:
        for user in await self._audience(rid):
            self._people.setdefault(user, now)

    async def _one(self, user: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            name = f"home of {user}"
            if await self._run(name, lambda: self._publish(user), self._people, user):
                self.published += 1

    async def _run(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        queue: dict[str, float],
        item: str,
    ) -> bool:
        """Run ``name`` as a work item; on failure, queue it again after its backoff, until it
        has failed :data:`MAX_TRIES` times in a row. An item still backing off is queued for
        when its backoff ends, without counting a try."""
        held = self._items.waiting(name)
        if held is not None and held > self._clock():
            queue[item] = held
            return False
        if await self._items.run(name, work):
            self._tries.pop(name, None)
            return True
        tries = self._tries[name] = self._tries.get(name, 0) + 1
        if tries >= MAX_TRIES:
            log.warning("%s failed %d times; left until the next change", name, tries)
            self._tries.pop(name, None)
            self._items.keep_only(self._tries)
            return False
        queue[item] = self._items.waiting(name) or self._clock() + self.window
        return False

"""Writes of one kind that come together, made in one statement (group commit).

Fifty approvers submitting at once make fifty decisions in a few milliseconds. Made one
statement each, they queue for the pool's connections and on the server: the burst's last
decision was made 34–47 ms after the first began, against 19 ms on SQLite; made in one
statement, the same fifty take 8.6 ms (``bench/approval_store.py --database-url URL``). Made
together, decisions and requests stored cut the bot's p99 at fifty senders on PostgreSQL from
72–91 to 42–94 ms for approve submissions and from 78–115 to 40–80 ms for start submissions
(``bench/ack_latency.py --concurrency 50 --database-url URL``; runs in bench/README.md).

:class:`Together` makes each call's write as soon as no write of its kind is being made, with
every call that came in the meantime: a call alone goes at once (nothing waits for company),
and under a burst the calls that arrived while one statement ran go together in the next.
Each caller is answered, whatever happens, by its own deadline and a moment
(:data:`~bot.store.postgres.connection.ANSWER_GRACE_SECONDS`), by the timer
:meth:`~bot.store.postgres.connection.Database.in_time` answers a write of its own with
(:func:`~bot.store.postgres.connection.answered_by`); a
statement is given the earliest deadline of its calls, so no caller is told "not in time" of a
write that is then made, and :data:`LONGEST` seconds at most, so that a statement that hangs
(a server gone silent) holds up the calls behind it for that long at most. A call whose
caller gave up, or whose time was up, before its statement went is left out.

One call must not fail the others: when a statement of several calls fails, each of them is
made again alone, in the time it has left (a call whose time is up is told why the statement
failed), and only its own failure reaches its caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.service.ports import StoreUnavailable
from bot.store.postgres.connection import NOT_IN_TIME, answered_by

T = TypeVar("T")
R = TypeVar("R")

# A statement holds at most this many calls (the rest go in the next).
MOST = 100
# A statement is made in this many seconds or not at all, whatever its calls' deadlines.
LONGEST = 10.0

# ``write(items, within)``: one statement making every item's write, the results in the items'
# order; ``within`` seconds to make it in, else it raises.
Write = Callable[[Sequence[T], float], Awaitable[Sequence[R]]]


@dataclass(slots=True)
class _Call(Generic[T, R]):
    item: T
    deadline: float | None  # time.monotonic() by which it is made or not at all
    answer: asyncio.Future[R]


class Together(Generic[T, R]):
    """Calls of one write, made together (the module says how); at most one statement of
    them is being made at a time."""

    def __init__(
        self,
        write: Write[T, R],
        *,
        grace: float,
        late: Callable[[], None] = lambda: None,
        most: int = MOST,
        longest: float = LONGEST,
    ) -> None:
        self._write = write
        self._grace = grace
        self._late = late  # called for each call not made by its deadline
        self._most = most
        self._longest = longest
        self._waiting: list[_Call[T, R]] = []
        self._running: asyncio.Task[None] | None = None
        self.statements = 0  # statements made (tried), for tests and benchmarks

    async def __call__(self, item: T, within: float | None) -> R:
        """``item``'s write, made in ``within`` seconds (None: no limit) or not at all:
        :class:`StoreUnavailable` by then and a moment."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else time.monotonic() + within
        call: _Call[T, R] = _Call(item, deadline, loop.create_future())
        self._waiting.append(call)
        self._go()
        if within is None:
            return await call.answer
        return await answered_by(call.answer, within + self._grace, late=self._late)

    def _go(self) -> None:
        if self._running is None and self._waiting:
            self._running = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        calls: list[_Call[T, R]] = []
        try:
            while self._waiting:
                now = time.monotonic()
                calls = [c for c in self._waiting[: self._most] if not c.answer.done()]
                del self._waiting[: self._most]
                for call in [c for c in calls if _up(c, now)]:  # waited past its deadline
                    self._late()
                    _answer(call, StoreUnavailable(NOT_IN_TIME))
                calls = [c for c in calls if not c.answer.done()]
                if calls:
                    await self._make(calls)
        except asyncio.CancelledError:  # the loop is closing: so are the callers
            for call in [*calls, *self._waiting]:
                call.answer.cancel()
            self._waiting.clear()
            raise
        finally:
            self._running = None

    async def _make(self, calls: list[_Call[T, R]]) -> None:
        self.statements += 1
        try:
            results = await self._write([c.item for c in calls], self._left(calls))
        except Exception as exc:
            if len(calls) == 1:
                _answer(calls[0], exc)
                return
            # Made again alone: each call whose caller still waits and whose time is not up.
            now = time.monotonic()
            again = [c for c in calls if not c.answer.done() and not _up(c, now)]
            for call in calls:
                if all(call is not c for c in again):
                    _answer(call, exc)
            await asyncio.gather(*(self._make([c]) for c in again))
            return
        for call, result in zip(calls, results, strict=True):
            if not call.answer.done():
                call.answer.set_result(result)

    def _left(self, calls: Sequence[_Call[T, R]]) -> float:
        """Seconds until the earliest deadline of ``calls``, and :data:`LONGEST` at most."""
        now = time.monotonic()
        deadlines = [c.deadline for c in calls if c.deadline is not None]
        return max(0.0, min([*deadlines, now + self._longest]) - now)


def _up(call: _Call[T, R], now: float) -> bool:
    """Whether ``call``'s time is up at ``now``."""
    return call.deadline is not None and call.deadline <= now


def _answer(call: _Call[T, R], exc: Exception) -> None:
    if not call.answer.done():
        call.answer.set_exception(exc)

"""Background work as isolated items, each retried on its own with backoff.

A maintenance round is a list of items (post this outcome, follow that request up, refresh
this message...). One item that fails does not stop the others: its failure is logged, and the
item is skipped until its backoff has passed (5 s, then doubling, at most 10 minutes), so a
request whose channel Slack refuses, or a DRS project that is down, costs one line per try,
not a traceback every round, and never holds up another request.

An item not run again within the longest backoff after its next try was due is forgotten (a
request that settled in another process leaves no record behind).

An unexpected error is logged with its traceback the first time and in one line after that;
:class:`RetryLater` (an expected, passing fault such as Slack or DRS answering late) is always
one line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.service import logcontext

log = logging.getLogger(__name__)

FIRST_DELAY = 5.0
MAX_DELAY = 600.0


def stop_if_cancelled(cause: BaseException | None = None) -> None:
    """Raise :class:`asyncio.CancelledError` if the running task was asked to stop
    (cancelled). A loop that catches ``Exception`` to go on calls this with the error first,
    and at each turn: a library may turn a cancellation into an error of its own (psycopg
    cancelling a statement behind PgBouncer, where the cancel request finds the query gone)
    or swallow it, and a loop that carried on would keep a shutdown waiting."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        raise asyncio.CancelledError from cause


class RetryLater(Exception):
    """A passing fault: the item is tried again after its backoff, without a traceback."""


@dataclass(slots=True)
class _Failing:
    count: int
    next_at: float


class WorkItems:
    """Runs items by key; remembers which keys are failing and when to try each again."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self._clock = clock
        self._first = first_delay
        self._max = max_delay
        self._failing: dict[str, _Failing] = {}
        self._waiting: dict[str, float] = {}  # listed, not yet done: since when

    def waiting(self, key: str) -> float | None:
        """When a failing item may run again (None: it is not failing)."""
        failing = self._failing.get(key)
        return failing.next_at if failing else None

    async def run(self, key: str, work: Callable[[], Awaitable[object]]) -> bool:
        """Run ``work`` unless ``key`` is backing off; True if it ran and succeeded.

        Never raises, except cancellation. What ``work`` binds for its log lines
        (:mod:`bot.service.logcontext`) ends with it."""
        now = self._clock()
        failing = self._failing.get(key)
        if failing is not None and now < failing.next_at:
            return False
        try:
            with logcontext.scope():
                await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stop_if_cancelled(exc)
            self._failed(key, now, exc)
            return False
        self._waiting.pop(key, None)
        if self._failing.pop(key, None) is not None:
            log.info("%s: done after earlier failures", key)
        return True

    def keep_only(self, keys: Iterable[str]) -> None:
        """The items to be done now: forget failures of the others (finished elsewhere, or
        gone), and note since when each of these has been waiting (:meth:`backlog`)."""
        live = set(keys)
        for key in [k for k in self._failing if k not in live]:
            del self._failing[key]
        now = self._clock()
        self._waiting = {key: self._waiting.get(key, now) for key in live}

    def backlog(self) -> tuple[int, float | None]:
        """How many items were listed and are not yet done (backing-off ones included), and
        since when the oldest has waited (None: none waits)."""
        return len(self._waiting), min(self._waiting.values(), default=None)

    def _failed(self, key: str, now: float, exc: Exception) -> None:
        # Forget items nobody ran again within the longest backoff after their next try
        # was due: done elsewhere (a request settled in another process) or gone. So the
        # records stay as few as the items failing now, whoever calls keep_only or not.
        for gone in [k for k, f in self._failing.items() if now - f.next_at > self._max]:
            del self._failing[gone]
        failing = self._failing.setdefault(key, _Failing(0, now))
        failing.count += 1
        delay = min(self._max, self._first * 2 ** (failing.count - 1))
        failing.next_at = now + delay
        if failing.count == 1 and not isinstance(exc, RetryLater):
            log.exception("%s failed; next try in %.0f s", key, delay)
            return
        log.warning(
            "%s failed (%s: %s), %d time%s; next try in %.0f s",
            key,
            type(exc).__name__,
            exc,
            failing.count,
            "" if failing.count == 1 else "s",
            delay,
        )

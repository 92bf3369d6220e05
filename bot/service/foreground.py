"""Answers first: background work lets people waiting for an answer go before it.

Slack gives the bot 3 seconds to acknowledge each request, and people wait for that
acknowledgement; the work that follows it (posting, starting, following up) waits for nobody.
On one event loop the two compete for the same CPU, and under a burst of requests the
acknowledgements queue behind whatever background work is running (``bench/ack_latency.py``
measures it; ``bench/README.md`` has the figures with and without this module).

:class:`Foreground` counts the requests between their arrival at the bot's listeners and their
acknowledgement (the Slack side calls :meth:`Foreground.arrived` and
:meth:`Foreground.answered`). Background work awaits :meth:`Foreground.turn` at the start of
each piece of work (a task spawned through :class:`bot.service.context.Tasks`, a maintenance
or follow-up item, the rest of a listener after its ack): while any request waits for its
acknowledgement, it waits until none does, for at most ``cap`` seconds, so acknowledgements
go first and background work is delayed by at most ``cap`` per step, never starved.

Work done on behalf of a request not yet acknowledged (the code that decides the answer) is in
the foreground (:func:`answering`) and never waits: it *is* the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

DEFAULT_CAP = 0.05  # seconds a step of background work waits at most for the answers

_answering: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "startjobs_answering", default=False
)


def answering(value: bool) -> None:
    """Mark the current context as working on an answer (True) or in the background."""
    _answering.set(value)


class Foreground:
    """The requests waiting for their acknowledgement, on one event loop."""

    def __init__(self, cap: float = DEFAULT_CAP) -> None:
        self.cap = cap
        self._waiting = 0
        self._quiet: asyncio.Event | None = None

    @property
    def waiting(self) -> int:
        return self._waiting

    def _event(self) -> asyncio.Event:
        if self._quiet is None:  # made on first use, on the loop that uses it
            self._quiet = asyncio.Event()
            if self._waiting == 0:
                self._quiet.set()
        return self._quiet

    def arrived(self) -> None:
        """A request reached the listeners and waits for its acknowledgement."""
        self._waiting += 1
        self._event().clear()

    def answered(self) -> None:
        """A request that :meth:`arrived` was acknowledged (or ended without one)."""
        self._waiting = max(0, self._waiting - 1)
        if self._waiting == 0:
            self._event().set()

    async def turn(self) -> None:
        """Wait (at most :attr:`cap` seconds) until no request waits for its
        acknowledgement; at once in the foreground or when none waits."""
        if self._waiting == 0 or _answering.get():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.cap):
                await self._event().wait()

"""Acks first: background work gives way while Slack requests are being answered.

Slack waits 3 s for an acknowledgement; the work behind a request (posting the request,
starting it in DRS, polling, refreshing messages) can wait a moment. Both run on one event
loop, which runs ready tasks in turn, so a burst of requests arriving while earlier work is
busy would be answered only after a share of that work. Here every request being answered
is counted (:meth:`AckFirst.answering`), and background tasks, which run in a context marked
by :func:`background_context`, call :meth:`AckFirst.give_way` before each step that costs CPU
(each Web API and DRS call, before it is sent and after its answer arrives; see
:class:`GivingWayWebClient` and :class:`bot.drs.transport.DrsTransport`): while any request
is being answered they wait until none is, at most ``longest_wait`` seconds, so a steady
stream of requests cannot starve them. Code that answers a request never waits here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

_IN_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "startjobs_in_background", default=False
)


def background_context() -> contextvars.Context:
    """A copy of the current context, marked as background work (for ``create_task``)."""
    context = contextvars.copy_context()
    context.run(_IN_BACKGROUND.set, True)
    return context


def in_background() -> bool:
    return _IN_BACKGROUND.get()


class AckFirst:
    """Counts the requests being answered; lets background work wait for a quiet moment."""

    def __init__(self, *, longest_wait: float = 0.25) -> None:
        if longest_wait < 0:
            raise ValueError("longest_wait must be >= 0")
        self.longest_wait = longest_wait
        self._answering = 0
        self._quiet: asyncio.Event | None = None  # made on first use, in the serving loop

    @property
    def busy(self) -> bool:
        return self._answering > 0

    def _event(self) -> asyncio.Event:
        if self._quiet is None:
            self._quiet = asyncio.Event()
            if self._answering == 0:
                self._quiet.set()
        return self._quiet

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the answer to one request (nests: an inner scope counts once more)."""
        self._answering += 1
        self._event().clear()
        try:
            yield
        finally:
            self._answering -= 1
            if self._answering == 0:
                self._event().set()

    async def after_ack(self) -> None:
        """In a listener that has acknowledged: the rest of it is background work, which
        gives way from here on (the burst's other acks leave first)."""
        _IN_BACKGROUND.set(True)  # the listener runs in a task of its own: this stays in it
        await self.give_way()

    async def give_way(self) -> None:
        """In background work: wait while requests are being answered (bounded)."""
        if self._answering == 0 or not _IN_BACKGROUND.get():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.longest_wait):
                await self._event().wait()


class GivingWayWebClient(AsyncWebClient):
    """A Slack Web API client whose background calls give way before and after each call."""

    def __init__(self, *args: Any, ack_first: AckFirst, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ack_first = ack_first

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        await self.ack_first.give_way()
        response = await super().api_call(api_method, **kwargs)
        await self.ack_first.give_way()
        return response

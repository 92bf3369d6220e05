"""Answering Slack the moment a listener acknowledges.

Bolt (with ``process_before_response=False``) runs a listener in a task of its own and then
checks every 10 ms whether it has called ``ack()``; the HTTP answer leaves at the first check
after the call. That adds up to 10 ms to every answer, and during a burst each of the waiting
requests wakes 100 times a second only to find nothing to do, which takes CPU from the
listeners the burst is waiting for. :class:`PromptListenerRunner` runs listeners the same way
but waits for the acknowledgement itself (:class:`PromptAck` signals it), or for the
listener's end, whichever comes first.

It also counts the request as being answered (:meth:`bot.ackfirst.AckFirst.answering`) from
the listener's start until the acknowledgement, over HTTP and Socket Mode alike.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.ackfirst import AckFirst


class PromptAck(AsyncAck):
    """Bolt's ``ack()`` that also wakes whoever waits for it (:meth:`wake`)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._waiter: asyncio.Future[None] | None = None

    def wake(self, waiter: asyncio.Future[None]) -> None:
        """Resolve ``waiter`` when ``ack()`` is called."""
        self._waiter = waiter

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        try:
            return await super().__call__(*args, **kwargs)
        finally:
            _settle(self._waiter)


def _settle(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class PromptListenerRunner(AsyncioListenerRunner):
    """Bolt's listener runner, answering as soon as the listener acknowledges."""

    def __init__(self, base: AsyncioListenerRunner, ack_first: AckFirst) -> None:
        super().__init__(
            logger=base.logger,
            process_before_response=base.process_before_response,
            listener_error_handler=base.listener_error_handler,
            listener_start_handler=base.listener_start_handler,
            listener_completion_handler=base.listener_completion_handler,
            lazy_listener_runner=base.lazy_listener_runner,
        )
        self.ack_first = ack_first
        self._listening: set[asyncio.Task[None]] = set()  # referenced until they end

    async def run(
        self,
        request: AsyncBoltRequest,
        response: BoltResponse,
        listener_name: str,
        listener: AsyncListener,
        starting_time: float | None = None,
    ) -> BoltResponse | None:
        ack = request.context.get("ack")
        if ack is None or (type(ack) is AsyncAck and ack.response is None):
            # Middleware reached for ``ack`` (Bolt builds every argument for them) but did not
            # acknowledge: the listener gets one that says when it does.
            ack = request.context["ack"] = PromptAck()
        if (
            self.process_before_response
            or request.lazy_only
            or listener.lazy_functions
            or not isinstance(ack, PromptAck)
        ):
            return await super().run(request, response, listener_name, listener, starting_time)
        started = starting_time if starting_time is not None else time.time()
        with self.ack_first.answering():
            if listener.auto_acknowledgement:
                await ack()
            loop = asyncio.get_running_loop()
            answered: asyncio.Future[None] = loop.create_future()
            ack.wake(answered)
            listening = asyncio.ensure_future(self._listen(ack, request, response, listener))
            self._listening.add(listening)
            listening.add_done_callback(self._listening.discard)
            listening.add_done_callback(lambda _: _settle(answered))
            if ack.response is None and not listening.done():
                timeout = max(0.0, listener.ack_timeout - (time.time() - started))
                timer = loop.call_later(timeout, _settle, answered)
                try:
                    await answered
                finally:
                    timer.cancel()
        if response is None and ack.response is None:
            self.logger.warning(f"{listener_name} did not acknowledge the request in time")
            return None
        return response if response is not None else ack.response

    async def drain(self, limit: float) -> None:
        """Wait, at most ``limit`` seconds, for the listeners still running after their
        acknowledgement (posting what a command asked for, opening a modal)."""
        if self._listening:
            await asyncio.wait(set(self._listening), timeout=limit)

    async def _listen(
        self,
        ack: AsyncAck,
        request: AsyncBoltRequest,
        response: BoltResponse | None,
        listener: AsyncListener,
    ) -> None:
        """The listener, with Bolt's start, error and completion handlers around it."""
        try:
            await self.listener_start_handler.handle(request=request, response=response)
            await listener.run_ack_function(request=request, response=response)  # type: ignore[arg-type]
        except Exception as error:
            failed = response if response is not None else BoltResponse(status=500)
            failed.status = 500
            acked = ack.response is not None
            await self.listener_error_handler.handle(
                error=error, request=request, response=None if acked else failed
            )
            if not acked:
                ack.response = failed
        finally:
            await self.listener_completion_handler.handle(request=request, response=response)


def install(app: AsyncApp, ack_first: AckFirst) -> PromptListenerRunner:
    """Make ``app`` answer each request as soon as its listener acknowledges it."""
    runner = app.listener_runner
    if not isinstance(runner, AsyncioListenerRunner):
        raise TypeError(f"unexpected Bolt listener runner: {type(runner).__name__}")
    prompt = PromptListenerRunner(runner, ack_first)
    app._async_listener_runner = prompt
    return prompt

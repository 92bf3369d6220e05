"""The transport under the DRS and IAM calls: several small connection pools, a bounded
number of calls in flight, answers read whole.

httpcore's pool does its housekeeping whenever a request enters or leaves it, and that
housekeeping is quadratic: it counts the pool's connections once for every idle connection,
and matches every queued request against every connection. With one pool of 50 connections
and hundreds of calls started at once (a burst of approvals, then their follow-up polls),
the housekeeping costs more CPU than the calls themselves. So the calls are spread over
``pools`` pools of ``per_pool`` connections each, a new call going to the pool with the fewest
in flight, and at most ``pools * per_pool`` calls are in flight: the rest wait on a semaphore
(bounded by the request's pool timeout, as before: ``httpx.PoolTimeout``, the body never
left), so no pool ever queues.

Each answer's body is read here, then the slot is freed, then ``give_way`` (if given) is
awaited: the caller's work on the answer can wait while the bot answers Slack
(:mod:`bot.ackfirst`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx


class PacedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        make_pool: Callable[[int], httpx.AsyncBaseTransport],
        *,
        pools: int,
        per_pool: int,
        give_way: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``make_pool(n)`` makes a transport holding at most ``n`` connections."""
        if pools < 1 or per_pool < 1:
            raise ValueError("pools and per_pool must be >= 1")
        self._pools = [make_pool(per_pool) for _ in range(pools)]
        self._in_flight = [0] * pools
        self._slots = asyncio.Semaphore(pools * per_pool)
        self._give_way = give_way

    @property
    def in_flight(self) -> tuple[int, ...]:
        """Calls in flight, per pool."""
        return tuple(self._in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._give_way is not None:
            await self._give_way()
        timeouts = request.extensions.get("timeout") or {}
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free DRS connection in time", request=request) from None
        # A free slot means some pool has fewer than per_pool calls in flight.
        index = min(range(len(self._pools)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            self._in_flight[index] -= 1
            self._slots.release()
        if self._give_way is not None:
            await self._give_way()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

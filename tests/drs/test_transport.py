"""The DRS transport: calls spread over small pools, a bound on calls in flight, answers read
whole, and the give-way hook around each call. Against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from bot.drs.transport import PacedTransport


@dataclass
class Server:
    """Answers ``/hold`` once released (counting how many wait at once), ``/gzip`` with a
    gzip-encoded JSON body."""

    base: str = ""
    waiting: int = 0
    most_waiting: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    log: list[str] = field(default_factory=list)

    async def hold(self, _: web.Request) -> web.Response:
        self.log.append("server got it")
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await self.release.wait()
        finally:
            self.waiting -= 1
        return web.json_response({"ok": True})

    async def zipped(self, _: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"jobs": ["a", "b"]}).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/hold", srv.hold)
    app.router.add_get("/gzip", srv.zipped)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    srv.base = f"http://{host}:{port}"
    try:
        yield srv
    finally:
        srv.release.set()
        await runner.cleanup()


def pool(connections: int) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncHTTPTransport(limits=limits)


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(5.0):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_calls_in_flight_are_bounded_and_spread_over_the_pools(server: Server) -> None:
    transport = PacedTransport(pool, pools=3, per_pool=2)
    async with httpx.AsyncClient(transport=transport, base_url=server.base) as client:
        calls = [asyncio.create_task(client.get("/hold")) for _ in range(15)]
        await until(lambda: server.waiting == 6)
        await asyncio.sleep(0.1)  # had the bound leaked, more would arrive meanwhile
        assert server.waiting == 6
        assert transport.in_flight == (2, 2, 2)
        server.release.set()
        answers = await asyncio.gather(*calls)
    assert [a.json() for a in answers] == [{"ok": True}] * 15
    assert server.most_waiting == 6
    assert transport.in_flight == (0, 0, 0)


async def test_a_call_without_a_free_slot_in_time_is_a_pool_timeout(server: Server) -> None:
    transport = PacedTransport(pool, pools=1, per_pool=1)
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with httpx.AsyncClient(transport=transport, base_url=server.base, timeout=timeout) as c:
        first = asyncio.create_task(c.get("/hold"))
        await until(lambda: server.waiting == 1)
        with pytest.raises(httpx.PoolTimeout):
            await c.get("/hold")
        assert server.log == ["server got it"]  # the second never left
        server.release.set()
        assert (await first).status_code == 200
        # The slot is free again.
        assert (await c.get("/gzip")).status_code == 200


async def test_an_encoded_body_is_passed_on_raw_and_decoded_once(server: Server) -> None:
    async with httpx.AsyncClient(
        transport=PacedTransport(pool, pools=2, per_pool=1), base_url=server.base
    ) as client:
        answer = await client.get("/gzip")
    assert answer.json() == {"jobs": ["a", "b"]}


async def test_the_caller_gives_way_before_sending_and_after_the_answer(server: Server) -> None:
    async def give_way() -> None:
        server.log.append("gave way")

    server.release.set()
    transport = PacedTransport(pool, pools=1, per_pool=1, give_way=give_way)
    async with httpx.AsyncClient(transport=transport, base_url=server.base) as client:
        await client.get("/hold")
        server.log.append("caller has it")
    assert server.log == ["gave way", "server got it", "gave way", "caller has it"]


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pools and per_pool"):
        PacedTransport(pool, pools=0, per_pool=1)
    with pytest.raises(ValueError, match="pools and per_pool"):
        PacedTransport(pool, pools=1, per_pool=0)

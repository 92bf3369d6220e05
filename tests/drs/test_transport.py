"""The DRS transport against real servers on loopback: what arrives, the bound on calls in
flight, and which failure becomes which httpx exception (the outcome rules depend on it:
"never left" only when nothing was written)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from bot.drs.transport import DrsTransport


@dataclass
class Server:
    """``/hold`` answers once released (counting how many wait at once); ``/gzip`` answers a
    gzip-encoded JSON body; ``/echo`` answers what it received."""

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

    async def echo(self, request: web.Request) -> web.Response:
        self.log.append(f"{request.method} {request.headers.get('Host')} {request.path}")
        seen = {
            "body": (await request.read()).decode(),
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
        answer = web.json_response(seen, headers={"X-Request-Id": "r-1"})
        answer.headers.add("X-Twice", "1")
        answer.headers.add("X-Twice", "2")
        return answer


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app.router.add_get("/hold", srv.hold)
    app.router.add_get("/gzip", srv.zipped)
    app.router.add_route("*", "/{tail:.*}", srv.echo)
    runner, srv.base = await serve(app)
    try:
        yield srv
    finally:
        srv.release.set()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A TCP server on loopback that does whatever ``handle`` does with each connection."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(
        (int(v) for k, _, v in (ln.partition(b":") for ln in lines) if k == b"content-length"), 0
    )
    return head + await reader.readexactly(length)


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(5.0):
        while not predicate():
            await asyncio.sleep(0.01)


def client(
    base: str, *, in_flight: int = 10, give_way: Callable[[], Awaitable[None]] | None = None
) -> httpx.AsyncClient:
    transport = DrsTransport(max_in_flight=in_flight, give_way=give_way)
    return httpx.AsyncClient(transport=transport, base_url=base, timeout=5.0)


async def test_the_request_arrives_as_built_and_the_answer_comes_back_whole(
    server: Server,
) -> None:
    async with client(server.base) as c:
        answer = await c.post(
            "/v3/p/jobs/batch-starting",
            content=b'{"jobs":[{"job_id":"j1"}]}',
            headers={"Content-Type": "application/json", "X-Language": "zh-cn"},
        )
    assert answer.status_code == 200
    seen = answer.json()
    assert seen["body"] == '{"jobs":[{"job_id":"j1"}]}'
    assert seen["headers"]["x-language"] == "zh-cn"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["host"] == server.base.removeprefix("http://")
    assert answer.headers["X-Request-Id"] == "r-1"
    assert answer.headers.get_list("X-Twice") == ["1", "2"]


async def test_calls_in_flight_are_bounded(server: Server) -> None:
    async with client(server.base, in_flight=4) as c:
        calls = [asyncio.create_task(c.get("/hold")) for _ in range(12)]
        await until(lambda: server.waiting == 4)
        await asyncio.sleep(0.1)  # had the bound leaked, more would arrive meanwhile
        assert server.waiting == 4
        server.release.set()
        answers = await asyncio.gather(*calls)
    assert [a.json() for a in answers] == [{"ok": True}] * 12
    assert server.most_waiting == 4


async def test_a_call_without_a_free_slot_in_time_is_a_pool_timeout(server: Server) -> None:
    transport = DrsTransport(max_in_flight=1)
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with httpx.AsyncClient(transport=transport, base_url=server.base, timeout=timeout) as c:
        first = asyncio.create_task(c.get("/hold"))
        await until(lambda: server.waiting == 1)
        with pytest.raises(httpx.PoolTimeout):
            await c.get("/hold")
        assert server.log == ["server got it"]  # the second never left
        server.release.set()
        assert (await first).status_code == 200
        assert (await c.get("/gzip")).status_code == 200  # the slot is free again


async def test_an_encoded_body_is_passed_on_raw_and_decoded_once(server: Server) -> None:
    async with client(server.base) as c:
        answer = await c.get("/gzip")
    assert answer.json() == {"jobs": ["a", "b"]}


async def test_the_caller_gives_way_before_sending_and_after_the_answer(server: Server) -> None:
    async def give_way() -> None:
        server.log.append("gave way")

    server.release.set()
    async with client(server.base, give_way=give_way) as c:
        await c.get("/hold")
        server.log.append("caller has it")
    assert server.log == ["gave way", "server got it", "gave way", "caller has it"]


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with client(f"http://127.0.0.1:{port}") as c:
        with pytest.raises(httpx.ConnectError):
            await c.post("/x", content=b"{}")


async def test_a_connection_closed_after_the_request_may_have_been_processed() -> None:
    received: list[bytes] = []

    async def read_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        writer.close()

    async with raw_server(read_then_hang_up) as base, client(base) as c:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await c.post("/v3/p/jobs/batch-starting", content=b'{"jobs":[]}')
    # Not a connect error: the request went out, and it was sent once, never again.
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert len(received) == 1
    assert received[0].startswith(b"POST /v3/p/jobs/batch-starting ")


async def test_a_garbled_answer_is_a_protocol_error() -> None:
    async def garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(garble) as base, client(base) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("/x", content=b"{}")


async def test_no_answer_within_the_read_timeout_is_a_read_timeout() -> None:
    async def hang(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    transport = DrsTransport(max_in_flight=2)
    timeout = httpx.Timeout(5.0, read=0.2)
    async with (
        raw_server(hang) as base,
        httpx.AsyncClient(transport=transport, base_url=base, timeout=timeout) as c,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/x", content=b"{}")


async def test_the_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    target = f"http://localhost:{closed}"
    monkeypatch.setenv("HTTP_PROXY", server.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with client(target) as c:
        answer = await c.post("/v3/p/jobs/batch-status", content=b"{}")
    assert answer.status_code == 200
    assert server.log == [f"POST localhost:{closed} /v3/p/jobs/batch-status"]

    monkeypatch.setenv("NO_PROXY", "localhost")
    async with client(target) as c:
        with pytest.raises(httpx.ConnectError):  # straight to the closed port
            await c.post("/v3/p/jobs/batch-status", content=b"{}")
    assert len(server.log) == 1


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        DrsTransport(max_in_flight=0)

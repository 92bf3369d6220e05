"""DrsClient over the HTTP client the bot builds (``new_http_client``: httpx's own transport)
against the DRS simulator and plain TCP servers on loopback: the bound on connections, and
which failure becomes which outcome ("not sent" only when nothing can have been written)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.core.model import CallFailureKind, Outcome
from bot.core.secret import Secret
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DEMO_USER, DrsSimulator
from bot.drs import (
    AkSkAuth,
    DrsClient,
    DrsTransportError,
    IamTokenAuth,
    new_http_client,
)

STARTABLE = "3f2a9c1e-7b4d-4e8a-9c2f-5d1e0a7bjb01"


class Relay:
    """A TCP relay on loopback in front of ``port``, counting the connections made to it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = ""
        self.opened = 0
        self.open = 0
        self.most_open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
            await asyncio.gather(
                _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self.open -= 1


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


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


@contextlib.asynccontextmanager
async def relayed(sim: DrsSimulator) -> AsyncIterator[Relay]:
    relay = Relay(int(sim.url.rsplit(":", 1)[1]))
    async with raw_server(relay.handle) as url:
        relay.url = url
        yield relay


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


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aksk_client(http: httpx.AsyncClient, endpoint: str, **kwargs: Any) -> DrsClient:
    auth = AkSkAuth(Secret(DEFAULT_AK), Secret(DEFAULT_SK), DEFAULT_PROJECT_ID)
    return DrsClient(
        http=http, endpoint=endpoint, project_id=DEFAULT_PROJECT_ID, auth=auth, **kwargs
    )


@pytest.fixture
async def sim() -> AsyncIterator[DrsSimulator]:
    simulator = DrsSimulator()
    simulator.seed_demo()
    async with simulator:
        yield simulator


async def test_no_more_connections_than_configured_are_opened_and_they_are_kept(
    sim: DrsSimulator,
) -> None:
    sim.set_fault("batch-status", "latency", seconds=0.1)
    async with relayed(sim) as relay:
        async with new_http_client(read_timeout=5.0, max_connections=3) as http:
            client = aksk_client(http, relay.url)
            answers = await asyncio.gather(*(client.batch_status([STARTABLE]) for _ in range(12)))
            # the next call goes over a connection kept alive, not a new one
            await client.batch_status([STARTABLE])
            assert relay.opened == 3
        assert relay.most_open == 3
    assert [info.status for (info,) in answers] == ["CONFIGURATION"] * 12
    assert len([c for c in sim.calls if c.endpoint == "batch-status"]) == 13


async def test_a_call_without_a_free_connection_in_time_is_not_sent(sim: DrsSimulator) -> None:
    sim.set_fault("batch-status", "latency", seconds=1.0, count=1)
    async with (
        relayed(sim) as relay,
        new_http_client(read_timeout=5.0, max_connections=1, pool_timeout=0.2) as http,
    ):
        client = aksk_client(http, relay.url)
        holding = asyncio.create_task(client.batch_status([STARTABLE]))
        await until(lambda: relay.opened == 1)
        report = await client.batch_start([STARTABLE])
        assert report.results[0].outcome is Outcome.FAILED
        (failure,) = report.failures
        assert (failure.kind, failure.maybe_processed) == (CallFailureKind.TRANSPORT, False)
        assert "PoolTimeout" in failure.message
        assert sim.start_calls_for(STARTABLE) == 0
        await holding
        # the connection is free again, and reused
        report = await client.batch_start([STARTABLE])
        assert report.results[0].outcome is Outcome.SUCCESS
        assert relay.opened == 1


async def test_a_refused_connection_is_not_sent() -> None:
    async with new_http_client(read_timeout=5.0, max_connections=2) as http:
        report = await aksk_client(http, f"http://127.0.0.1:{closed_port()}").batch_start(
            [STARTABLE]
        )
    assert report.results[0].outcome is Outcome.FAILED
    (failure,) = report.failures
    assert (failure.kind, failure.maybe_processed) == (CallFailureKind.TRANSPORT, False)
    assert "ConnectError" in failure.message


async def test_no_answer_within_the_read_timeout_may_have_been_processed_and_is_not_resent(
    sim: DrsSimulator,
) -> None:
    sim.set_fault("batch-starting", "hang", seconds=5, processed=True, count=1)
    async with new_http_client(read_timeout=0.2, max_connections=2) as http:
        report = await aksk_client(http, sim.url).batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.UNKNOWN
    (failure,) = report.failures
    assert (failure.kind, failure.maybe_processed) == (CallFailureKind.TIMEOUT, True)
    await sim.stop()  # releases the held call, which is then recorded
    assert sim.start_calls_for(STARTABLE) == 1


async def test_a_connection_lost_after_sending_may_have_been_processed_and_is_not_resent() -> None:
    received: list[bytes] = []

    async def read_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        writer.close()

    async with (
        raw_server(read_then_hang_up) as base,
        new_http_client(read_timeout=5.0, max_connections=2) as http,
    ):
        report = await aksk_client(http, base).batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.UNKNOWN
    (failure,) = report.failures
    assert (failure.kind, failure.maybe_processed) == (CallFailureKind.TRANSPORT, True)
    assert len(received) == 1
    assert received[0].startswith(f"POST /v3/{DEFAULT_PROJECT_ID}/jobs/batch-starting ".encode())


async def test_a_garbled_answer_may_have_been_processed() -> None:
    async def garble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    async with (
        raw_server(garble) as base,
        new_http_client(read_timeout=5.0, max_connections=2) as http,
    ):
        report = await aksk_client(http, base).batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.UNKNOWN
    assert report.failures[0].maybe_processed is True


async def test_a_token_is_renewed_over_a_single_connection(sim: DrsSimulator) -> None:
    # The expired answer frees its connection before the new token is fetched over it.
    user, password, domain = DEMO_USER
    async with (
        relayed(sim) as relay,
        new_http_client(read_timeout=5.0, max_connections=1, pool_timeout=1.0) as http,
    ):
        auth = IamTokenAuth(
            http=http,
            iam_endpoint=relay.url,
            user=user,
            password=Secret(password),
            domain=domain,
            project_id=DEFAULT_PROJECT_ID,
        )
        client = DrsClient(http=http, endpoint=relay.url, project_id=DEFAULT_PROJECT_ID, auth=auth)
        await client.batch_status([STARTABLE])
        sim.set_fault("*", "token_expiry")
        report = await client.batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.SUCCESS
    assert [c.http_status for c in report.calls] == [401, 202]
    assert len([c for c in sim.calls if c.endpoint == "tokens"]) == 2
    assert relay.most_open == 1


async def test_the_proxy_from_the_environment_is_used_unless_no_proxy_names_the_host(
    sim: DrsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = f"http://localhost:{closed_port()}"  # nothing listens there
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with relayed(sim) as proxy:  # a forward proxy for plain HTTP passes requests on
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with new_http_client(read_timeout=5.0, max_connections=2) as http:
            (info,) = await aksk_client(http, target).batch_status([STARTABLE])
        assert info.status == "CONFIGURATION"
        assert proxy.opened == 1

        monkeypatch.setenv("NO_PROXY", "localhost")
        async with new_http_client(read_timeout=5.0, max_connections=2) as http:
            with pytest.raises(DrsTransportError, match="ConnectError"):  # straight there
                await aksk_client(http, target).batch_status([STARTABLE])
        assert proxy.opened == 1


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        new_http_client(read_timeout=1.0, max_connections=0)

"""``python -m bot`` in Socket Mode stops on SIGTERM / SIGINT whatever the connection's state,
and says in one line per failed attempt why it cannot reach Slack.

Slack is played on loopback only: an ``apps.connections.open`` that nobody answers, one that
hands out a WebSocket URL on a dead port (with a ticket that must stay out of the log), one on
a port that accepts the connection and never answers, and one that works.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from bench.stack import Child, child_env, free_port, policy_toml, project_table
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_SK
from tests.e2e.backend import database_env

STOP_WITHIN = 5.0  # seconds from the signal to the process's exit
TICKET = "ticket-0123456789abcdef"


class FakeSlack:
    """``POST /api/apps.connections.open`` answering with ``ws_url``; ``GET /link`` a working
    Socket Mode WebSocket that greets with ``hello``."""

    def __init__(self) -> None:
        self.ws_url = ""
        self.opens = 0
        self.sockets = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_get("/link/", self._link)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def _open(self, _: web.Request) -> web.Response:
        self.opens += 1
        return web.json_response({"ok": True, "url": self.ws_url})

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets += 1
        await ws.send_json({"type": "hello", "num_connections": 1})
        async for _ in ws:
            pass
        return ws

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


class Silent:
    """A TCP port that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            self._held.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for writer in self._held:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def start_bot(tmp_path: Path, api_url: str) -> Child:
    config = tmp_path / "startjobs.toml"
    project = project_table("http://127.0.0.1:9", requesters=["U01ALICE"], approvers=["U02BOB"])
    config.write_text(policy_toml({"prod": project}), "utf-8")
    env = child_env(
        SLACK_BOT_TOKEN="xoxb-fake-token",
        SLACK_APP_TOKEN="xapp-1-A0FAKE-1-appsecret0123456789",
        SLACK_API_URL=api_url,
        PORT=str(free_port()),  # /healthz: not the default port, which may be taken
        STARTJOBS_CONFIG=str(config),
        **database_env(tmp_path / "startjobs.db"),
        HUAWEICLOUD_SDK_AK=DEFAULT_AK,
        HUAWEICLOUD_SDK_SK=DEFAULT_SK,
    )
    argv = [sys.executable, "-m", "bot", "--env-file", os.devnull]
    return Child(argv, env, tmp_path / "bot.log")


async def wait_for(child: Child, ready: Callable[[str], bool], timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = child.log_path.read_text("utf-8", errors="replace")
        if ready(text):
            return text
        assert child.proc.poll() is None, f"the bot exited early:\n{child.log_tail()}"
        assert time.monotonic() < deadline, f"never got ready:\n{child.log_tail()}"
        await asyncio.sleep(0.05)


async def stop_by(child: Child, sig: signal.Signals) -> tuple[int, float, str]:
    """Send ``sig``; the exit code, the seconds it took, the whole log. Kills after the bound."""
    started = time.monotonic()
    child.proc.send_signal(sig)
    while child.proc.poll() is None and time.monotonic() - started < STOP_WITHIN + 5:
        await asyncio.sleep(0.02)
    took = time.monotonic() - started
    if child.proc.poll() is None:
        child.proc.kill()
        child.proc.wait()
    return child.proc.returncode, took, child.log_path.read_text("utf-8", errors="replace")


def assert_stopped_cleanly(code: int, took: float, log: str) -> None:
    assert took < STOP_WITHIN, f"took {took:.1f} s to stop:\n{log}"
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "startjobs stopping" in log, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_stops_on_a_signal_while_the_web_api_is_unreachable(
    tmp_path: Path, sig: signal.Signals
) -> None:
    dead = free_port()
    api_url = f"http://127.0.0.1:{dead}/api/"
    child = start_bot(tmp_path, api_url)
    line = f"Socket Mode: cannot reach Slack at {api_url}apps.connections.open (ClientConnector"
    await wait_for(child, lambda text: line in text)
    code, took, log = await stop_by(child, sig)
    assert_stopped_cleanly(code, took, log)
    failure = next(x for x in log.splitlines() if line in x)
    assert "check network access to slack.com" in failure
    assert "SLACK_APP_TOKEN" in failure
    assert "retrying in 10 s" in failure
    assert "appsecret0123456789" not in log


async def test_stops_while_the_websocket_port_is_dead(tmp_path: Path, slack: FakeSlack) -> None:
    dead = free_port()
    slack.ws_url = f"ws://127.0.0.1:{dead}/link/?ticket={TICKET}"
    child = start_bot(tmp_path, f"{slack.url}/api/")
    line = f"Socket Mode: cannot reach Slack at 127.0.0.1:{dead} (the WebSocket)"
    await wait_for(child, lambda text: line in text)
    code, took, log = await stop_by(child, signal.SIGINT)
    assert_stopped_cleanly(code, took, log)
    assert "wss-primary.slack.com" in next(x for x in log.splitlines() if line in x)
    assert TICKET not in log
    assert "Failed to connect" not in log


async def test_stops_while_the_websocket_never_answers(tmp_path: Path, slack: FakeSlack) -> None:
    silent = Silent()
    await silent.start()
    try:
        slack.ws_url = f"ws://127.0.0.1:{silent.port}/link/?ticket={TICKET}"
        child = start_bot(tmp_path, f"{slack.url}/api/")
        deadline = time.monotonic() + 20
        while silent.accepted == 0:  # the bot is inside the WebSocket handshake, waiting
            assert child.proc.poll() is None, child.log_tail()
            assert time.monotonic() < deadline, child.log_tail()
            await asyncio.sleep(0.05)
        code, took, log = await stop_by(child, signal.SIGTERM)
    finally:
        await silent.close()
    assert_stopped_cleanly(code, took, log)


async def test_a_working_connection_is_served_and_closed_on_a_signal(
    tmp_path: Path, slack: FakeSlack
) -> None:
    slack.ws_url = f"{slack.url.replace('http', 'ws')}/link/?ticket={TICKET}"
    child = start_bot(tmp_path, f"{slack.url}/api/")
    await wait_for(child, lambda text: "startjobs running in Socket Mode" in text)
    assert slack.sockets == 1
    code, took, log = await stop_by(child, signal.SIGTERM)
    assert_stopped_cleanly(code, took, log)
    assert "cannot reach Slack" not in log

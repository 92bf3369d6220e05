"""What the Socket Mode client logs when it cannot connect: one line, the cause, what to check.

Driven through slack_sdk's real client against loopback servers (an ``apps.connections.open``
that refuses the token, a WebSocket endpoint that refuses the upgrade); the bot's process-level
behaviour (signals, exit) is in ``tests/e2e/test_socket_mode_stop.py``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import socket_mode
from bot.slack.socket_mode import CLIENT_LOGGER, ConnectionLog

TICKET = "ticket-0123456789abcdef"


@pytest.fixture
async def slack() -> AsyncIterator[tuple[str, dict[str, object]]]:
    """A loopback Slack: ``answer`` is what apps.connections.open returns; ``/link/`` refuses
    every WebSocket upgrade with a 403."""
    answer: dict[str, object] = {}

    async def open_connection(_: web.Request) -> web.Response:
        return web.json_response(answer)

    async def link(_: web.Request) -> web.Response:
        return web.Response(status=403, text="forbidden")

    app = web.Application()
    app.router.add_post("/api/apps.connections.open", open_connection)
    app.router.add_get("/link/", link)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", answer
    finally:
        await runner.cleanup()


async def first_failure(base: str, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Serve until the client has logged its first warning; the client's records until then."""
    api_url = f"{base}/api/"
    bolt = AsyncApp(
        client=AsyncWebClient(token="xoxb-fake", base_url=api_url),
        signing_secret="not-used-in-socket-mode",
    )
    stop = asyncio.Event()
    caplog.set_level(logging.INFO)
    serving = asyncio.create_task(socket_mode.serve(bolt, "xapp-1-A1-2-secret", api_url, stop))

    def client_records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == CLIENT_LOGGER]

    async with asyncio.timeout(10):
        while not any(r.levelno >= logging.WARNING for r in client_records()):
            await asyncio.sleep(0.02)
        stop.set()
        await serving
    return client_records()


def rendered(record: logging.LogRecord) -> str:
    return logging.Formatter().format(record)


async def test_a_refused_app_token_is_one_line_naming_slack_app_token(
    slack: tuple[str, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    base, answer = slack
    answer.update(ok=False, error="invalid_auth")
    records = await first_failure(base, caplog)
    failures = [r for r in records if r.levelno >= logging.WARNING]
    assert len(failures) == 1, [rendered(r) for r in records]
    line = rendered(failures[0])
    assert line.startswith(
        f"Socket Mode: Slack refused {base}/api/apps.connections.open (invalid_auth); "
        "check SLACK_APP_TOKEN"
    )
    assert line.endswith("retrying in 10 s")
    assert "\n" not in line and "Traceback" not in line
    assert not any("Failed to retrieve WSS URL" in r.getMessage() for r in records)


async def test_a_refused_websocket_is_one_line_without_its_ticket(
    slack: tuple[str, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    base, answer = slack
    answer.update(ok=True, url=f"{base.replace('http', 'ws')}/link/?ticket={TICKET}")
    records = await first_failure(base, caplog)
    failures = [r for r in records if r.levelno >= logging.WARNING]
    assert len(failures) == 1, [rendered(r) for r in records]
    line = rendered(failures[0])
    assert line.startswith(
        f"Socket Mode: cannot reach Slack at {base.replace('http', 'ws')}/link/ "
        "(WSServerHandshakeError: HTTP 403"
    ), line
    assert "wss-primary.slack.com" in line
    assert "\n" not in line
    assert TICKET not in "\n".join(rendered(r) for r in caplog.records)


def record(text: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(CLIENT_LOGGER, logging.ERROR, __file__, 1, text, None, exc_info)


def test_a_failed_reconnection_check_is_kept_on_one_line_with_advice() -> None:
    r = record(
        "Failed to check the current session (s_1) or reconnect to the server "
        "(error: SlackApiError, message: The request to the Slack API failed.\n"
        "The server responded with: {'ok': False, 'error': 'invalid_auth'})"
    )
    assert ConnectionLog("https://slack.com/api/", 10).filter(r)
    line = rendered(r)
    assert "\n" not in line
    assert line.startswith("Socket Mode: could not reconnect to Slack (Failed to check")
    assert "invalid_auth" in line and "SLACK_APP_TOKEN" in line
    assert line.endswith("retrying in 10 s")


def test_an_error_that_is_not_about_the_network_keeps_its_traceback() -> None:
    try:
        raise KeyError("url")
    except KeyError:
        r = record("Failed to connect (error: 'url'); Retrying...", sys.exc_info()[1])
    assert ConnectionLog("https://slack.com/api/", 10).filter(r)
    assert "Traceback" in rendered(r)
    assert r.levelno == logging.ERROR


def test_other_network_errors_lose_only_their_traceback() -> None:
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        r = record("Failed to close the old session : reset", sys.exc_info()[1])
    assert ConnectionLog("https://slack.com/api/", 10).filter(r)
    line = rendered(r)
    assert line == (
        "Socket Mode: Failed to close the old session : reset "
        "(ConnectionResetError: [Errno 104] Connection reset by peer)"
    )

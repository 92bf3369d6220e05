"""Socket Mode: hold the connection to Slack until told to stop, and say plainly when it fails.

slack_sdk's client retries a failed connection forever (every ``PING_SECONDS``), logging a full
traceback each time, inside a call that never returns while Slack is unreachable. Here the
connection is made in a task raced against the stop event, so a signal ends it within
``CLOSE_SECONDS`` whatever state the connection is in, and :class:`ConnectionLog` turns each
failed attempt into one line naming what failed and what to check.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# slack_sdk pings the connection this often, and waits this long between connection attempts.
PING_SECONDS = 10.0
# How long stopping may wait for the connection attempt to end and for the socket to close.
CLOSE_SECONDS = 2.0
# The logger the Socket Mode client writes to (its records pass through ConnectionLog).
CLIENT_LOGGER = "bot.slack.socket_mode.client"

# Answers of apps.connections.open that mean the app-level token is wrong.
_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "invalid_token",
    }
)
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, SlackApiError)


class ConnectionLog(logging.Filter):
    """Rewrites the Socket Mode client's connection failures as one line each.

    A failed attempt (logged by slack_sdk with its traceback) becomes ``Socket Mode: cannot
    reach Slack at <where> (<error>); check <what>; retrying in N s``; the client's separate
    "Failed to retrieve WSS URL" line, which the next one repeats, is dropped, and so is its
    note on closing a session that never was; a failed reconnection check is kept on one line
    with the same advice. Anything else passes as is.
    """

    def __init__(self, api_url: str, retry_seconds: float) -> None:
        super().__init__()
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.retry_seconds = retry_seconds

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        text = record.getMessage()
        if isinstance(exc, _NETWORK_ERRORS):
            if text.startswith("Failed to connect"):
                self._replace(record, self.describe(exc))
            else:  # e.g. closing a broken session: the network, no bug, one line is enough
                self._replace(record, f"Socket Mode: {text} ({_error_text(exc)})")
            return True
        if exc is not None:
            return True  # not a connection failure: a bug worth its traceback
        if text.startswith(("Failed to retrieve WSS URL", "The current session () ")):
            return False  # repeated by the next line / closing when no session was ever made
        if text.startswith("Failed to check the current session"):
            one_line = " ".join(text.split())
            self._replace(
                record,
                f"Socket Mode: could not reconnect to Slack ({one_line}); check network access "
                f"to slack.com and SLACK_APP_TOKEN; retrying in {self.retry_seconds:g} s",
            )
        return True

    def describe(self, exc: BaseException) -> str:
        """The line for a failed connection attempt that raised ``exc``."""
        retry = f"retrying in {self.retry_seconds:g} s"
        opening = f"{self.api_url}apps.connections.open"
        if isinstance(exc, SlackApiError):
            error = str(exc.response.get("error", "error"))
            if error in _TOKEN_ERRORS:
                advice = (
                    "check SLACK_APP_TOKEN: an app-level token (xapp-…) of this app "
                    "with the connections:write scope"
                )
            else:
                advice = "check SLACK_APP_TOKEN and Slack's status"
            return f"Socket Mode: Slack refused {opening} ({error}); {advice}; {retry}"
        if _raised_in(exc, "issue_new_wss_url"):
            return (
                f"Socket Mode: cannot reach Slack at {opening} ({_error_text(exc)}); "
                f"check network access to slack.com (HTTPS, port 443), any proxy, "
                f"SLACK_API_URL and SLACK_APP_TOKEN; {retry}"
            )
        return (
            f"Socket Mode: cannot reach Slack at {_socket_address(exc)} ({_error_text(exc)}); "
            f"check that WebSockets to wss-primary.slack.com (port 443) pass the network and "
            f"any proxy; {retry}"
        )

    @staticmethod
    def _replace(record: logging.LogRecord, text: str) -> None:
        record.msg = text
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)


def _raised_in(exc: BaseException, function: str) -> bool:
    """True when ``function`` is on the way from the catch to where ``exc`` was raised."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == function:
            return True
        tb = tb.tb_next
    return False


def _error_text(exc: BaseException) -> str:
    """``Class: message`` without any URL's query (a WebSocket URL carries a ticket)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{name}: HTTP {exc.status} {exc.message}".rstrip()
    text = " ".join(str(exc).split())
    return f"{name}: {text}" if text else f"{name}: no answer in time"


def _socket_address(exc: BaseException) -> str:
    """Where the WebSocket was to connect, as far as ``exc`` tells (never with a query)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        url = exc.request_info.real_url
        return str(url.with_query(None).with_fragment(None))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{exc.host}:{exc.port} (the WebSocket)"
    return "the WebSocket URL Slack gave"


def client_logger(api_url: str, retry_seconds: float = PING_SECONDS) -> logging.Logger:
    """The logger for the Socket Mode client, with a :class:`ConnectionLog` (only one)."""
    logger = logging.getLogger(CLIENT_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, ConnectionLog)]:
        logger.removeFilter(old)
    logger.addFilter(ConnectionLog(api_url, retry_seconds))
    return logger


async def serve(app: AsyncApp, app_token: str, api_url: str, stop: asyncio.Event) -> None:
    """Connect ``app`` to Slack in Socket Mode and serve until ``stop`` is set.

    The connection attempt (retried by slack_sdk while Slack is unreachable) runs in a task
    raced against ``stop``; once ``stop`` is set the attempt is cancelled and the socket
    closed, each within :data:`CLOSE_SECONDS`.
    """
    handler = AsyncSocketModeHandler(
        app, app_token, logger=client_logger(api_url), ping_interval=PING_SECONDS
    )
    connecting = asyncio.create_task(handler.connect_async(), name="socket-mode-connect")  # type: ignore[no-untyped-call]
    stopping = asyncio.create_task(stop.wait(), name="socket-mode-stop")
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            log.info("startjobs running in Socket Mode")
            await stopping
    finally:
        stopping.cancel()
        await _close(handler, connecting)


async def _close(handler: AsyncSocketModeHandler, connecting: asyncio.Task[None]) -> None:
    connecting.cancel()
    await asyncio.wait({connecting}, timeout=CLOSE_SECONDS)
    if not connecting.done():
        log.warning("Socket Mode: the connection attempt did not end within %g s", CLOSE_SECONDS)
    elif not connecting.cancelled() and connecting.exception() is not None:
        log.warning("Socket Mode: the connection attempt failed", exc_info=connecting.exception())
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await handler.close_async()  # type: ignore[no-untyped-call]
    except TimeoutError:
        log.warning("Socket Mode: the connection did not close within %g s", CLOSE_SECONDS)

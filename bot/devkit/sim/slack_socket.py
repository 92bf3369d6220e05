"""The fake Slack's Socket Mode: ``apps.connections.open`` and the WebSocket it hands out.

As Slack does, an app may hold several connections at once (one per replica) and each payload
is handed to *one* of them: :meth:`SocketModeHub.deliver` sends an envelope to the next open
connection in turn (or to the one opened with a given app-level token) and waits for the
acknowledgement that carries the envelope's id, with its response payload if any.

Envelopes as Slack sends them: ``{"envelope_id", "type": "slash_commands" | "interactive" |
"events_api", "payload", "accepts_response_payload", "retry_attempt", "retry_reason"}``; a
connection is greeted with ``{"type": "hello", "num_connections", "connection_info",
"debug_info"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.devkit.sim.slack_model import JSON

APP_TOKEN_PREFIX = "xapp-"  # noqa: S105 - the prefix of app-level tokens, not a token
PATH = "/socket-mode/{ticket}"


@dataclass(frozen=True)
class Delivery:
    """What became of one envelope: the connection's app-level token it went to, whether it
    was acknowledged within the wait, the acknowledgement's payload, the seconds it took."""

    app_token: str
    acked: bool
    payload: JSON | None
    elapsed: float


@dataclass
class _Connection:
    app_token: str
    ws: web.WebSocketResponse
    waiting: dict[str, asyncio.Future[JSON | None]] = field(default_factory=dict)


class SocketModeHub:
    """Connections of Socket Mode clients, and delivery of envelopes to one of them."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.root_ws_url = ""  # ws://host:port, set when the server listens
        self._tickets: dict[str, str] = {}  # ticket -> the app-level token that opened it
        self._open: list[_Connection] = []
        self._turn = itertools.count()
        self.opened = 0  # connections ever opened
        self.delivered: list[Delivery] = []

    # ---- the Web API side ------------------------------------------------------------------

    def connections_open(self, token: str) -> JSON:
        """``apps.connections.open`` with ``token``: a one-use WebSocket URL."""
        if not token.startswith(APP_TOKEN_PREFIX):
            return {"ok": False, "error": "not_allowed_token_type"}
        ticket = secrets.token_hex(12)
        self._tickets[ticket] = token
        return {"ok": True, "url": f"{self.root_ws_url}/socket-mode/{ticket}"}

    async def link(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket of one ticket (each ticket opens one connection)."""
        token = self._tickets.pop(request.match_info["ticket"], None)
        if token is None:
            return web.Response(status=403, text="unknown or used ticket")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        conn = _Connection(token, ws)
        self._open.append(conn)
        self.opened += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._open),
                "connection_info": {"app_id": self.app_id},
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
            }
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                self._acknowledged(conn, msg.data)
        finally:
            self._open.remove(conn)
            for waiting in conn.waiting.values():
                if not waiting.done():
                    waiting.set_exception(ConnectionError("the connection closed"))
        return ws

    def _acknowledged(self, conn: _Connection, text: str) -> None:
        with contextlib.suppress(ValueError):
            ack: Any = json.loads(text)
            if not isinstance(ack, dict):
                return
            waiting = conn.waiting.pop(str(ack.get("envelope_id")), None)
            if waiting is not None and not waiting.done():
                payload = ack.get("payload")
                waiting.set_result(payload if isinstance(payload, dict) else None)

    # ---- delivering ------------------------------------------------------------------------

    def app_tokens(self) -> list[str]:
        """The app-level tokens of the open connections, oldest first."""
        return [c.app_token for c in self._open]

    async def wait_connected(self, count: int, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while len(self._open) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._open)} of {count} Socket Mode connections open")
            await asyncio.sleep(0.02)

    async def deliver(
        self, kind: str, payload: JSON, *, via: str | None = None, within: float = 10.0
    ) -> Delivery:
        """Send one envelope of ``kind`` to the connection of app token ``via`` (None: the
        next open one in turn) and wait up to ``within`` seconds for its acknowledgement."""
        conn = self._pick(via)
        envelope_id = secrets.token_hex(16)
        answered: asyncio.Future[JSON | None] = asyncio.get_running_loop().create_future()
        conn.waiting[envelope_id] = answered
        started = time.perf_counter()
        await conn.ws.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        try:
            ack = await asyncio.wait_for(answered, within)
        except (TimeoutError, ConnectionError):
            conn.waiting.pop(envelope_id, None)
            done = Delivery(conn.app_token, False, None, time.perf_counter() - started)
        else:
            done = Delivery(conn.app_token, True, ack, time.perf_counter() - started)
        self.delivered.append(done)
        return done

    def _pick(self, via: str | None) -> _Connection:
        if not self._open:
            raise RuntimeError("no Socket Mode connection is open")
        if via is not None:
            for conn in self._open:
                if conn.app_token == via:
                    return conn
            raise RuntimeError("no open Socket Mode connection has that app token")
        return self._open[next(self._turn) % len(self._open)]

    async def close(self) -> None:
        for conn in list(self._open):
            await conn.ws.close()

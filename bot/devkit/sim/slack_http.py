"""The fake Slack's HTTP side: Web API calls, uploads, file downloads and response URLs.

Each call is checked for the bot token, may meet a queued fault (an error, a 429 with
``Retry-After``, a late answer) or a delay, is carried out on the
:class:`~bot.devkit.sim.slack_state.Workspace`, and is recorded as a
:class:`~bot.devkit.sim.slack_model.SlackCall`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from bot.core.secret import Secret
from bot.devkit.sim.slack_common import SlackError
from bot.devkit.sim.slack_model import JSON, SlackCall
from bot.devkit.sim.slack_socket import PATH as SOCKET_PATH
from bot.devkit.sim.slack_socket import SocketModeHub
from bot.devkit.sim.slack_state import METHOD_SCOPES, Workspace


@dataclass
class _Fault:
    error: str | None  # None: answer 429 instead
    retry_after: int
    remaining: int | None  # None: every call from now on


class SlackServer:
    """Serves one :class:`~bot.devkit.sim.slack_state.Workspace`; ``calls`` records every call."""

    def __init__(
        self,
        ws: Workspace,
        *,
        token: Secret,
        clock: Callable[[], float],
        latency: float,
        socket: SocketModeHub | None = None,
    ) -> None:
        self._ws = ws
        self.socket = socket
        self._token = token
        self._clock = clock
        self.latency = latency
        self.method_latency: dict[str, float] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._late: dict[str, deque[float]] = {}
        self.calls: list[SlackCall] = []

    def app(self) -> web.Application:
        """The routes of every served path (see :mod:`bot.devkit.sim.slack`)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{key}", self._upload)
        app.router.add_get("/files-pri/{slug}/{name}", self._download)
        app.router.add_get("/files-pri/{slug}/download/{name}", self._download)
        app.router.add_post("/response/{rid}", self._response_url)
        if self.socket is not None:
            app.router.add_get(SOCKET_PATH, self.socket.link)
        return app

    # ---- faults ----------------------------------------------------------------------------

    def fail(self, method: str, error: str, count: int | None) -> None:
        self._faults.setdefault(method, deque()).append(_Fault(error, 0, count))

    def rate_limit(self, method: str, retry_after: int, count: int) -> None:
        self._faults.setdefault(method, deque()).append(_Fault(None, retry_after, count))

    def answer_late(self, method: str, seconds: float, count: int) -> None:
        self._late.setdefault(method, deque()).extend([seconds] * count)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._late.clear()

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
        return fault

    async def _delay(self, method: str) -> None:
        delay = self.method_latency.get(method, self.latency)
        if delay > 0:
            await asyncio.sleep(delay)

    def _authorized(self, request: web.Request, args: dict[str, Any]) -> str | None:
        """None when the bot token is presented, else the error code to answer."""
        header = request.headers.get("Authorization", "")
        body_token = args.pop("token", None)
        if header.startswith("Bearer "):
            presented = header.removeprefix("Bearer ")
        elif isinstance(body_token, str) and body_token:
            presented = body_token
        else:
            return "not_authed"
        if not hmac.compare_digest(presented.encode(), self._token.reveal().encode()):
            return "invalid_auth"
        return None

    def _record(
        self, method: str, args: Mapping[str, Any], at: float, status: int, body: JSON
    ) -> None:
        ok = bool(body.get("ok"))
        error = None if ok else str(body.get("error"))
        self.calls.append(SlackCall(method, dict(args), at, status, ok, error))

    def _answer(
        self,
        method: str,
        args: Mapping[str, Any],
        at: float,
        body: JSON,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        self._record(method, args, at, status, body)
        all_headers = {"x-oauth-scopes": ",".join(self._ws.team.scopes), **(headers or {})}
        return web.json_response(body, status=status, headers=all_headers)

    async def _api(self, request: web.Request) -> web.Response:
        at = self._clock()
        method = request.match_info["method"]
        try:
            args = await _read_args(request)
        except ValueError:
            return self._answer(method, {}, at, {"ok": False, "error": "invalid_json"})
        await self._delay(method)
        if method == "apps.connections.open" and self.socket is not None:
            presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return self._answer(method, {}, at, self.socket.connections_open(presented))
        if method not in METHOD_SCOPES:
            body = {"ok": False, "error": "unknown_method"}
            return self._answer(method, args, at, body, status=404)
        auth_error = self._authorized(request, args)
        if auth_error is not None:
            return self._answer(method, args, at, {"ok": False, "error": auth_error})
        fault = self._take_fault(method)
        if fault is not None and fault.error is None:
            return self._answer(
                method,
                args,
                at,
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(fault.retry_after)},
            )
        if fault is not None:
            return self._answer(method, args, at, {"ok": False, "error": fault.error})
        accepted = {"x-accepted-oauth-scopes": METHOD_SCOPES[method] or ""}
        try:
            result = self._ws.call(method, args)
        except SlackError as exc:
            return self._answer(method, args, at, exc.body(), status=exc.status, headers=accepted)
        late = self._late.get(method)
        if late:
            await asyncio.sleep(late.popleft())
        return self._answer(method, args, at, {"ok": True, **result}, headers=accepted)

    async def _upload(self, request: web.Request) -> web.Response:
        at = self._clock()
        await self._delay("upload")
        content = await _read_upload(request)
        status, text = self._ws.files.upload(request.match_info["key"], content)
        args = {"key": request.match_info["key"], "size": len(content)}
        self._record("upload", args, at, status, {"ok": status == 200, "error": text})
        return web.Response(status=status, text=text, content_type="text/plain")

    async def _download(self, request: web.Request) -> web.Response:
        at = self._clock()
        slug = request.match_info["slug"]
        file_id = slug.split("-", 1)[1] if "-" in slug else slug
        f = self._ws.files.file(file_id)
        auth_error = self._authorized(request, {})
        args = {"file": file_id}
        if auth_error is not None:
            self._record("file_download", args, at, 403, {"ok": False, "error": auth_error})
            return web.Response(status=403, text="forbidden", content_type="text/plain")
        if f is None or f.filename != request.match_info["name"]:
            self._record("file_download", args, at, 404, {"ok": False, "error": "file_not_found"})
            return web.Response(status=404, text="not found", content_type="text/plain")
        self._record("file_download", args, at, 200, {"ok": True})
        return web.Response(body=f.content, content_type="application/octet-stream")

    async def _response_url(self, request: web.Request) -> web.Response:
        at = self._clock()
        method = "response_url"
        try:
            body = await _read_args(request)
        except ValueError:
            return self._answer(method, {}, at, {"ok": False, "error": "invalid_json"}, status=400)
        if isinstance(body.get("payload"), str):
            body = json.loads(body["payload"])
        await self._delay(method)
        fault = self._take_fault(method)
        if fault is not None:
            error = fault.error or "ratelimited"
            return self._answer(method, body, at, {"ok": False, "error": error}, status=404)
        status, answer = self._ws.chat.respond(request.match_info["rid"], body)
        return self._answer(method, body, at, answer, status=status)


async def _read_args(request: web.Request) -> dict[str, Any]:
    """Query string and body merged; JSON values keep their types, form values are strings."""
    args: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return args
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            raise ValueError("invalid JSON body") from exc
        if not isinstance(body, dict):
            raise ValueError("JSON body is not an object")
        args.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return args


async def _read_upload(request: web.Request) -> bytes:
    """The uploaded bytes: the raw body, or the first file part of a multipart body."""
    if request.content_type != "multipart/form-data":
        return await request.read()
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            return b""
        if isinstance(part, BodyPartReader) and part.filename is not None:
            return bytes(await part.read(decode=True))

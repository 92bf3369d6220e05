"""A fake Slack Web API served over real HTTP on loopback.

Point ``slack_sdk.web.async_client.AsyncWebClient(token=..., base_url=fake.url)`` at a started
:class:`FakeSlack` and the bot talks to it exactly as it talks to Slack: same methods, same
form-or-JSON bodies, same ``{"ok": false, "error": ...}`` answers, 429 with ``Retry-After``
when told to. The fake also keeps a model of what people would see (channel messages, thread
replies, ephemeral messages, open modals, shared files) for tests to assert on.

Served paths, relative to :attr:`FakeSlack.root_url`::

    api/{method}                      Web API methods (GET or POST)
    upload/v1/{key}                   upload URLs handed out by files.getUploadURLExternal
    files-pri/{team}-{file}/{name}    url_private of a file (bot token required)
    response/{id}                     response_url endpoints issued to interaction payloads
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from bot.core.secret import Secret
from bot.devkit.lifecycle import AsyncService
from bot.devkit.sim.slack_common import SlackError
from bot.devkit.sim.slack_model import (
    DEFAULT_SCOPES,
    JSON,
    FakeChannel,
    FakeEphemeral,
    FakeFile,
    FakeMessage,
    FakeUser,
    FakeView,
    SlackCall,
)
from bot.devkit.sim.slack_state import METHOD_SCOPES, Workspace

__all__ = [
    "DEFAULT_SCOPES",
    "FakeChannel",
    "FakeEphemeral",
    "FakeFile",
    "FakeMessage",
    "FakeSlack",
    "FakeUser",
    "FakeView",
    "SlackCall",
]


@dataclass
class _Fault:
    error: str | None  # None: answer 429 instead
    retry_after: int
    remaining: int | None  # None: every call from now on


class FakeSlack(AsyncService):
    """The fake Slack Web API and workspace.

    Construct, ``await start()`` (or ``async with``), give :attr:`url` to the Web API client.
    All state lives on the event loop that runs the server; inspect it from that loop.
    ``clock`` (default ``time.time``) drives message ts values, trigger_id expiry (3 s) and
    response_url expiry (30 min), so tests can expire them without waiting.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0STARTJOBS",
        team_domain: str = "startjobs",
        bot_token: str | Secret = "xoxb-fake-token",  # noqa: S107 - the fake's own token
        bot_user_id: str = "U0BOT",
        scopes: Sequence[str] = DEFAULT_SCOPES,
        users: Mapping[str, FakeUser] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        plan_has_usergroups: bool = True,
        latency: float = 0.0,
        channels: Mapping[str, FakeChannel] | None = None,
        clock: Callable[[], float] = time.time,
        blocks_char_limit: int | None = None,
    ) -> None:
        """``users``/``channels`` left as None mean "anyone exists, the bot is everywhere".

        ``blocks_char_limit`` turns on Slack's undocumented aggregate cap: messages whose
        blocks hold more text than this are refused with ``msg_blocks_too_long``.
        """
        self._token = bot_token if isinstance(bot_token, Secret) else Secret(bot_token)
        self._ws = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            scopes=scopes,
            users=users,
            usergroups=usergroups,
            plan_has_usergroups=plan_has_usergroups,
            channels=channels,
            clock=clock,
            blocks_char_limit=blocks_char_limit,
        )
        self._clock = clock
        self._latency = latency
        self._method_latency: dict[str, float] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._late: dict[str, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self.calls: list[SlackCall] = []
        self.root_url = ""
        self.url = ""

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port); returns :attr:`url`."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{key}", self._upload)
        app.router.add_get("/files-pri/{slug}/{name}", self._download)
        app.router.add_get("/files-pri/{slug}/download/{name}", self._download)
        app.router.add_post("/response/{rid}", self._response_url)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.root_url = f"http://{host}:{bound_port}/"
        self.url = f"{self.root_url}api/"
        self._ws.team.root_url = self.root_url
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- workspace facts -------------------------------------------------------------------

    @property
    def team_id(self) -> str:
        return self._ws.team.team_id

    @property
    def team_domain(self) -> str:
        return self._ws.team.team_domain

    @property
    def bot_user_id(self) -> str:
        return self._ws.team.bot_user_id

    @property
    def app_id(self) -> str:
        return self._ws.team.app_id

    @property
    def workspace(self) -> Workspace:
        """The state behind the server, for the driver's hooks."""
        return self._ws

    # ---- what people see -------------------------------------------------------------------

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[FakeMessage]:
        """Top-level messages of ``channel`` in posting order, as they look now."""
        return self._ws.chat.messages(channel)

    def thread(self, channel: str, ts: str) -> list[FakeMessage]:
        """Replies in the thread of message ``ts``, oldest first (without the parent)."""
        return self._ws.chat.thread(channel, ts)

    def message(self, channel: str, ts: str) -> FakeMessage | None:
        """Any message (top-level or reply) by its ts."""
        return self._ws.chat.message(channel, ts)

    def ephemerals(self, user: str | None = None) -> list[FakeEphemeral]:
        """Ephemeral messages in order; only those ``user`` saw when given."""
        return [e for e in self._ws.chat.ephemerals if user is None or e.user == user]

    def views(self) -> list[FakeView]:
        """Every view ever opened or pushed, in opening order; see ``FakeView.closed``."""
        return self._ws.views.all()

    def view(self, view_id: str) -> FakeView | None:
        return self._ws.views.view(view_id)

    @property
    def files(self) -> list[FakeFile]:
        """Uploads the bot completed (files.completeUploadExternal), in order."""
        return self._ws.files.completed

    def add_user_file(self, user: str, filename: str, content: bytes) -> FakeFile:
        """A file a user uploaded in their client, for a ``file_input`` submission."""
        return self._ws.files.add_user_file(user, filename, content)

    def issue_trigger_id(self, user: str, *, view_id: str | None = None) -> str:
        """A trigger_id as an interaction would carry (single use, 3 s); ``view_id`` ties it
        to a modal, as a click inside that modal does (for views.push)."""
        return self._ws.views.issue_trigger_id(user, view_id=view_id)

    def issue_response_url(self, *, channel: str, user: str, message_ts: str | None = None) -> str:
        """A response_url (5 uses, 30 min); ``message_ts`` names the original message."""
        return self._ws.chat.issue_response_url(
            channel=channel, user=user, message_ts=message_ts, thread_ts=None
        )

    # ---- steering --------------------------------------------------------------------------

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        self._ws.people.set_usergroup(group_id, members)

    def set_channel(self, channel_id: str, channel: FakeChannel) -> None:
        self._ws.people.set_channel(channel_id, channel)

    def set_latency(self, seconds: float, *, method: str | None = None) -> None:
        """Delay every answer (or only ``method``'s) by ``seconds``."""
        if method is None:
            self._latency = seconds
        else:
            self._method_latency[method] = seconds

    def fail(self, method: str, error: str, *, count: int | None = 1) -> None:
        """Answer the next ``count`` calls (None: all) of ``method`` with ``error``.

        ``method`` may also be ``"response_url"``. Faults queue in order with
        :meth:`rate_limit` and apply after the token check.
        """
        self._faults.setdefault(method, deque()).append(_Fault(error, 0, count))

    def rate_limit(self, method: str, *, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with HTTP 429 and ``Retry-After``."""
        self._faults.setdefault(method, deque()).append(_Fault(None, retry_after, count))

    def answer_late(self, method: str, seconds: float, *, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` are carried out at once, but answered only
        ``seconds`` later (a client that gives up first does not know they were made)."""
        self._late.setdefault(method, deque()).extend([seconds] * count)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._late.clear()

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the condition, not for I/O
    ) -> None:
        """Return once ``predicate()`` is true; raise TimeoutError after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.005)

    # ---- HTTP ------------------------------------------------------------------------------

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
        delay = self._method_latency.get(method, self._latency)
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

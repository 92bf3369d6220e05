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

This module holds :class:`FakeSlack`, what tests start and steer; the requests themselves are
served by :class:`bot.devkit.sim.slack_http.SlackServer`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from aiohttp import web

from bot.core.secret import Secret
from bot.devkit.lifecycle import AsyncService
from bot.devkit.sim.slack_http import SlackServer
from bot.devkit.sim.slack_model import (
    DEFAULT_SCOPES,
    FakeChannel,
    FakeEphemeral,
    FakeFile,
    FakeMessage,
    FakeUser,
    FakeView,
    SlackCall,
)
from bot.devkit.sim.slack_socket import SocketModeHub
from bot.devkit.sim.slack_state import Workspace

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
        # Socket Mode: apps.connections.open (with an app-level token) and its WebSockets.
        self.socket = SocketModeHub(app_id=self._ws.team.app_id)
        self._server = SlackServer(
            self._ws, token=self._token, clock=clock, latency=latency, socket=self.socket
        )
        self._runner: web.AppRunner | None = None
        self.calls: list[SlackCall] = self._server.calls
        self.root_url = ""
        self.url = ""

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port); returns :attr:`url`."""
        runner = web.AppRunner(self._server.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.root_url = f"http://{host}:{bound_port}/"
        self.url = f"{self.root_url}api/"
        self.socket.root_ws_url = f"ws://{host}:{bound_port}"
        self._ws.team.root_url = self.root_url
        return self.url

    async def stop(self) -> None:
        await self.socket.close()
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

    def home(self, user: str) -> FakeView | None:
        """``user``'s App Home tab as last published (``views.publish``), or None."""
        return self._ws.views.home(user)

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
            self._server.latency = seconds
        else:
            self._server.method_latency[method] = seconds

    def fail(self, method: str, error: str, *, count: int | None = 1) -> None:
        """Answer the next ``count`` calls (None: all) of ``method`` with ``error``.

        ``method`` may also be ``"response_url"``. Faults queue in order with
        :meth:`rate_limit` and apply after the token check.
        """
        self._server.fail(method, error, count)

    def rate_limit(self, method: str, *, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with HTTP 429 and ``Retry-After``."""
        self._server.rate_limit(method, retry_after, count)

    def answer_late(self, method: str, seconds: float, *, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` are carried out at once, but answered only
        ``seconds`` later (a client that gives up first does not know they were made)."""
        self._server.answer_late(method, seconds, count)

    def clear_faults(self) -> None:
        self._server.clear_faults()

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

"""The composition root: build the Bolt app, the workflow and their clients from settings.

Nothing here runs at import time. :func:`build_bot` wires; :func:`run` serves (HTTP or Socket
Mode) until cancelled; tests and the demo call :func:`build_bot` and :func:`web_app` with their
own clock, tuning and endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.ackfirst import AckFirst, GivingWayWebClient, background_context
from bot.config import AkSk, Settings
from bot.core.policy import Policy, ProjectPolicy
from bot.drs import AkSkAuth, DrsClient, IamTokenAuth
from bot.drs.auth import Authenticator
from bot.drs.transport import DrsTransport
from bot.slack import inbound, matchers, runner
from bot.slack.directory import Directory
from bot.slack.listeners import actions, commands, options, submissions
from bot.store import AsyncStore, Store, StoreUnavailable
from bot.workflow import Tuning, Workflow

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Slack payloads are far smaller; anything bigger is refused
DRS_IN_FLIGHT = 50  # DRS and IAM calls in flight at once (connections kept alive); more wait
BODY_READ_SECONDS = 10.0  # a sender slower than this is cut off (Slack sends in milliseconds)
CHECKPOINT_SECONDS = 2.0  # the write-ahead log is copied into the database this often
HEALTH_WRITE_SECONDS = 2.0  # /healthz fails when a write cannot be made in this time


@dataclass
class Bot:
    """A built bot: everything one process needs, ready to serve."""

    app: AsyncApp
    listeners: runner.PromptListenerRunner
    workflow: Workflow
    store: AsyncStore
    slack: AsyncWebClient
    http: httpx.AsyncClient
    settings: Settings
    maintenance_every: float = 5.0
    checkpoint_every: float = CHECKPOINT_SECONDS
    last_checkpoint: tuple[int, int] | None = None  # pages in the log, pages copied
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_background(self) -> None:
        """Recover what a crash left behind, then keep maintaining in the background."""
        if self.slack.session is None:
            # One connection pool for every Web API call: without a session slack_sdk opens
            # and closes a connection (a TLS handshake with Slack) for each call.
            self.slack.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.slack.timeout)
            )
        self._tasks.append(
            asyncio.create_task(
                self.workflow.run_maintenance(self.maintenance_every),
                name="maintenance",
                context=background_context(),
            )
        )
        self._tasks.append(
            asyncio.create_task(
                self._checkpoints(self.checkpoint_every),
                name="checkpoints",
                context=background_context(),
            )
        )

    async def _checkpoints(self, every: float) -> None:
        """Checkpoint the database in a thread every ``every`` seconds (the store's commits
        do not: :class:`bot.store.Store`), so no answer waits for one."""
        while True:
            await asyncio.sleep(every)
            try:
                self.last_checkpoint = await asyncio.to_thread(self.store.backend.checkpoint)
            except Exception:
                log.exception("checkpointing the database failed; next try in %.1f s", every)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.listeners.drain(5.0)
        await self.workflow.drain(5.0)
        await self.http.aclose()
        if self.slack.session is not None:
            await self.slack.session.close()
        await self.store.aclose()


def build_bot(
    settings: Settings,
    policy: Policy,
    *,
    clock: Callable[[], float] = time.time,
    tuning: Tuning | None = None,
    maintenance_every: float | None = None,
) -> Bot:
    logs.quiet_wire_loggers()
    ack_first = AckFirst()
    slack = GivingWayWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=max(1, round(settings.slack_timeout)),
        ack_first=ack_first,
    )
    # slack_sdk retries only connection errors by default; Slack's 429s carry Retry-After.
    slack.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(connect=5.0, read=settings.drs_timeout, write=10.0, pool=10.0),
        transport=DrsTransport(max_in_flight=DRS_IN_FLIGHT, give_way=ack_first.give_way),
    )
    store = AsyncStore(Store(settings.db_path, autocheckpoint=False))
    directory = Directory(slack, ttl=settings.group_cache_ttl)
    tuning = tuning or Tuning(
        expire_seconds=policy.defaults.expire_hours * 3600,
        followup_interval=settings.followup_interval,
        followup_max=settings.followup_max,
        user_requests_per_minute=settings.user_requests_per_minute,
        recovery_grace=settings.recovery_grace,
        lease_seconds=settings.lease_seconds,
        send_settle=settings.send_settle,
    )
    clients: dict[str, DrsClient] = {}

    def drs_for(project: ProjectPolicy) -> DrsClient:
        client = clients.get(project.name)
        if client is None:
            client = DrsClient(
                http=http,
                endpoint=project.drs_url,
                project_id=project.project_id,
                auth=drs_authenticator(settings, project, http),
                chunk_size=settings.drs_chunk_size or policy.defaults.chunk_size,
                concurrency=settings.drs_concurrency,
            )
            clients[project.name] = client
        return client

    workflow = Workflow(
        store=store,
        slack=slack,
        policy=policy,
        directory=directory,
        drs_for=drs_for,
        tuning=tuning,
        clock=clock,
        ack_first=ack_first,
    )
    signing = settings.slack_signing_secret
    app = AsyncApp(
        client=slack,
        signing_secret=signing.reveal() if signing else None,
        request_verification_enabled=signing is not None,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    listeners = runner.install(app, ack_first)
    app.use(Screen())
    app.error(_on_error)
    commands.register(app, workflow, max_jobs=settings.max_jobs)
    actions.register(app, workflow)
    submissions.register(app, workflow, max_jobs=settings.max_jobs)
    options.register(app, workflow)
    matchers.install(app)
    return Bot(
        app=app,
        listeners=listeners,
        workflow=workflow,
        store=store,
        slack=slack,
        http=http,
        settings=settings,
        maintenance_every=maintenance_every or settings.maintenance_interval,
    )


def drs_authenticator(
    settings: Settings, project: ProjectPolicy, http: httpx.AsyncClient
) -> Authenticator:
    """AK/SK signing or IAM tokens for ``project``, whichever credentials the settings hold."""
    creds = settings.credentials
    if isinstance(creds, AkSk):
        return AkSkAuth(creds.ak, creds.sk, project.project_id)
    return IamTokenAuth(
        http=http,
        iam_endpoint=project.iam_url,
        user=creds.user,
        password=creds.password,
        domain=creds.domain,
        project_id=project.project_id,
    )


def _payload_team(body: dict[str, Any]) -> str | None:
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    if body.get("team_id"):
        return str(body["team_id"])
    user = body.get("user")
    if isinstance(user, dict) and user.get("team_id"):
        return str(user["team_id"])
    return None


# Objects Slack's interactive payloads carry, as listeners read them (path -> type).
_PAYLOAD_SHAPES: tuple[tuple[tuple[str, ...], type], ...] = (
    (("team",), dict),
    (("user",), dict),
    (("channel",), dict),
    (("container",), dict),
    (("message",), dict),
    (("state",), dict),
    (("view",), dict),
    (("view", "state"), dict),
    (("actions",), list),
)


class Screen(AsyncMiddleware):
    """Bolt middleware: refuse a malformed payload (:func:`_malformed`) or one from another
    workspace. A class, not a function: Bolt builds a function's arguments for each request."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        body = req.body
        if isinstance(body, dict):
            refusal = _malformed(body) or _foreign(body, req.context)
            if refusal is not None:
                return refusal
        return await next()


def _malformed(body: dict[str, Any]) -> BoltResponse | None:
    """400 for a payload whose parts are not the objects Slack sends, so listeners can read
    them without checking each type again."""
    for path, shape in _PAYLOAD_SHAPES:
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, shape):
            where, kind = ".".join(path), type(value).__name__
            log.warning("refused a payload whose %s is a %s", where, kind)
            return BoltResponse(status=400, body="malformed payload")
    actions = body.get("actions")
    if isinstance(actions, list) and not all(isinstance(a, dict) for a in actions):
        log.warning("refused a payload whose actions are not objects")
        return BoltResponse(status=400, body="malformed payload")
    return None


def _foreign(body: dict[str, Any], context: Any) -> BoltResponse | None:
    """403 for a payload from any workspace but the one our token belongs to."""
    ours = getattr(context.authorize_result, "team_id", None) if context.authorize_result else None
    theirs = _payload_team(body)
    if ours and theirs and theirs != ours:
        log.warning("refused a payload from team %s (ours is %s)", theirs, ours)
        return BoltResponse(status=403, body="this app serves another workspace")
    return None


async def _on_error(error: Exception, body: Any) -> BoltResponse | None:
    kind = (body.get("type") if isinstance(body, dict) else None) or "command"
    if _raised_reading_payload(error):
        # Bolt's matchers and its unhandled-request log index the payload without checking
        # it (a block action without an action_id): such a payload is a bad request.
        log.warning("refused a malformed %s payload (%s)", kind, type(error).__name__)
        return BoltResponse(status=400, body="malformed payload")
    log.error("unhandled error in a listener (type=%s)", kind, exc_info=error)
    return None


_BOLT_PAYLOAD_READERS = (
    "slack_bolt/listener_matcher/",
    "slack_bolt/logger/",
    "slack_bolt/request/",
)


def _raised_reading_payload(error: Exception) -> bool:
    """True when Bolt's own code reading the payload raised (not a listener of ours)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1].filename.replace("\\", "/") if frames else ""
    return any(part in where for part in _BOLT_PAYLOAD_READERS)


def web_app(bot: Bot) -> web.Application:
    """The HTTP surface: ``POST /slack/events`` (signature-verified), ``GET /healthz``."""
    signing = bot.settings.slack_signing_secret
    verifier = SignatureVerifier(signing.reveal()) if signing else None

    async def events(request: web.Request) -> web.Response:
        with bot.workflow.ack_first.answering():
            return await answer(request)

    async def answer(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(BODY_READ_SECONDS):
                raw = await request.text()
        except TimeoutError:
            log.warning("dropped a request whose body took over %.1f s", BODY_READ_SECONDS)
            return _closing(web.json_response({"ok": False, "error": "too slow"}, status=408))
        except web.HTTPRequestEntityTooLarge:
            return _closing(web.json_response({"ok": False, "error": "too large"}, status=413))
        except (UnicodeDecodeError, LookupError):  # not text in its (or an unknown) charset
            return web.json_response({"ok": False, "error": "malformed payload"}, status=400)
        unsigned = verifier is not None and not inbound.signed(verifier, raw, request.headers)
        if unsigned and not inbound.ssl_check(raw):
            # Refused unread: anyone can send a body, only Slack can sign one.
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = inbound.bolt_request(raw, request.query_string, request.headers)
        except Exception as exc:
            # A body that is not a Slack payload (a bare string, JSON that is not an object).
            log.warning("refused a body that is not a Slack payload (%s)", type(exc).__name__)
            return web.json_response({"ok": False, "error": "malformed payload"}, status=400)
        try:
            bolt_response = await bot.app.async_dispatch(bolt_request)
        except Exception:
            # Bolt itself chokes on some malformed payloads (missing keys it indexes): that is
            # a bad request, not a server error. Only verified requests get this far.
            log.warning("refused a malformed Slack payload", exc_info=True)
            return web.json_response({"ok": False, "error": "malformed payload"}, status=400)
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        # Ready only if the bot can store a request now: a real write, committed, within
        # HEALTH_WRITE_SECONDS (a full disk, a read-only file or a lock held elsewhere fail it).
        try:
            await bot.store.probe(within=HEALTH_WRITE_SECONDS)
        except StoreUnavailable as exc:
            log.warning("health check: the database cannot take a write: %s", exc)
            return web.json_response({"ok": False, "database": str(exc)}, status=503)
        return web.json_response({"ok": True})

    web_application = web.Application(client_max_size=MAX_BODY_BYTES)
    web_application.router.add_post("/slack/events", events)
    web_application.router.add_get("/healthz", healthz)
    return web_application


def _closing(response: web.Response) -> web.Response:
    """Close the connection after this answer: its unread body makes it unusable."""
    response.force_close()
    return response


async def serve_http(bot: Bot, *, host: str = "0.0.0.0", port: int) -> web.AppRunner:  # noqa: S104
    """Serve :func:`web_app`; with ``port=0`` the chosen port is in ``runner.addresses``."""
    # lingering_time: after refusing a request, read the rest of its body for at most 1 s
    # (aiohttp's default 10 s would let slow senders hold connections that long).
    runner = web.AppRunner(web_app(bot), access_log=None, lingering_time=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    return runner


def bound_url(runner: web.AppRunner) -> str:
    """``http://host:port`` of the first socket ``runner`` listens on."""
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


async def run(settings: Settings, policy: Policy) -> None:
    """Serve until SIGTERM or SIGINT: Socket Mode when an app token is set, else HTTP on PORT.

    On a signal the server stops taking requests, in-flight background work gets a few
    seconds to finish, and the database is closed; anything unfinished is picked up by the
    next start's recovery.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bot = build_bot(settings, policy)
    await bot.start_background()
    # What start-up made (modules, the app, its clients) lives as long as the process: keep
    # it out of the cyclic collector's full passes, which would otherwise scan all of it and
    # stall the loop for tens of milliseconds each time.
    gc.freeze()
    try:
        if settings.slack_app_token is not None:
            from bot.slack import socket_mode

            token, api_url = settings.slack_app_token.reveal(), settings.slack_api_url
            await socket_mode.serve(bot.app, token, api_url, stop)
        else:
            runner = await serve_http(bot, port=settings.port)
            log.info("startjobs listening on port %d (POST /slack/events)", settings.port)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
        log.info("startjobs stopping")
    finally:
        await bot.aclose()

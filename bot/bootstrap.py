"""The composition root: the only module that knows every concrete class.

Nothing here runs at import time. :func:`build_bot` wires settings and policy into a
:class:`Bot`; :func:`run` serves it (HTTP or Socket Mode) until SIGTERM or SIGINT. Tests and
the demo call :func:`build_bot` and :func:`serve_http` with their own clock, knobs and
endpoints.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.config import AkSk, Settings
from bot.core.policy import Policy, ProjectPolicy
from bot.drs import AkSkAuth, DrsClient, IamTokenAuth, InFlight, new_http_client
from bot.drs.auth import Authenticator
from bot.service import Service
from bot.service.context import Context, Tasks
from bot.service.followup import TICK as FOLLOWUP_TICK
from bot.service.handoff import HandOff
from bot.service.metrics import StoreGauges
from bot.service.model import Tuning
from bot.slack import server
from bot.slack.app import build_app
from bot.slack.directory import Directory
from bot.slack.home import SlackHomeTab
from bot.slack.instruments import AckTimer, SlackCalls
from bot.slack.metrics import PromMetrics
from bot.slack.notifier import SlackNotifier
from bot.slack.server import bound_url
from bot.store import AsyncStore, PostgresStore, Store, StoreUnavailable
from bot.store.gauges import postgres_gauges, sqlite_gauges

__all__ = ["Bot", "bound_url", "build_bot", "run", "serve_http"]

log = logging.getLogger(__name__)

DRS_IN_FLIGHT = 10  # DRS and IAM connections at once, kept alive; more calls wait (see InFlight)
CHECKPOINT_SECONDS = 2.0  # the write-ahead log is copied into the database this often
STOP_SECONDS = 10.0  # a shutdown waits this long for the background loops to end


@dataclass
class Bot:
    """A built bot: everything one process needs, ready to serve."""

    app: AsyncApp
    service: Service
    store: AsyncStore | PostgresStore
    slack: AsyncWebClient
    http: httpx.AsyncClient
    settings: Settings
    maintenance_every: float = 5.0
    checkpoint_every: float = CHECKPOINT_SECONDS
    last_checkpoint: tuple[int, int] | None = None  # pages in the log, pages copied
    metrics: PromMetrics | None = None  # GET /metrics
    stop_within: float = STOP_SECONDS
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_background(self) -> None:
        """Recover what a crash left behind, then keep maintaining in the background."""
        if self.slack.session is None:
            # One connection pool for every Web API call: without a session slack_sdk opens
            # and closes a connection (a TLS handshake with Slack) for each call.
            self.slack.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.slack.timeout)
            )
        if isinstance(self.store, PostgresStore):
            # Connect and bring the schema up to date before anything is served: a database
            # that cannot be reached stops the start with what to check.
            await self.store.open()
        if self.service.ctx.handoff is not None:
            # STARTJOBS_ROLE=answer: no background work, and never recorded as alive, so
            # what it leaves is the working replicas' at once (bot.service.handoff).
            log.info("answering only: the work is left to the replicas on the same database")
            return
        recovery = self.service.recovery
        alive = recovery.keep_alive()
        self._tasks.append(asyncio.create_task(alive, name="alive"))
        run = recovery.run(self.maintenance_every)
        self._tasks.append(asyncio.create_task(run, name="maintenance"))
        follow = self.service.followup.run(min(self.maintenance_every, FOLLOWUP_TICK))
        self._tasks.append(asyncio.create_task(follow, name="follow-up"))
        if isinstance(self.store, PostgresStore):  # woken by answering replicas' notes
            hear = self.store.listen(recovery.noted, connected=recovery.wake)
            self._tasks.append(asyncio.create_task(hear, name="notes"))
        if isinstance(self.store, AsyncStore):  # SQLite's write-ahead log
            checkpoints = self._checkpoints(self.checkpoint_every)
            self._tasks.append(asyncio.create_task(checkpoints, name="checkpoints"))

    async def _checkpoints(self, every: float) -> None:
        """Checkpoint the database in a thread every ``every`` seconds (the store's commits
        do not: :class:`bot.store.Store`), so no answer waits for one. SQLite only."""
        store = self.store
        assert isinstance(store, AsyncStore)
        while True:
            await asyncio.sleep(every)
            try:
                self.last_checkpoint = await asyncio.to_thread(store.backend.checkpoint)
            except Exception:
                log.exception("checkpointing the database failed; next try in %.1f s", every)

    def web(self) -> web.Application:
        """The HTTP surface (:mod:`bot.slack.server`)."""
        signing = self.settings.slack_signing_secret
        return server.web_app(
            self.app,
            signing_secret=signing.reveal() if signing else None,
            probe=lambda: self.store.probe(within=server.HEALTH_WRITE_SECONDS),
            metrics=self.metrics.render if self.metrics else None,
        )

    def status_web(self) -> aiohttp.web.Application:
        """What Socket Mode serves on PORT: ``/healthz`` and ``/metrics`` only."""
        return server.status_app(
            probe=lambda: self.store.probe(within=server.HEALTH_WRITE_SECONDS),
            metrics=self.metrics.render if self.metrics else None,
        )

    async def aclose(self) -> None:
        """Stop the background loops, let spawned work finish (a bounded wait each), close
        the connections. A loop that does not end within ``stop_within`` of being cancelled
        (a library below it that swallows the cancellation) is logged by name and left: a
        shutdown never hangs on one, and its leases expire for the other replicas."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, stuck = await asyncio.wait(self._tasks, timeout=self.stop_within)
            for task in stuck:
                log.error(
                    "the %s loop did not stop within %g s of being cancelled; "
                    "shutting down without it",
                    task.get_name(),
                    self.stop_within,
                )
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error(
                        "the %s loop failed as it stopped",
                        task.get_name(),
                        exc_info=task.exception(),
                    )
        await self.service.tasks.drain(5.0)
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
    metrics = PromMetrics(clock)
    slack = AsyncWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=max(1, round(settings.slack_timeout)),
    )
    # slack_sdk retries only connection errors by default; Slack's 429s carry Retry-After.
    slack.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    # First, so it sees every exchange before a handler after it asks for a retry.
    slack.retry_handlers.insert(0, SlackCalls(metrics, settings.slack_api_url))
    http = new_http_client(read_timeout=settings.drs_timeout, max_connections=DRS_IN_FLIGHT)
    in_flight = InFlight(DRS_IN_FLIGHT)  # shared by every project's client: see InFlight
    store = new_store(settings)
    if isinstance(store, PostgresStore):
        store.count_with(metrics)
    else:
        store.metrics = metrics
    directory = Directory(slack, ttl=settings.group_cache_ttl)
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
                in_flight=in_flight,
                metrics=metrics,
            )
            clients[project.name] = client
        return client

    tasks = Tasks()
    handoff = None
    if settings.role == "answer" and isinstance(store, PostgresStore):  # (config checks both)
        handoff = HandOff(store.send_notes, tasks.spawn)
    ctx = Context(
        store=store,
        notifier=SlackNotifier(slack),
        directory=directory,
        policy=policy,
        drs_for=drs_for,
        tuning=tuning or tuning_from(settings, policy),
        clock=clock,
        metrics=metrics,
        tasks=tasks,
        handoff=handoff,
    )
    service = Service(ctx, home_tab=SlackHomeTab(slack))
    signing = settings.slack_signing_secret
    app = build_app(
        service,
        slack,
        directory,
        signing_secret=signing.reveal() if signing else None,
        max_jobs=settings.max_jobs,
    )
    app.use(AckTimer(metrics))
    metrics.watch(
        store=_gauge_reader(store, settings, metrics), backlog=service.recovery.items.backlog
    )
    return Bot(
        app=app,
        service=service,
        store=store,
        slack=slack,
        http=http,
        settings=settings,
        maintenance_every=maintenance_every or settings.maintenance_interval,
        metrics=metrics,
    )


def _gauge_reader(
    store: AsyncStore | PostgresStore, settings: Settings, metrics: PromMetrics
) -> Callable[[], Awaitable[StoreGauges]] | None:
    """How a scrape reads the database's gauges (None: an in-memory database)."""
    if isinstance(store, PostgresStore):
        return functools.partial(postgres_gauges, store)
    if settings.db_path == ":memory:":
        return None
    return functools.partial(sqlite_gauges, settings.db_path, metrics)


def new_store(settings: Settings) -> AsyncStore | PostgresStore:
    """PostgreSQL when the settings give its URL, else SQLite at ``STARTJOBS_DB``."""
    db = settings.database
    if db is not None and db.url is not None:
        return PostgresStore(
            db.url.reveal(),
            pool_min=db.pool_min,
            pool_max=db.pool_max,
            connect_timeout=db.connect_timeout,
            listen_url=db.listen_url.reveal() if db.listen_url else None,
        )
    return AsyncStore(Store(settings.db_path, autocheckpoint=False))


def tuning_from(settings: Settings, policy: Policy) -> Tuning:
    return Tuning(
        expire_seconds=policy.defaults.expire_hours * 3600,
        followup_interval=settings.followup_interval,
        followup_max=settings.followup_max,
        user_requests_per_minute=settings.user_requests_per_minute,
        recovery_grace=settings.recovery_grace,
        lease_seconds=settings.lease_seconds,
        send_settle=settings.send_settle,
        followup_budget=settings.followup_budget,
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


async def serve_http(bot: Bot, *, host: str = "0.0.0.0", port: int) -> web.AppRunner:  # noqa: S104
    """Serve the bot's HTTP surface; with ``port=0`` the chosen port is in the runner."""
    return await server.serve(bot.web(), host=host, port=port)


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
    try:
        await bot.start_background()
    except StoreUnavailable as exc:  # PostgreSQL cannot be reached: say so, not a traceback
        log.error("startjobs cannot start: %s", exc)
        await bot.aclose()
        raise SystemExit(1) from None
    # What start-up made (modules, the app, its clients) lives as long as the process: keep
    # it out of the cyclic collector's full passes.
    gc.freeze()
    try:
        if settings.slack_app_token is not None:
            from bot.slack import socket_mode

            token, api_url = settings.slack_app_token.reveal(), settings.slack_api_url
            # Slack's requests come over the WebSocket; PORT serves /healthz and /metrics.
            runner = await server.serve(bot.status_web(), host="0.0.0.0", port=settings.port)  # noqa: S104
            log.info("startjobs serving /healthz and /metrics on port %d", settings.port)
            try:
                await socket_mode.serve(bot.app, token, api_url, stop)
            finally:
                await runner.cleanup()
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

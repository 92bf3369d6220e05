"""A Huawei Cloud DRS v3 + IAM simulator: a real HTTP server on loopback.

It answers the calls the bot makes with the real shapes, status codes and error codes (see
``docs/drs-api.md``), keeps task state honestly (a fault that says a start was processed really
started the tasks, so batch-status then tells the truth), and records every call. Use it
embedded (``async with DrsSimulator() as sim``), from sync code (:class:`SimulatorThread`), or
alone: ``startjobs simulate --port 8089 --seed-demo``.

Endpoints
---------
IAM tokens (``POST /v3/auth/tokens``) are documented in :mod:`bot.devkit.sim.drs_iam`; the four
DRS v3 calls (batch-starting, batch-status, batch-detail, the job list) in
:mod:`bot.devkit.sim.drs_process`; the API gateway's checks before any of them in
:mod:`bot.devkit.sim.drs_api`.

Faults
------
A fault is a JSON object ``{"endpoint": E, "kind": K, "count": N, ...params}`` or the compact
spec ``E:K[:name=value,...]`` (values are JSON scalars, else strings; ``job_ids`` is
``|``-separated), e.g. ``batch-starting:status_500:processed=true,count=1``. ``E`` is
``batch-starting``, ``batch-status``, ``batch-detail``, ``list``, ``tokens`` or ``*`` (all).
``count`` omitted = until cleared (except ``token_expiry``: 1). Faults apply in the order set;
per call, every matching ``latency`` fault plus at most one other fault act.

``latency``         ``seconds`` (1.0): wait before answering.
``status_429``      ``retry_after`` (2): 429 ``APIGW.0308`` with ``Retry-After``; not processed.
``status_500``      ``processed`` (false), ``status`` (500), ``error_code`` (``DRS.M00004``, or
                    ``APIGW.0201`` for other 5xx): with ``processed`` the call took effect and
                    only the answer was lost.
``hang``            ``seconds`` (30), ``processed`` (false): wait, then (processed) the real
                    answer, or (not processed) 504 ``APIGW.0201`` with nothing done.
``malformed_json``  ``processed`` (true): the success status with a truncated JSON body.
``partial``         ``drop`` (1) or ``job_ids``: process everything, leave those entries (the
                    last ``drop``, or the listed ids) out of ``results``/``jobs``.
``token_expiry``    the next call made with a token answers 401 ``APIGW.0307`` and that token
                    stops working (AK/SK calls are unaffected and do not use it up).

Control API (JSON, no auth; not recorded in ``calls``)
------------------------------------------------------
``GET /_sim/jobs``                 ``{"jobs": [task...]}`` (status computed now)
``POST /_sim/jobs``                ``{"name", "id"?, "status"?, "prepaid"?, "incremental"?,
                                   "engine_type"?, "db_use_type"?, "start_fails"?}`` -> 201
                                   ``{"job"}``; or ``{"generate": N, "prefix"?}`` -> 201
                                   ``{"jobs"}`` (startable tasks ``PREFIX-0001``...)
``GET /_sim/jobs/{id}``            ``{"job"}`` with ``start_calls``; 404 if unknown
``POST /_sim/seed-demo``           add the demo tasks (idempotent)
``GET|POST|DELETE /_sim/faults``   list / add (a fault object, or ``{"spec": "E:K:..."}``) /
                                   clear all
``GET|DELETE /_sim/calls``         the recorded calls / forget them
``GET /_sim/clock``                ``{"now", "offset"}``
``POST /_sim/clock``               ``{"advance": seconds}``: add to the clock offset, so
                                   scheduled starts and ``STARTJOBING`` pass without waiting.
                                   ``X-Sdk-Date`` is still checked against the un-advanced
                                   ``clock()``, so signed requests keep working.
A bad control request answers 400 ``{"error": "..."}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.core.secret import Secret
from bot.devkit.lifecycle import AsyncService
from bot.devkit.sim.drs_api import MAX_BODY_BYTES, DrsApi
from bot.devkit.sim.drs_auth import AkSkVerifier, TokenBook, TokenRecord
from bot.devkit.sim.drs_control import control_routes
from bot.devkit.sim.drs_faults import Fault, FaultBook, parse_fault, parse_fault_spec
from bot.devkit.sim.drs_jobs import (
    CONFIGURATION,
    DELETED,
    FULL_TRANSFER_STARTED,
    JobBook,
    SimJob,
    new_job_id,
)
from bot.devkit.sim.drs_model import ApiConfig, CallNote, RecordedCall

__all__ = [
    "DEFAULT_AK",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_SK",
    "DEMO_USER",
    "DrsSimulator",
    "RecordedCall",
    "SimJob",
    "SimulatorThread",
    "cli_main",
]

DEFAULT_AK = "SIMAKSTARTJOBS000001"
DEFAULT_SK = "SIMSKstartjobsDemoSecretKey0000000000001"  # demo only; not a real credential
DEFAULT_PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DEFAULT_PROJECT_NAME = "cn-north-4"
DEMO_USER = ("sim-user", "sim-password", "sim-domain")  # name, password, domain

# Demo tasks: fixed ids so docs and demos can name them. (id, name, status, options)
DEMO_JOBS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("3f2a9c1e-7b4d-4e8a-9c2f-5d1e0a7bjb01", "mig-orders-prod", CONFIGURATION, {}),
    (
        "8c4e2b7a-1d3f-4a6b-8e9c-2f7d5a1cjb02",
        "mig-customers-prod",
        CONFIGURATION,
        {"incremental": True},
    ),
    (
        "b71d5e3c-9a2f-4c8e-a1b4-6e3f9d2ajb03",
        "sync-billing-yearly",
        CONFIGURATION,
        {"prepaid": True, "db_use_type": "sync", "incremental": True},
    ),
    ("4e9a1c7f-2b8d-4f3a-b6e1-9c5d3a8fjb04", "mig-archive-2023", FULL_TRANSFER_STARTED, {}),
    ("d2f8b4a1-6c3e-4b9d-8a7f-1e4c6b9djb05", "mig-legacy-crm", DELETED, {}),
    ("61c3e9d7-4a2b-4e5f-9d8c-3b7a1e5fjb06", "mig-reports-draft", "CREATING", {}),
    (
        "a9e5c2b8-3f7d-4c1a-8b6e-4d2f8c1ajb07",
        "mig-payments-flaky",
        CONFIGURATION,
        {"start_fails": True},
    ),
    (
        "5b8d3f1e-8c6a-4d2b-9f4e-7a1c5e3bjb08",
        "dr-inventory-guard",
        CONFIGURATION,
        {"db_use_type": "cloudDataGuard", "engine_type": "cloudDataGuard-mysql"},
    ),
)


class DrsSimulator(AsyncService):
    """The DRS + IAM simulator. See the module docstring for the HTTP surface.

    Task status is computed from timestamps and ``now()`` (``clock()`` plus the offset that
    :meth:`advance` adds); nothing runs in the background. ``calls`` lists every answered call
    (control API excluded) in order and never holds a secret.
    """

    def __init__(
        self,
        *,
        ak: str = DEFAULT_AK,
        sk: str | Secret = DEFAULT_SK,
        project_id: str = DEFAULT_PROJECT_ID,
        project_name: str = DEFAULT_PROJECT_NAME,
        iam_users: Mapping[str, tuple[str, str]] | None = None,
        token_ttl: float = 86400.0,
        start_delay: float = 2.0,
        latency: float = 0.0,
        lockout_after: int | None = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ak = ak
        self.project_id = project_id
        self.project_name = project_name
        self.url = ""
        self.calls: list[RecordedCall] = []
        self._clock = clock
        self._offset = 0.0
        self._jobs = JobBook(self.now, start_delay)
        self._faults = FaultBook()
        self._tokens = TokenBook()
        self._calls_lock = threading.Lock()
        users = dict(iam_users) if iam_users is not None else {DEMO_USER[0]: DEMO_USER[1:]}
        self._api = DrsApi(
            ApiConfig(project_id, project_name, users, token_ttl, latency),
            jobs=self._jobs,
            faults=self._faults,
            tokens=self._tokens,
            verifier=AkSkVerifier(
                ak,
                sk if isinstance(sk, Secret) else Secret(sk),
                skew_clock=clock,
                now=self.now,
                lockout_after=lockout_after,
            ),
            now=self.now,
            record=self._record,
            base_url=lambda: self.url,
        )
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        return f"DrsSimulator(url={self.url!r}, project_id={self.project_id!r})"

    # -- clock ------------------------------------------------------------------------------

    def now(self) -> float:
        """The simulator's time: ``clock()`` plus the advanced offset."""
        return self._clock() + self._offset

    @property
    def clock_offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's time forward (scheduled starts, STARTJOBING, token expiry)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    # -- tasks ------------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        *,
        name: str,
        status: str = CONFIGURATION,
        prepaid: bool = False,
        incremental: bool = False,
        engine_type: str = "mysql",
        db_use_type: str = "migration",
        start_fails: bool = False,
    ) -> str:
        """Add a task and return its id (a new DRS-shaped id when ``job_id`` is None).

        ``start_fails``: a start is accepted but the task ends in ``START_JOB_FAILED``.
        Raises ValueError for a malformed or duplicate id or an unknown ``db_use_type``.
        """
        return self._jobs.add(
            job_id,
            name=name,
            status=status,
            prepaid=prepaid,
            incremental=incremental,
            engine_type=engine_type,
            db_use_type=db_use_type,
            start_fails=start_fails,
        )

    def add_generated(self, count: int, *, prefix: str = "mig-shop") -> list[str]:
        """Add ``count`` startable tasks named ``PREFIX-0001``...; ids derive from the names.

        Numbering continues after tasks a previous call added, so the same simulator can be
        grown; a fresh simulator always gets the same ids for the same names.
        """
        ids: list[str] = []
        index = 0
        while len(ids) < count:
            index += 1
            name = f"{prefix}-{index:04d}"
            job_id = new_job_id(seed=name)
            if self._jobs.get(job_id) is None:
                ids.append(self.add_job(job_id, name=name))
        return ids

    def seed_demo(self) -> None:
        """Add the demo tasks (:data:`DEMO_JOBS`): startable, incremental, prepaid, running,
        deleted, still creating, one whose start fails, one disaster-recovery task.
        Idempotent."""
        for job_id, name, status, options in DEMO_JOBS:
            if self._jobs.get(job_id) is None:
                self.add_job(job_id, name=name, status=status, **options)

    def job(self, job_id: str) -> SimJob:
        """The task as it is now; raises KeyError for an unknown id."""
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def jobs(self) -> list[SimJob]:
        return self._jobs.all()

    def start_calls_for(self, job_id: str) -> int:
        """How many recorded batch-starting calls named ``job_id`` (whatever their answer)."""
        with self._calls_lock:
            return sum(
                1 for c in self.calls if c.endpoint == "batch-starting" and job_id in c.job_ids
            )

    # -- faults and tokens ------------------------------------------------------------------

    def set_fault(
        self, endpoint: str, kind: str, *, count: int | None = None, **params: Any
    ) -> None:
        """Add a fault (see the module docstring); raises ValueError when it is malformed."""
        data: dict[str, Any] = {"endpoint": endpoint, "kind": kind, **params}
        if count is not None:
            data["count"] = count
        self.add_fault(parse_fault(data))

    def set_fault_spec(self, spec: str) -> None:
        """Add a fault given as a JSON object or compact ``endpoint:kind[:k=v,...]`` spec."""
        self.add_fault(parse_fault_spec(spec))

    def add_fault(self, fault: Fault) -> None:
        self._faults.add(fault)

    def faults(self) -> list[Fault]:
        return self._faults.active()

    def clear_faults(self) -> None:
        self._faults.clear()

    def issue_token(self, user: str | None = None) -> Secret:
        """A project-scoped token for ``user`` (default: the first IAM user), without HTTP."""
        users = self._api.config.iam_users
        name = user if user is not None else next(iter(users))
        now = self.now()
        record = TokenRecord(
            name, users[name][1], self.project_id, now, now + self._api.config.token_ttl
        )
        return self._tokens.issue(record)

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (as a password or permission change does)."""
        self._tokens.revoke_all()

    # -- server -----------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._api.middleware])
        app.add_routes(self._api.routes())
        app.add_routes(control_routes(self))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port) and return the base URL."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._api.stopping = asyncio.Event()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening; calls held by ``hang`` or latency answer at once. Idempotent."""
        if self._runner is None:
            return
        if self._api.stopping is not None:
            self._api.stopping.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    def _record(self, note: CallNote, method: str, path: str, status: int | None) -> None:
        with self._calls_lock:
            self.calls.append(
                RecordedCall(
                    seq=len(self.calls) + 1,
                    at=self.now(),
                    endpoint=note.endpoint,
                    method=method,
                    path=path,
                    job_ids=note.job_ids,
                    status=status,
                    auth=note.auth,
                    principal=note.principal,
                    error_code=note.error_code,
                    request_id=note.request_id,
                    fault=note.fault,
                )
            )


class SimulatorThread:
    """Runs a :class:`DrsSimulator` on its own event loop in a daemon thread, for sync code.

    ``start()`` returns the base URL once the server listens; ``stop()`` shuts it down and joins
    the thread. Also a context manager.
    """

    def __init__(self, sim: DrsSimulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> str:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="drs-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the simulator did not start in time")
        if self._error is not None:
            raise RuntimeError("the simulator failed to start") from self._error
        return self.sim.url

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._error is None:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self.sim.start(self._host, self._port))
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
        finally:
            loop.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startjobs simulate",
        description="Run the DRS + IAM simulator on loopback until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 = any free port")
    parser.add_argument("--ak", help="access key (default: $HUAWEICLOUD_SDK_AK or the demo AK)")
    parser.add_argument("--sk", help="secret key (default: $HUAWEICLOUD_SDK_SK or the demo SK)")
    parser.add_argument("--project-id", help="project id (default: $HUAWEICLOUD_SDK_PROJECT_ID)")
    parser.add_argument("--seed-demo", action="store_true", help="add the named demo tasks")
    parser.add_argument("--jobs", type=int, default=0, help="add N startable tasks mig-shop-NNNN")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    parser.add_argument(
        "--start-delay", type=float, default=2.0, help="seconds a task stays STARTJOBING"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="endpoint:kind[:name=value,...] or a JSON object; repeatable",
    )
    return parser


def cli_main(argv: list[str]) -> int:
    """``startjobs simulate``: serve until SIGINT/SIGTERM; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        faults = [parse_fault_spec(spec) for spec in args.fault]
        if args.jobs < 0:
            parser.error("--jobs must not be negative")
    except ValueError as exc:
        parser.print_usage()
        print(f"startjobs simulate: error: {exc}")
        return 2
    except SystemExit as exc:  # argparse reports usage errors and --help this way
        return exc.code if isinstance(exc.code, int) else 2
    sim = DrsSimulator(
        ak=args.ak or os.environ.get("HUAWEICLOUD_SDK_AK") or DEFAULT_AK,
        sk=Secret(args.sk or os.environ.get("HUAWEICLOUD_SDK_SK") or DEFAULT_SK),
        project_id=args.project_id
        or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID")
        or DEFAULT_PROJECT_ID,
        start_delay=args.start_delay,
        latency=args.latency,
    )
    if args.seed_demo:
        sim.seed_demo()
    if args.jobs:
        sim.add_generated(args.jobs)
    for fault in faults:
        sim.add_fault(fault)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sim, args.host, args.port))
    return 0


async def _serve(sim: DrsSimulator, host: str, port: int) -> None:
    url = await sim.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    print(f"DRS simulator listening on {url}", flush=True)
    print(
        f"  project id {sim.project_id}, AK {sim.ak}, IAM user {DEMO_USER[0]} "
        f"(domain {DEMO_USER[2]}), {len(sim.jobs())} tasks; control API at {url}/_sim",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await sim.stop()

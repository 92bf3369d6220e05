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
Faults (a 429, a lost 500, a hang, a truncated body, a partial answer, an expired token) are
injected with :meth:`DrsSimulator.set_fault` or the control API; their syntax and what each
kind does are documented in :mod:`bot.devkit.sim.drs_faults`.

Control API
-----------
``/_sim`` (JSON, no auth, not recorded in ``calls``) drives a simulator in another process:
tasks, faults, recorded calls and the clock. Its routes are documented in
:mod:`bot.devkit.sim.drs_control`; ``startjobs simulate`` is :mod:`bot.devkit.sim.drs_cli`.
"""

from __future__ import annotations

import asyncio
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
    DEMO_JOBS,
    JobBook,
    SimJob,
    new_job_id,
)
from bot.devkit.sim.drs_model import ApiConfig, CallNote, RecordedCall
from bot.devkit.sim.drs_precheck import PrecheckBook

__all__ = [
    "DEFAULT_AK",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_SK",
    "DEMO_USER",
    "DrsSimulator",
    "RecordedCall",
    "SimJob",
    "SimulatorThread",
]

DEFAULT_AK = "SIMAKSTARTJOBS000001"
DEFAULT_SK = "SIMSKstartjobsDemoSecretKey0000000000001"  # demo only; not a real credential
DEFAULT_PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DEFAULT_PROJECT_NAME = "cn-north-4"
DEMO_USER = ("sim-user", "sim-password", "sim-domain")  # name, password, domain


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
        self.prechecks = PrecheckBook(self.now)  # each task's precheck: drs_precheck
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
            prechecks=self.prechecks,
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
        start_delay: float | None = None,
    ) -> str:
        """Add a task and return its id (a new DRS-shaped id when ``job_id`` is None).

        ``start_fails``: a start is accepted but the task ends in ``START_JOB_FAILED``.
        ``start_delay``: seconds this task stays ``STARTJOBING`` after its start begins (None:
        the simulator's own ``start_delay``), so a test can set when each task moves on.
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
            start_delay=start_delay,
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
        """Add the demo tasks (:data:`~bot.devkit.sim.drs_jobs.DEMO_JOBS`): startable,
        incremental, prepaid, running, deleted, still creating, one whose start fails, one
        disaster-recovery task, one whose precheck was never run (it passes when run).
        Idempotent: a task already there, and its precheck, are left as they are."""
        for job_id, name, status, options in DEMO_JOBS:
            if self._jobs.get(job_id) is None:
                task = dict(options)
                precheck = task.pop("precheck", None)
                self.add_job(job_id, name=name, status=status, **task)
                if precheck is not None:
                    self.prechecks.set(job_id, **precheck)

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

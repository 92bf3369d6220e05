"""The simulator's DRS tasks: their records, lazily computed status, wire shapes, and the
named demo tasks (:data:`DEMO_JOBS`).

A task's status is never advanced by a background task: it is computed from timestamps and the
simulator's clock each time it is read, so advancing the clock is all a test needs to see a
scheduled start begin or ``STARTJOBING`` finish. All mutation goes through :class:`JobBook`,
which holds a lock so a simulator running in a background thread can be driven from another.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.devkit.sim.drs_wire import epoch_ms

CONFIGURATION = "CONFIGURATION"
STARTJOBING = "STARTJOBING"
WAITING_FOR_START = "WAITING_FOR_START"
START_JOB_FAILED = "START_JOB_FAILED"
FULL_TRANSFER_STARTED = "FULL_TRANSFER_STARTED"
INCRE_TRANSFER_STARTED = "INCRE_TRANSFER_STARTED"
DELETED = "DELETED"
RELEASE_RESOURCE_COMPLETE = "RELEASE_RESOURCE_COMPLETE"

# Statuses a start request answers with DRS.M05004 rather than DRS.M00304.
GONE_STATUSES = frozenset({DELETED, RELEASE_RESOURCE_COMPLETE})
DB_USE_TYPES = frozenset({"migration", "sync", "cloudDataGuard"})

# Real task ids are UUID-shaped but not hex ("...-1040402fjb21"), so the shape is checked
# over [0-9a-z].
JOB_ID_RE = re.compile(r"^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


def is_job_id(value: str) -> bool:
    return JOB_ID_RE.fullmatch(value) is not None


def new_job_id(seed: str | None = None) -> str:
    """A task id shaped like DRS's: 8-4-4-4-12 over ``[0-9a-z]``, last group ending ``jbNN``.

    With ``seed`` the id is derived from it (the same seed gives the same id); without, random.
    """
    digest = (
        hashlib.sha256(seed.encode("utf-8")).hexdigest() if seed is not None else uuid.uuid4().hex
    )
    tail = _ALNUM[int(digest[28:30], 16) % 36] + _ALNUM[int(digest[30:32], 16) % 36]
    return f"{digest[0:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:28]}jb{tail}"


@dataclass(frozen=True, slots=True)
class SimJob:
    """One task as the simulator sees it at a moment (``status`` already computed).

    ``begin_at`` is when the start begins (the scheduled time, or the moment of the accepted
    start call); ``start_requested_at`` when batch-starting accepted it; both None until then.
    ``start_calls`` counts batch-starting calls whose body listed this task, whatever their
    answer.
    """

    id: str
    name: str
    status: str
    prepaid: bool
    incremental: bool
    engine_type: str
    db_use_type: str
    created_at: float
    start_fails: bool = False
    start_requested_at: float | None = None
    begin_at: float | None = None
    order_id: str | None = None
    start_calls: int = 0
    start_delay: float | None = None  # its own STARTJOBING time (None: the simulator's)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "prepaid": self.prepaid,
            "incremental": self.incremental,
            "engine_type": self.engine_type,
            "db_use_type": self.db_use_type,
            "created_at": self.created_at,
            "start_fails": self.start_fails,
            "start_requested_at": self.start_requested_at,
            "begin_at": self.begin_at,
            "order_id": self.order_id,
            "start_calls": self.start_calls,
            "start_delay": self.start_delay,
        }


def status_at(job: SimJob, now: float, start_delay: float) -> str:
    """The status a stored task has at ``now`` (its stored status until a start is accepted)."""
    if job.begin_at is None:
        return job.status
    if now < job.begin_at:
        return WAITING_FOR_START
    if now < job.begin_at + (job.start_delay if job.start_delay is not None else start_delay):
        return STARTJOBING
    if job.start_fails:
        return START_JOB_FAILED
    return INCRE_TRANSFER_STARTED if job.incremental else FULL_TRANSFER_STARTED


@dataclass(frozen=True, slots=True)
class StartOutcome:
    """One task's entry in a batch-starting answer."""

    job_id: str
    error_code: str | None = None  # None = success
    order_id: str | None = None


class JobBook:
    """The task table. Thread-safe; every read computes status from ``now()``."""

    def __init__(self, now: Callable[[], float], start_delay: float) -> None:
        self._now = now
        self.start_delay = start_delay
        self._jobs: dict[str, SimJob] = {}
        self._lock = threading.RLock()
        self._orders = 0

    def add(
        self,
        job_id: str | None,
        *,
        name: str,
        status: str,
        prepaid: bool,
        incremental: bool,
        engine_type: str,
        db_use_type: str,
        start_fails: bool = False,
        start_delay: float | None = None,
    ) -> str:
        job_id = job_id if job_id is not None else new_job_id()
        if not is_job_id(job_id):
            raise ValueError(f"not a DRS task id (8-4-4-4-12 over [0-9a-z]): {job_id!r}")
        if db_use_type not in DB_USE_TYPES:
            raise ValueError(f"db_use_type must be one of {sorted(DB_USE_TYPES)}")
        with self._lock:
            if job_id in self._jobs:
                raise ValueError(f"task {job_id} already exists")
            self._jobs[job_id] = SimJob(
                id=job_id,
                name=name,
                status=status,
                prepaid=prepaid,
                incremental=incremental,
                engine_type=engine_type,
                db_use_type=db_use_type,
                created_at=self._now(),
                start_fails=start_fails,
                start_delay=start_delay,
            )
        return job_id

    def get(self, job_id: str) -> SimJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        return replace(job, status=status_at(job, self._now(), self.start_delay))

    def all(self) -> list[SimJob]:
        with self._lock:
            ids = list(self._jobs)
        return [j for j in (self.get(i) for i in ids) if j is not None]

    def count_start_call(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is not None:
                    self._jobs[job_id] = replace(job, start_calls=job.start_calls + 1)

    def start(self, job_id: str, start_at: float | None) -> StartOutcome:
        """Apply one task of a batch start: the same rules and codes as DRS."""
        with self._lock:
            job = self.get(job_id)
            if job is None:
                return StartOutcome(job_id, "DRS.M05003")
            if job.status in GONE_STATUSES:
                return StartOutcome(job_id, "DRS.M05004")
            if job.status != CONFIGURATION:
                return StartOutcome(job_id, "DRS.M00304")
            now = self._now()
            order_id = self._new_order_id(now) if job.prepaid else None
            self._jobs[job_id] = replace(
                self._jobs[job_id],
                start_requested_at=now,
                begin_at=max(now, start_at) if start_at is not None else now,
                order_id=order_id,
            )
            return StartOutcome(job_id, None, order_id)

    def _new_order_id(self, now: float) -> str:
        # Shaped like Huawei's order ids ("CS" + date + serial); unique within the simulator.
        self._orders += 1
        stamp = datetime.fromtimestamp(now, UTC).strftime("%y%m%d%H%M")
        return f"CS{stamp}{self._orders:05d}"


def status_entry(job: SimJob) -> dict[str, Any]:
    """A batch-status result (``QueryJobStatusResp``)."""
    return {"id": job.id, "status": job.status, "error_code": "", "error_message": ""}


def unknown_entry(job_id: str, message: str) -> dict[str, Any]:
    """A batch-status / batch-detail result for an id DRS does not know."""
    return {"id": job_id, "error_code": "DRS.M05003", "error_message": message}


def _endpoints(engine_type: str) -> tuple[dict[str, str], dict[str, str]]:
    source, _, target = engine_type.partition("-to-")
    return {"db_type": source}, {"db_type": target or source}


def detail_entry(job: SimJob) -> dict[str, Any]:
    """A batch-detail result (``QueryJobResp``), with ``period_order`` for prepaid tasks."""
    source, target = _endpoints(job.engine_type)
    started = job.begin_at is not None and job.status != WAITING_FOR_START
    entry: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "description": "",
        "create_time": epoch_ms(job.created_at),
        "update_time": epoch_ms(job.start_requested_at or job.created_at),
        "task_type": "FULL_INCR_TRANS" if job.incremental else "FULL_TRANS",
        "db_use_type": job.db_use_type,
        "job_direction": "up",
        "net_type": "eip",
        "source_endpoint": source,
        "target_endpoint": target,
        "actual_start_time": epoch_ms(job.begin_at) if started and job.begin_at else "",
        "failed_reason": "Simulated start failure." if job.status == START_JOB_FAILED else "",
        "error_code": "",
        "error_message": "",
    }
    if job.prepaid:
        ordered = job.order_id is not None
        effective = job.start_requested_at or job.created_at
        entry["period_order"] = {
            "status": "COMPLETED" if ordered else "UNORDERED",
            "order_id": job.order_id or "",
            "charging_mode": 1,  # yearly/monthly
            "period_type": 2,  # monthly
            "period_num": 1,
            "is_auto_renew": 0,
            "eff_time": epoch_ms(effective) if ordered else "",
            "exp_time": epoch_ms(effective + 30 * 86400) if ordered else "",
        }
    return entry


def list_entry(job: SimJob) -> dict[str, Any]:
    """A job-list entry (``JobInfo``)."""
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "create_time": epoch_ms(job.created_at),
        "description": "",
        "engine_type": job.engine_type,
        "net_type": "eip",
        "billing_tag": job.begin_at is not None,
        "job_direction": "up",
        "db_use_type": job.db_use_type,
        "task_type": "FULL_INCR_TRANS" if job.incremental else "FULL_TRANS",
        "children": [],
        "node_new_framework": True,
    }


def list_matches(
    job: SimJob, name: str | None, status: str | None, db_use_type: str | None
) -> bool:
    """The list filter: ``name`` is a name substring or an id, or comma-separated ids/names."""
    if status and job.status != status:
        return False
    if db_use_type and job.db_use_type != db_use_type:
        return False
    if not name:
        return True
    terms = [t.strip() for t in name.split(",") if t.strip()]
    return any(t == job.id or t in job.name for t in terms)


# Demo tasks: fixed ids so docs and demos can name them. (id, name, status, options)
# Options go to ``DrsSimulator.add_job``, but ``precheck`` to ``PrecheckBook.set``; a task
# without it has a passed precheck.
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
    (
        "7d1f4a9c-5e2b-4b8f-a3d6-8c2e6f4bjb09",
        "mig-payments-prod",
        CONFIGURATION,
        {"precheck": {"state": "never", "after_run": "passed", "takes": 2.0}},
    ),
)

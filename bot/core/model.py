"""Domain values shared by every layer.

The DRS client returns these, the store persists them, the service moves them through the
request state machine and the Block Kit builders render them. They carry no behaviour that
needs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """What we know about one job after a batch-start call."""

    SUCCESS = "success"  # DRS answered success for this job
    FAILED = "failed"  # DRS answered failed, or refused the whole call: the job did not start
    UNKNOWN = "unknown"  # the call may have reached DRS but we saw no answer for this job


class CallFailureKind(StrEnum):
    """Why a whole DRS call failed."""

    AUTH = "auth"  # 401 / 403: credentials, token or IAM permission
    THROTTLED = "throttled"  # 429 after the bounded retries
    BAD_REQUEST = "bad_request"  # 400 and other 4xx
    SERVER = "server"  # 5xx: the outcome is unknown
    TIMEOUT = "timeout"  # no answer in time after the body was sent: unknown
    TRANSPORT = "transport"  # the connection failed; whether the body was sent is in `sent`
    PROTOCOL = "protocol"  # an answer we could not parse (malformed JSON, wrong shape)


@dataclass(frozen=True, slots=True)
class CallFailure:
    """A DRS call that failed as a whole, as shown to people and kept in the audit log."""

    kind: CallFailureKind
    message: str
    http_status: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    # True when the request body may have reached DRS: its jobs' outcomes are then unknown.
    maybe_processed: bool = False


class DrsCallError(Exception):
    """A DRS call that failed as a whole; the DRS client raises its own subclasses, whose
    ``failure`` (a :class:`CallFailure`) says what happened."""

    @property
    def failure(self) -> CallFailure:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class JobResult:
    """One job's outcome from batch-starting."""

    job_id: str
    outcome: Outcome
    error_code: str | None = None
    error_msg: str | None = None
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One HTTP exchange with DRS, for the audit trail."""

    operation: str  # "batch-starting", "batch-status", ...
    job_count: int
    http_status: int | None
    request_id: str | None  # DRS's X-Request-Id, for Huawei support
    failure: CallFailure | None = None


@dataclass(frozen=True, slots=True)
class StartReport:
    """The merged answer to a (possibly chunked) batch start, in input order."""

    results: tuple[JobResult, ...]
    calls: tuple[CallRecord, ...]

    @property
    def failures(self) -> tuple[CallFailure, ...]:
        return tuple(c.failure for c in self.calls if c.failure is not None)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """What DRS says about a job (batch-detail, batch-status or the job list).

    ``status`` is DRS's task status string (``CONFIGURATION``, ``STARTJOBING``, ...), or None when
    DRS does not know the job (``error_code`` then says why, e.g. ``DRS.M05003``).
    """

    job_id: str
    name: str | None = None
    status: str | None = None
    error_code: str | None = None
    error_msg: str | None = None
    prepaid: bool = False  # yearly/monthly: starting it places and pays an order
    engine_type: str | None = None
    db_use_type: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

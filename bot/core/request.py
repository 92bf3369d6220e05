"""The start request and its starts: their states, the transitions between them (the one
table the store derives its conditional updates from), and their values.

A request (every change is one conditional update in the store)::

    pending ──approve──▶ approved ──send──▶ starting ──outcomes──▶ done | failed | unknown
       │
       ├──reject──▶ rejected
       ├──cancel──▶ cancelled
       └──expire──▶ expired

A *start* is one batch-start attempt of a request (attempt 1 follows the approval, later ones
are retries of failed jobs); its state records how far it got, which is what recovery needs::

    claimed ──▶ sent ──▶ recorded ──▶ posted

``claimed``: decided but not yet sent, safe to send. ``sent``: committed just before the DRS
call, under its sender's lease, so after a crash the call may have reached DRS and must never
be sent again blindly. ``recorded``: outcomes are in the database. ``posted``: the thread
shows them (or, when Slack refuses the channel for good, the requester was told directly).

``done``: every job's outcome is known and at least one started; ``failed``: nothing started,
every job was refused (per job, by a whole-call failure, or its task failed after the start);
``unknown``: at least one job's outcome was not seen. When the follow-up (batch-status)
confirms every unknown job, ``unknown`` becomes ``done`` (or ``failed``); a task that fails
after its start can turn ``done`` into ``failed``, and a Retry records new outcomes over a
``done`` or ``failed`` request (:data:`TRANSITIONS`). The audit trail keeps what was seen when.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core.model import JobInfo, Outcome


class RequestState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    STARTING = "starting"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """A decision can still be taken on it."""
        return self is RequestState.PENDING

    @property
    def is_final(self) -> bool:
        """Nothing more will be sent for it (``unknown`` may still settle to done/failed)."""
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        RequestState.DONE,
        RequestState.FAILED,
        RequestState.UNKNOWN,
        RequestState.REJECTED,
        RequestState.CANCELLED,
        RequestState.EXPIRED,
    }
)

TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.PENDING: frozenset(
        {
            RequestState.APPROVED,
            RequestState.REJECTED,
            RequestState.CANCELLED,
            RequestState.EXPIRED,
        }
    ),
    RequestState.APPROVED: frozenset({RequestState.STARTING}),
    RequestState.STARTING: frozenset(
        {RequestState.DONE, RequestState.FAILED, RequestState.UNKNOWN}
    ),
    # The follow-up settles what was not seen, and sees tasks fail after their start; an
    # approver's Retry of failed jobs records a new attempt's outcomes over the old ones.
    RequestState.UNKNOWN: frozenset({RequestState.DONE, RequestState.FAILED}),
    RequestState.DONE: frozenset({RequestState.FAILED, RequestState.UNKNOWN}),
    RequestState.FAILED: frozenset({RequestState.DONE, RequestState.UNKNOWN}),
}
"""Every move a request's state may make; rejected, cancelled and expired are terminal."""


def can_transition(current: RequestState, target: RequestState) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def comes_from(target: RequestState) -> tuple[RequestState, ...]:
    """The states a request may move to ``target`` from (for a conditional update)."""
    return tuple(s for s, targets in TRANSITIONS.items() if target in targets)


class StartState(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    RECORDED = "recorded"
    POSTED = "posted"


START_TRANSITIONS: dict[StartState, frozenset[StartState]] = {
    StartState.CLAIMED: frozenset({StartState.SENT}),
    StartState.SENT: frozenset({StartState.RECORDED}),
    StartState.RECORDED: frozenset({StartState.POSTED}),
}


def start_comes_from(target: StartState) -> StartState:
    """The one state a start moves to ``target`` from (for a conditional update)."""
    (source,) = (s for s, targets in START_TRANSITIONS.items() if target in targets)
    return source


@dataclass(frozen=True, slots=True)
class Start:
    """One batch-start attempt of a request."""

    request_id: str
    attempt: int
    state: StartState
    job_ids: tuple[str, ...]
    actor: str | None
    created_at: float
    sent_at: float | None
    outcome_ts: str | None
    lease_owner: str | None = None  # the process sending it (state sent) ...
    lease_until: float | None = None  # ... until then, unless it renews the lease
    outcome_posting_at: float | None = None  # when a post of its outcome began


class Approval(StrEnum):
    """A project's approval policy."""

    TWO_PERSON = "two-person"  # an approver other than the requester must approve
    NONE = "none"  # the requester's own confirmation (the modal submission) suffices


@dataclass(frozen=True, slots=True)
class RequestJob:
    """One job of a request: what DRS said when it was requested, and what happened since."""

    job_id: str
    name: str | None = None
    status_at_request: str | None = None  # DRS status when requested; None if DRS did not know it
    prepaid: bool = False
    outcome: Outcome | None = None  # None until a batch-start answer (or batch-status) says
    error_code: str | None = None
    error_msg: str | None = None
    order_id: str | None = None
    drs_status: str | None = None  # latest status seen by the follow-up
    attempts: int = 0  # batch-start calls that included this job

    @classmethod
    def from_info(cls, info: JobInfo) -> RequestJob:
        return cls(
            job_id=info.job_id,
            name=info.name,
            status_at_request=info.status,
            prepaid=info.prepaid,
            error_code=info.error_code,
            error_msg=info.error_msg,
        )


@dataclass(frozen=True, slots=True)
class StartRequest:
    """A request to start a batch of DRS jobs, as stored."""

    id: str
    team_id: str
    channel_id: str
    requester_id: str
    project: str
    region: str
    approval: Approval
    jobs: tuple[RequestJob, ...]
    start_time_ms: int | None  # None = start now
    reason: str
    language: str  # X-Language for DRS: "en-us" or "zh-cn"
    state: RequestState
    created_at: float  # epoch seconds
    expires_at: float
    message_ts: str | None = None  # the request message in the channel
    outcome_ts: str | None = None  # the outcome message in its thread
    decided_by: str | None = None
    decided_at: float | None = None
    decision_comment: str | None = None
    followup_done: bool = False
    # Why the bot can no longer post or update in the request's channel (Slack's error, e.g.
    # ``is_archived``); the requester is then told by direct message instead.
    channel_problem: str | None = None
    # When a post of the request message began (its answer may have been lost: look for the
    # message before posting again).
    message_posting_at: float | None = None

    @property
    def job_ids(self) -> tuple[str, ...]:
        return tuple(j.job_id for j in self.jobs)

    @property
    def scheduled(self) -> bool:
        return self.start_time_ms is not None


class AuditKind(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUSED = "refused"  # a click or command refused by policy
    DRS_CALL = "drs_call"  # one HTTP exchange with DRS (operation, status, X-Request-Id)
    OUTCOME = "outcome"  # outcomes recorded
    RETRY = "retry"  # a retry of failed jobs started by an approver
    RECOVERED = "recovered"  # finished after a restart
    FOLLOWUP = "followup"  # the follow-up saw every job settle
    CHANNEL_LOST = "channel_lost"  # Slack refused a post in the channel for good
    TAKEN_OVER = "taken_over"  # another process took over a start whose owner's lease expired
    MERGED = "merged"  # DRS's own answer arrived after a takeover and was merged in
    START_FAILED = "start_failed"  # DRS accepted a start, then the task failed
    FREEZE_OVERRIDE = "freeze_override"  # an approver broke the glass of a change freeze
    PRECHECK = "precheck"  # someone ran DRS's precheck of the request's jobs


@dataclass(frozen=True, slots=True)
class AuditEvent:
    request_id: str
    at: float  # epoch seconds
    actor: str | None  # Slack user id, or None for the bot itself
    kind: AuditKind
    detail: dict[str, object]

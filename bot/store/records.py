"""What every backend shares, pure: rows to domain values (a row is anything indexed by
column name, ``sqlite3.Row`` or psycopg's ``dict_row``), domain values to the parameters of
writes, and the decisions the store makes (a request's state from its jobs, the merge rule)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from bot.core.model import JobResult, Outcome
from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    Start,
    StartRequest,
    StartState,
)
from bot.service.ports import Verdict


class Row(Protocol):
    def __getitem__(self, column: str, /) -> Any: ...


def job_from_row(j: Row) -> RequestJob:
    return RequestJob(
        job_id=j["job_id"],
        name=j["name"],
        status_at_request=j["status_at_request"],
        prepaid=bool(j["prepaid"]),
        outcome=Outcome(j["outcome"]) if j["outcome"] else None,
        error_code=j["error_code"],
        error_msg=j["error_msg"],
        order_id=j["order_id"],
        drs_status=j["drs_status"],
        attempts=j["attempts"],
    )


def request_from_row(row: Row, jobs: Iterable[Row]) -> StartRequest:
    """A request from its row and its jobs' rows (in order)."""
    return StartRequest(
        id=row["id"],
        team_id=row["team_id"],
        channel_id=row["channel_id"],
        requester_id=row["requester_id"],
        project=row["project"],
        region=row["region"],
        approval=Approval(row["approval"]),
        jobs=tuple(job_from_row(j) for j in jobs),
        start_time_ms=row["start_time_ms"],
        reason=row["reason"],
        language=row["language"],
        state=RequestState(row["state"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        message_ts=row["message_ts"],
        outcome_ts=row["outcome_ts"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_comment=row["decision_comment"],
        followup_done=bool(row["followup_done"]),
        channel_problem=row["channel_problem"],
        message_posting_at=row["message_posting_at"],
    )


def start_from_row(row: Row, job_ids: Iterable[str]) -> Start:
    """A start from its row and its job ids (decoded: each backend stores them its own way)."""
    return Start(
        request_id=row["request_id"],
        attempt=row["attempt"],
        state=StartState(row["state"]),
        job_ids=tuple(job_ids),
        actor=row["actor"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        outcome_ts=row["outcome_ts"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        outcome_posting_at=row["outcome_posting_at"],
    )


def event_from_row(row: Row, detail: dict[str, Any]) -> AuditEvent:
    """An audit event from its row and its detail (decoded: each backend stores it its own
    way, both as :func:`audit_json` encodes it)."""
    return AuditEvent(
        request_id=row["request_id"],
        at=row["at"],
        actor=row["actor"],
        kind=AuditKind(row["kind"]),
        detail=detail,
    )


def may_post(holder: str | None, holder_alive: float | None, owner: str, now: float) -> bool:
    """Whether process ``owner`` may post a request message whose post ``holder`` claimed
    (None: nobody), that process being alive until ``holder_alive`` (None: no row): yes
    unless another process holds it and is alive at ``now``."""
    return holder in (None, owner) or holder_alive is None or holder_alive <= now


# Domain values to the parameters of the backends' writes, in their SQL's column order.


def audit_json(detail: dict[str, object]) -> str:
    """An audit event's detail as stored: JSON, values it cannot encode as their text."""
    return json.dumps(detail, sort_keys=True, default=str)


# A new request's columns, as :func:`request_params` gives their values.
REQUEST_COLUMNS = (
    "id",
    "team_id",
    "channel_id",
    "requester_id",
    "project",
    "region",
    "approval",
    "start_time_ms",
    "reason",
    "language",
    "state",
    "created_at",
    "expires_at",
    "message_ts",
    "outcome_ts",
    "decided_by",
    "decided_at",
    "decision_comment",
)


def request_params(req: StartRequest) -> tuple[object, ...]:
    """A new request's row: the values of :data:`REQUEST_COLUMNS`, in order."""
    return (
        req.id,
        req.team_id,
        req.channel_id,
        req.requester_id,
        req.project,
        req.region,
        req.approval.value,
        req.start_time_ms,
        req.reason,
        req.language,
        req.state.value,
        req.created_at,
        req.expires_at,
        req.message_ts,
        req.outcome_ts,
        req.decided_by,
        req.decided_at,
        req.decision_comment,
    )


def job_params(j: RequestJob) -> tuple[Any, ...]:
    """A new job's row after its request id and seq: (job_id, name, status_at_request,
    prepaid, outcome, error_code, error_msg, order_id, drs_status, attempts)."""
    return (
        j.job_id,
        j.name,
        j.status_at_request,
        j.prepaid,
        j.outcome.value if j.outcome else None,
        j.error_code,
        j.error_msg,
        j.order_id,
        j.drs_status,
        j.attempts,
    )


def job_info_params(j: RequestJob) -> tuple[Any, ...]:
    """What DRS said about a job at request time: (job_id, name, status_at_request, prepaid,
    error_code, error_msg)."""
    return (j.job_id, j.name, j.status_at_request, j.prepaid, j.error_code, j.error_msg)


def result_params(r: JobResult, drs_status: str | None) -> tuple[Any, ...]:
    """A job's recorded outcome: (job_id, outcome, error_code, error_msg, order_id,
    drs_status)."""
    return (r.job_id, r.outcome.value, r.error_code, r.error_msg, r.order_id, drs_status)


def recorded_params(
    results: Iterable[JobResult], drs_statuses: dict[str, str | None] | None
) -> list[tuple[Any, ...]]:
    """The jobs' outcomes of an attempt as recorded, each with the DRS status read beside
    it (if any): :func:`result_params` of each."""
    statuses = drs_statuses or {}
    return [result_params(r, statuses.get(r.job_id)) for r in results]


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows of ``width`` values as ``width`` columns (for PostgreSQL's ``unnest``)."""
    return [[row[i] for row in rows] for i in range(width)]


# The store's decisions, the same for every backend.

OPEN_STATES = (RequestState.PENDING, RequestState.APPROVED, RequestState.STARTING)
"""Requests that still hold their jobs (:meth:`overlapping` counts them)."""

PRECHECKS_PASSED = """NOT EXISTS (SELECT 1 FROM request_jobs j WHERE j.request_id = requests.id
    AND COALESCE((SELECT p.state FROM request_prechecks p WHERE p.request_id = j.request_id
        AND p.job_id = j.job_id), '') <> 'passed')"""
"""A condition on a ``requests`` row, in both stores' SQL: every job of the request has a
stored precheck that passed (``PrecheckState.PASSED``; a decision's ``require_prechecks``).
Each job's precheck is looked up by its key (a scalar subquery, which PostgreSQL runs per job
and never turns into a join): written as ``NOT EXISTS`` over the prechecks, PostgreSQL,
estimating a request's rows before it had read the statistics of a big one, joined every job
with every precheck of the request (5,000 jobs: 12.5 million comparisons, 0.8 s, and an
approval of such a request past its 1 s deadline; ``bench/precheck_rule.py``)."""

DECIDED = {
    RequestState.APPROVED: AuditKind.APPROVED,
    RequestState.REJECTED: AuditKind.REJECTED,
    RequestState.CANCELLED: AuditKind.CANCELLED,
    RequestState.EXPIRED: AuditKind.EXPIRED,
}
"""The audit event of each decision."""

IN_FLIGHT = (StartState.CLAIMED, StartState.SENT)
"""Attempts still under way: while a request has one, no retry of it may be claimed."""

ANSWERED = (StartState.RECORDED, StartState.POSTED)
"""Attempts whose outcome is recorded: DRS's own answer arriving after a takeover recorded
one is merged into it (:func:`merge_settles`, :func:`merge_adds_order`)."""


def decision_detail(v: Verdict, scheduled_for_ms: int | None) -> dict[str, object]:
    """The audit detail of a decision made; ``scheduled_for_ms``, the start time it had."""
    detail: dict[str, object] = {"comment": v.comment} if v.comment else {}
    if clears_start_time(v):
        detail.update(start_now_instead=True, scheduled_for_ms=scheduled_for_ms)
    return detail


def clears_start_time(v: Verdict) -> bool:
    """An approval to start now instead of at the scheduled time."""
    return v.start_now and v.target is RequestState.APPROVED


def request_state_from(outcomes: Sequence[str | None]) -> RequestState:
    """done: every outcome seen; unknown: any unseen; failed: nothing started, all refused."""
    if any(o == Outcome.UNKNOWN or o is None for o in outcomes):
        return RequestState.UNKNOWN
    if outcomes and all(o == Outcome.FAILED for o in outcomes):
        return RequestState.FAILED
    return RequestState.DONE


def merge_settles(r: JobResult) -> bool:
    """Merging DRS's own answer into a recorded attempt: whether ``r`` may settle its job
    (the job must also be unseen or unknown); an unknown answer settles nothing."""
    return r.outcome is not Outcome.UNKNOWN


def merge_adds_order(r: JobResult) -> bool:
    """Whether ``r`` brings an order ID to a job recorded as started without one."""
    return r.order_id is not None

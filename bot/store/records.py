"""Rows to domain values, the same for every backend: a row is anything indexed by column
name (``sqlite3.Row``, psycopg's ``dict_row``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from bot.core.model import Outcome
from bot.core.request import Approval, RequestJob, RequestState, StartRequest


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

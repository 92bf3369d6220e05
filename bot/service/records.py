"""DRS's answers as the store records them: a job's outcome read from batch-status after
its start answer was lost, and the audit detail of a DRS call."""

from __future__ import annotations

from bot.core.model import CallFailure, CallRecord, JobResult, Outcome
from bot.core.status import Phase, phase_of


def started_phase(status: str | None) -> bool:
    return phase_of(status) in (Phase.STARTING, Phase.WAITING, Phase.TRANSFERRING)


def reconciled(job_id: str, status: str | None, before: str | None) -> JobResult:
    """A job's outcome from batch-status after its start answer was lost."""
    phase = phase_of(status)
    if started_phase(status) and not started_phase(before):
        return JobResult(job_id, Outcome.SUCCESS, error_msg=f"confirmed by batch-status: {status}")
    if phase is Phase.FAILED:
        return JobResult(job_id, Outcome.FAILED, error_code=status, error_msg="DRS shows it failed")
    return JobResult(
        job_id,
        Outcome.UNKNOWN,
        error_msg=f"answer lost; DRS shows {status or 'no status'}",
    )


def call_detail(call: CallRecord, attempt: int) -> dict[str, object]:
    detail: dict[str, object] = {
        "attempt": attempt,
        "operation": call.operation,
        "jobs": call.job_count,
        "http_status": call.http_status,
        "request_id": call.request_id,
    }
    if call.failure is not None:
        detail.update(failure_detail(call.failure, call.operation, attempt))
    return detail


def failure_detail(failure: CallFailure, operation: str, attempt: int) -> dict[str, object]:
    return {
        "attempt": attempt,
        "operation": operation,
        "kind": failure.kind.value,
        "message": failure.message,
        "http_status": failure.http_status,
        "error_code": failure.error_code,
        "request_id": failure.request_id,
        "maybe_processed": failure.maybe_processed,
    }

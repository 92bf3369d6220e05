"""Starting jobs in DRS: a batch cut into chunks, one batch-starting call each, and every
job's outcome reported, whatever happened to its chunk.

A failed call never raises here: its jobs are FAILED when DRS certainly did not start them,
UNKNOWN when it may have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from bot.core.model import CallFailure, CallFailureKind, CallRecord, JobResult, Outcome, StartReport
from bot.drs import wire
from bot.drs.calls import Caller, unreadable
from bot.drs.errors import DrsAuthError

log = logging.getLogger(__name__)

OP_START = "batch-starting"


async def start_batch(
    caller: Caller,
    job_ids: Sequence[str],
    *,
    chunk_size: int,
    concurrency: int,
    start_time_ms: int | None = None,
    language: str = "en-us",
    job_start_times_ms: Mapping[str, int] | None = None,
) -> StartReport:
    """Start ``job_ids`` (now, or at ``start_time_ms`` epoch ms) and report every outcome.

    ``job_start_times_ms`` gives individual jobs their own start time, overriding
    ``start_time_ms`` for those jobs (DRS accepts a start time per job).

    Never raises for a failed call: the report says, per job in input order, SUCCESS or
    FAILED as DRS answered, FAILED when the call was refused or never sent, and UNKNOWN
    when it may have been processed without a readable answer (5xx, timeout after
    sending, unreadable 2xx, a job missing from the answer). Chunks of ``chunk_size``
    go out with at most ``concurrency`` in flight. ``calls`` holds one CallRecord per
    HTTP exchange; its ``failure`` is set on the exchange that decided the chunk's
    outcome (retried 429s and expired-token 401s carry their status and no failure).
    After an AUTH refusal the chunks not yet sent are not sent (repeated signature
    failures lock the AK); they are FAILED, recorded with ``http_status`` None.

    Raises ValueError, before sending anything, for empty or duplicate ids or a negative
    start time.
    """
    ids = list(job_ids)
    if any(not isinstance(j, str) or not j for j in ids):
        raise ValueError("job ids must be non-empty strings")
    if len(set(ids)) != len(ids):
        raise ValueError("job ids must be unique within a batch start")
    times: dict[str, int | None] = dict.fromkeys(ids, start_time_ms)
    times.update(job_start_times_ms or {})
    if any(t is not None and t < 0 for t in times.values()):
        raise ValueError("start_time_ms must be epoch milliseconds >= 0")
    if job_start_times_ms and not set(job_start_times_ms) <= set(ids):
        raise ValueError("job_start_times_ms names jobs that are not in job_ids")
    chunks = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
    refused: list[DrsAuthError] = []
    gate = asyncio.Semaphore(concurrency)

    async def run(chunk: list[str]) -> tuple[list[JobResult], list[CallRecord]]:
        async with gate:
            if refused:
                return _not_sent(chunk, refused[0])
            try:
                return await _start_chunk(caller, chunk, times, language, refused)
            except Exception:
                # A bug must not lose what the other chunks learned, nor claim this one
                # failed: it may have been sent.
                log.exception("batch-starting chunk of %d jobs: unexpected error", len(chunk))
                return _unexpected(chunk)

    done = await asyncio.gather(*(run(c) for c in chunks))
    results = tuple(r for chunk_results, _ in done for r in chunk_results)
    calls = tuple(c for _, chunk_calls in done for c in chunk_calls)
    return StartReport(results=results, calls=calls)


async def _start_chunk(
    caller: Caller,
    chunk: list[str],
    times: Mapping[str, int | None],
    language: str,
    refused: list[DrsAuthError],
) -> tuple[list[JobResult], list[CallRecord]]:
    body = wire.encode(wire.start_body(chunk, times))
    answer = await caller.call(
        OP_START, "/jobs/batch-starting", body, len(chunk), language, starting=True
    )
    records = answer.retried
    error = answer.error
    if error is None:
        assert answer.body is not None
        try:
            results = wire.start_results(answer.body, chunk)
        except wire.WireError as exc:
            error = unreadable(OP_START, answer, exc, starting=True)
        else:
            records.append(CallRecord(OP_START, len(chunk), answer.status, answer.request_id))
            return results, records
    if isinstance(error, DrsAuthError):
        refused.append(error)
    records.append(
        CallRecord(
            OP_START,
            len(chunk),
            answer.status if answer.sent else None,
            answer.request_id,
            error.failure,
        )
    )
    outcome = Outcome.UNKNOWN if error.maybe_processed else Outcome.FAILED
    msg = error.error_msg or error.summary
    code = error.error_code
    results = [JobResult(j, outcome, error_code=code, error_msg=msg) for j in chunk]
    return results, records


def _not_sent(chunk: list[str], cause: DrsAuthError) -> tuple[list[JobResult], list[CallRecord]]:
    failure = CallFailure(
        kind=CallFailureKind.AUTH,
        message=f"not sent: an earlier batch-starting call was refused. {cause}",
        error_code=cause.error_code,
        request_id=cause.request_id,
    )
    msg = cause.error_msg or cause.summary
    code = cause.error_code
    results = [JobResult(j, Outcome.FAILED, error_code=code, error_msg=msg) for j in chunk]
    return results, [CallRecord(OP_START, len(chunk), None, None, failure)]


def _unexpected(chunk: list[str]) -> tuple[list[JobResult], list[CallRecord]]:
    failure = CallFailure(
        kind=CallFailureKind.PROTOCOL,
        message="unexpected error while starting these jobs; their outcome is unknown",
        maybe_processed=True,
    )
    results = [
        JobResult(j, Outcome.UNKNOWN, error_msg="unexpected error; check the job's status")
        for j in chunk
    ]
    return results, [CallRecord(OP_START, len(chunk), None, None, failure)]

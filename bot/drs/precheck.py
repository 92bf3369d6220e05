"""DRS's precheck calls: batch-precheck (start one) and batch-precheck-result (read them).

Shapes, from Huawei's API reference and ``huaweicloudsdkdrs.v3.model`` (``docs/drs-precheck.md``):

* ``POST /v3/{project_id}/jobs/batch-precheck`` ``{"jobs": [{"job_id", "precheck_mode"}]}``
  -> 200 ``{"results": [{"id", "precheck_id", "status": "success"|"failed", "error_code",
  "error_msg"}], "count"}``;
* ``POST /v3/{project_id}/jobs/batch-precheck-result`` ``{"jobs": [job ids]}`` -> 200
  ``{"results": [{"precheck_id", "result": bool, "process": "0%".."100%",
  "total_passed_rate", "precheck_result": [{"item", "result": PASSED|ALARM|FAILED,
  "failed_reason", ...}], "error_code", "error_msg", ...}], "count"}``. An entry names no job:
  entries come one per asked job, in the order asked (as Terraform's provider reads them), so
  an answer with another number of entries is not read at all.

Huawei asks for at most :data:`CHUNK` jobs per call. Reading never changes anything in DRS,
and a chunk whose call fails leaves its jobs :attr:`PrecheckState.UNREADABLE`, never passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.core.precheck import (
    MAX_FAILED_ITEMS,
    FailedItem,
    JobPrecheck,
    PrecheckMode,
    PrecheckState,
    clip,
)
from bot.drs import wire
from bot.drs.calls import Answer, Caller, unreadable
from bot.drs.chunks import in_chunks
from bot.drs.errors import DrsError

CHUNK = 10  # Huawei: call the precheck APIs for at most 10 jobs at a time
OP_PRECHECK = "batch-precheck"
OP_RESULT = "batch-precheck-result"
PATH_PRECHECK = "/jobs/batch-precheck"
PATH_RESULT = "/jobs/batch-precheck-result"
_DONE = "100%"


def precheck_body(jobs: Sequence[tuple[str, PrecheckMode]]) -> dict[str, Any]:
    """The batch-precheck body (``BatchPrecheckReq``)."""
    return {"jobs": [{"job_id": j, "precheck_mode": m.value} for j, m in jobs]}


def result_body(job_ids: Sequence[str]) -> dict[str, Any]:
    """The batch-precheck-result body (``BatchQueryPrecheckResultReq``)."""
    return {"jobs": list(job_ids)}


def started(body: Mapping[str, Any], asked: Sequence[str], now: float) -> list[JobPrecheck]:
    """Each asked job's precheck after a batch-precheck answer: RUNNING where DRS accepted it,
    FAILED (with DRS's message) where it refused, UNREADABLE where the answer left it out."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for entry in _entries(body):
        job_id = _text(entry.get("id"))
        if job_id is not None:
            by_id.setdefault(job_id, entry)
    out = []
    for job_id in asked:
        found = by_id.get(job_id)
        if found is None:
            out.append(_unreadable(job_id, now, "DRS's answer did not mention this job"))
            continue
        status = (_text(found.get("status")) or "").lower()
        code, msg = _text(found.get("error_code")), _text(found.get("error_msg"))
        if status == "success":
            state, reason = PrecheckState.RUNNING, None
        else:
            state = PrecheckState.FAILED
            reason = clip(" ".join(t for t in (code, msg) if t)) or "DRS refused the precheck"
        out.append(
            JobPrecheck(
                job_id,
                state,
                precheck_id=clip(_text(found.get("precheck_id")), 64),
                read_at=now,
                reason=reason,
            )
        )
    return out


def results(body: Mapping[str, Any], asked: Sequence[str], now: float) -> list[JobPrecheck]:
    """Each asked job's precheck from a batch-precheck-result answer (one entry per asked job,
    in order; another count raises :class:`wire.WireError`)."""
    entries = _entries(body)
    if len(entries) != len(asked):
        raise wire.WireError(
            f"the answer has {len(entries)} precheck results for {len(asked)} jobs asked"
        )
    return [_one(job_id, entry, now) for job_id, entry in zip(asked, entries, strict=True)]


def _one(job_id: str, entry: Mapping[str, Any], now: float) -> JobPrecheck:
    precheck_id = clip(_text(entry.get("precheck_id")), 64)
    code, msg = _text(entry.get("error_code")), _text(entry.get("error_msg"))
    reason = clip(" ".join(t for t in (code, msg) if t))
    rate = clip(_text(entry.get("total_passed_rate")), 16)
    process = _text(entry.get("process"))
    if code is not None and precheck_id is None:
        # No precheck to show: DRS has none of this job on record.
        return JobPrecheck(job_id, PrecheckState.NEVER_RUN, read_at=now, reason=reason)
    items = _failed_items(entry.get("precheck_result"))
    if code is not None:
        state = PrecheckState.FAILED
    elif process is not None and process != _DONE:
        state = PrecheckState.RUNNING
    elif entry.get("result") is True and rate in (None, _DONE) and not items:
        state = PrecheckState.PASSED
    else:
        state = PrecheckState.FAILED
    return JobPrecheck(
        job_id,
        state,
        passed_rate=rate,
        failed_items=items if state is PrecheckState.FAILED else (),
        precheck_id=precheck_id,
        read_at=now,
        reason=reason,
    )


def _failed_items(raw: object) -> tuple[FailedItem, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise wire.WireError("'precheck_result' in the answer is not a list")
    items: list[FailedItem] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise wire.WireError("'precheck_result' in the answer is not a list of objects")
        result = (_text(entry.get("result")) or "").upper()
        if result == "PASSED":
            continue
        items.append(
            FailedItem(
                item=clip(_text(entry.get("item")), 120) or "(unnamed item)",
                result=clip(result, 16) or "UNKNOWN",
                reason=clip(_text(entry.get("failed_reason"))),
            )
        )
        if len(items) >= MAX_FAILED_ITEMS:
            break
    return tuple(items)


def _entries(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = body.get("results")
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise wire.WireError("'results' in the answer is not a list of objects")
    return value


def _unreadable(job_id: str, now: float, why: str) -> JobPrecheck:
    return JobPrecheck(job_id, PrecheckState.UNREADABLE, read_at=now, reason=why)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value)
    return text if text else None


# -- the calls ------------------------------------------------------------------------------


async def read_results(
    caller: Caller, job_ids: Sequence[str], *, concurrency: int, now: Callable[[], float]
) -> list[JobPrecheck]:
    """Every job's precheck, in input order (duplicates read once). A chunk whose call fails
    leaves its jobs UNREADABLE with the failure's summary; never raises for a failed call."""

    async def one(chunk: list[str]) -> list[JobPrecheck]:
        body = wire.encode(result_body(chunk))
        answer = await caller.call(
            OP_RESULT, PATH_RESULT, body, len(chunk), "en-us", starting=False
        )
        return _parsed(OP_RESULT, answer, chunk, now(), results)

    return await in_chunks(job_ids, CHUNK, concurrency, one)


async def run_prechecks(
    caller: Caller,
    jobs: Sequence[tuple[str, PrecheckMode]],
    *,
    concurrency: int,
    now: Callable[[], float],
) -> list[JobPrecheck]:
    """Start a precheck of each job with its mode; each job's state after the call (RUNNING
    where DRS accepted it). Never raises for a failed call: its jobs are UNREADABLE."""
    modes = dict(jobs)

    async def one(chunk: list[str]) -> list[JobPrecheck]:
        body = wire.encode(precheck_body([(j, modes[j]) for j in chunk]))
        answer = await caller.call(
            OP_PRECHECK, PATH_PRECHECK, body, len(chunk), "en-us", starting=False
        )
        return _parsed(OP_PRECHECK, answer, chunk, now(), started)

    return await in_chunks([j for j, _ in jobs], CHUNK, concurrency, one)


def _parsed(
    operation: str,
    answer: Answer,
    chunk: list[str],
    now: float,
    parse: Callable[[Mapping[str, Any], Sequence[str], float], list[JobPrecheck]],
) -> list[JobPrecheck]:
    error: DrsError | None = answer.error
    if error is None:
        assert answer.body is not None
        try:
            return parse(answer.body, chunk, now)
        except wire.WireError as exc:
            error = unreadable(operation, answer, exc, starting=False)
    why = clip(str(error)) or "the call failed"
    return [_unreadable(j, now, why) for j in chunk]

"""DRS v3 JSON bodies: building requests and reading answers, without I/O.

Readers are tolerant where the real service is known to vary (``results`` vs ``jobs``,
``error_msg`` vs ``error_message``) and strict where guessing would claim an outcome nobody
saw: anything that is not the expected shape raises :class:`WireError`, and a job the answer
does not mention is never reported as started.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.core.model import JobInfo, JobResult, Outcome

PAGE_SIZE = 100  # the largest per_page DRS accepts

# JobInfo.extra key set when an answer did not mention a job we asked about.
MISSING_KEY = "answer"
MISSING_VALUE = "missing"

_DETAIL_EXTRA = (
    "create_time",
    "actual_start_time",
    "update_time",
    "failed_reason",
    "task_type",
    "job_direction",
    "net_type",
    "description",
)
_LIST_EXTRA = ("create_time", "task_type", "job_direction", "net_type", "description")


class WireError(ValueError):
    """An answer whose shape we cannot read."""


def start_body(job_ids: Sequence[str], start_times_ms: Mapping[str, int | None]) -> dict[str, Any]:
    """The batch-starting body: one ``{"job_id"}`` per job, plus ``start_time`` (epoch ms as
    a decimal string) for the jobs that have one in ``start_times_ms``."""
    jobs: list[dict[str, str]] = []
    for job_id in job_ids:
        entry = {"job_id": job_id}
        start = start_times_ms.get(job_id)
        if start is not None:
            entry["start_time"] = str(start)
        jobs.append(entry)
    return {"jobs": jobs}


def query_body(job_ids: Sequence[str]) -> dict[str, Any]:
    """The batch-status / batch-detail body (one page holds up to :data:`PAGE_SIZE` jobs)."""
    return {"jobs": list(job_ids), "page_req": {"cur_page": 1, "per_page": PAGE_SIZE}}


def list_body(page: int, db_use_type: str, name: str | None, status: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"cur_page": page, "per_page": PAGE_SIZE, "db_use_type": db_use_type}
    if name is not None:
        body["name"] = name
    if status is not None:
        body["status"] = status
    return body


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_object(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object or raise :class:`WireError`."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"the answer is not JSON ({len(raw)} bytes)") from exc
    if not isinstance(value, dict):
        raise WireError(f"the answer is JSON {type(value).__name__}, not an object")
    return value


def error_fields(raw: bytes) -> tuple[str | None, str | None]:
    """``(error_code, error_msg)`` from an error body; ``(None, None)`` when there are none.

    Reads DRS/gateway bodies (``error_code``/``error_msg``) and IAM's
    ``{"error": {"code", "message"}}``.
    """
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(value, dict):
        return None, None
    code = _text(value.get("error_code"))
    msg = _text(value.get("error_msg")) or _text(value.get("error_message"))
    nested = value.get("error")
    if isinstance(nested, dict):
        code = code or _text(nested.get("code"))
        msg = msg or _text(nested.get("message"))
    return code, msg


def start_results(body: Mapping[str, Any], sent: Sequence[str]) -> list[JobResult]:
    """One JobResult per sent job, in ``sent`` order, from a 2xx batch-starting answer.

    Reads ``results``, falling back to ``jobs``. A sent job the answer does not mention, or
    mentions with a status other than success/failed, or with contradicting entries, is
    UNKNOWN. Entries for jobs we did not send are ignored.
    """
    entries = _entry_list(body, ("results", "jobs"))
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        job_id = _text(entry.get("id")) or _text(entry.get("job_id"))
        if job_id is not None:
            by_id.setdefault(job_id, []).append(entry)
    results = []
    for job_id in sent:
        found = by_id.get(job_id)
        if not found:
            results.append(
                JobResult(
                    job_id,
                    Outcome.UNKNOWN,
                    error_msg="DRS's answer did not mention this job; check its status",
                )
            )
            continue
        outcomes = {_outcome(e.get("status")) for e in found}
        entry = found[0]
        error_msg = _text(entry.get("error_msg")) or _text(entry.get("error_message"))
        if len(outcomes) == 1:
            outcome = outcomes.pop()
        else:
            outcome = Outcome.UNKNOWN
            error_msg = "DRS's answer gave contradicting results for this job; check its status"
        results.append(
            JobResult(
                job_id,
                outcome,
                error_code=_text(entry.get("error_code")),
                error_msg=error_msg,
                order_id=_text(entry.get("order_id")),
            )
        )
    return results


def status_infos(body: Mapping[str, Any], asked: Sequence[str]) -> list[JobInfo]:
    """JobInfo per asked job, in order, from a batch-status answer."""
    return _infos(body, asked, _from_status)


def detail_infos(body: Mapping[str, Any], asked: Sequence[str]) -> list[JobInfo]:
    """JobInfo per asked job, in order, from a batch-detail answer."""
    return _infos(body, asked, _from_detail)


def list_page(body: Mapping[str, Any]) -> tuple[int, list[JobInfo]]:
    """``(total_record, jobs on this page)`` from a job-list answer."""
    total = body.get("total_record")
    if not isinstance(total, int) or isinstance(total, bool):
        raise WireError("the job list has no integer total_record")
    infos = []
    for entry in _entry_list(body, ("jobs",)):
        job_id = _text(entry.get("id"))
        if job_id is None:
            raise WireError("a job in the list has no id")
        infos.append(
            JobInfo(
                job_id=job_id,
                name=_text(entry.get("name")),
                status=_text(entry.get("status")),
                engine_type=_text(entry.get("engine_type")),
                db_use_type=_text(entry.get("db_use_type")),
                extra=_extra(entry, _LIST_EXTRA),
            )
        )
    return total, infos


def _infos(
    body: Mapping[str, Any],
    asked: Sequence[str],
    build: Callable[[str, Mapping[str, Any]], JobInfo],
) -> list[JobInfo]:
    by_id: dict[str, JobInfo] = {}
    for entry in _entry_list(body, ("results",)):
        job_id = _text(entry.get("id"))
        if job_id is not None and job_id not in by_id:
            by_id[job_id] = build(job_id, entry)
    return [
        by_id.get(job_id)
        or JobInfo(
            job_id=job_id,
            error_msg="DRS's answer did not mention this job",
            extra={MISSING_KEY: MISSING_VALUE},
        )
        for job_id in asked
    ]


def _from_status(job_id: str, entry: Mapping[str, Any]) -> JobInfo:
    return JobInfo(
        job_id=job_id,
        status=_text(entry.get("status")),
        error_code=_text(entry.get("error_code")),
        # batch-status names it error_message; accept error_msg as well
        error_msg=_text(entry.get("error_message")) or _text(entry.get("error_msg")),
    )


def _from_detail(job_id: str, entry: Mapping[str, Any]) -> JobInfo:
    source = entry.get("source_endpoint")
    engine = _text(source.get("db_type")) if isinstance(source, dict) else None
    return JobInfo(
        job_id=job_id,
        name=_text(entry.get("name")),
        status=_text(entry.get("status")),
        error_code=_text(entry.get("error_code")),
        error_msg=_text(entry.get("error_message")) or _text(entry.get("error_msg")),
        prepaid=_is_prepaid(entry.get("period_order")),
        engine_type=engine or _text(entry.get("engine_type")),
        db_use_type=_text(entry.get("db_use_type")),
        extra=_extra(entry, _DETAIL_EXTRA),
    )


def _is_prepaid(period_order: object) -> bool:
    # period_order describes the yearly/monthly order; pay-per-use tasks have none (or an
    # empty one).
    if not isinstance(period_order, dict):
        return False
    return bool(_text(period_order.get("order_id"))) or period_order.get("charging_mode") not in (
        None,
        "",
    )


def _entry_list(body: Mapping[str, Any], keys: Sequence[str]) -> list[Mapping[str, Any]]:
    for key in keys:
        if key in body and body[key] is not None:
            value = body[key]
            if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
                raise WireError(f"{key!r} in the answer is not a list of objects")
            return value
    raise WireError(f"the answer has none of {', '.join(repr(k) for k in keys)}")


def _outcome(status: object) -> Outcome:
    text = _text(status)
    if text is None:
        return Outcome.UNKNOWN
    lowered = text.lower()
    if lowered == "success":
        return Outcome.SUCCESS
    if lowered == "failed":
        return Outcome.FAILED
    return Outcome.UNKNOWN


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if text != "" else None


def _extra(entry: Mapping[str, Any], keys: Sequence[str]) -> dict[str, str]:
    return {k: t for k in keys if (t := _text(entry.get(k))) is not None}

"""The simulator's DRS v3 calls: each body checked as DRS checks it, then processed.

``POST /v3/{project_id}/jobs/batch-starting``
    202 ``{"results": [{"id", "status": "success"|"failed", "error_code", "error_msg",
    "order_id" (prepaid)}], "count": N}``. Per task: ``CONFIGURATION`` starts (``STARTJOBING``,
    after ``start_delay`` seconds ``FULL_TRANSFER_STARTED``, or ``INCRE_TRANSFER_STARTED`` for
    an incremental task, or ``START_JOB_FAILED`` for one added with ``start_fails``); a future
    ``start_time`` (epoch ms string) gives ``WAITING_FOR_START`` until then. Unknown id:
    failed ``DRS.M05003``; deleted: ``DRS.M05004``; any other status: ``DRS.M00304``.
    Whole-call 400: body not a JSON object ``DRS.M00200``; ``jobs`` or a ``job_id`` missing or
    empty ``DRS.M00201``; a ``job_id`` not 8-4-4-4-12 over ``[0-9a-z]``, or a ``start_time``
    that is not a decimal string ``DRS.M00202``; an id twice in one request ``DRS.M00301``.
``POST /v3/{project_id}/jobs/batch-status`` and ``.../batch-detail``
    ``{"jobs": [ids], "page_req": {"cur_page", "per_page"}}`` -> 200 ``{"count", "results"}``
    (ids de-duplicated, in request order). ``page_req`` omitted = page 1 of 5 (DRS's documented
    default); ``per_page`` 0 = all; a page past the last is 400 ``DRS.M00202``. Unknown ids get
    an entry ``{"id", "error_code": "DRS.M05003", "error_message"}``. Detail of a prepaid task
    has ``period_order`` (``UNORDERED`` until started, then ``COMPLETED`` with ``order_id``).
``POST /v3/{project_id}/jobs``
    The job list: ``cur_page`` (1), ``per_page`` (10, max 100, 0 = all), optional
    ``db_use_type``, ``status``, ``name`` (a name substring or an id; comma-separated for
    several) -> 200 ``{"total_record", "jobs": [...]}`` in creation order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from bot.devkit.sim.drs_bodies import fail, read_job_ids
from bot.devkit.sim.drs_jobs import (
    CONFIGURATION,
    DB_USE_TYPES,
    JobBook,
    detail_entry,
    is_job_id,
    list_entry,
    list_matches,
    status_entry,
    unknown_entry,
)
from bot.devkit.sim.drs_model import CallNote, Result
from bot.devkit.sim.drs_precheck import PrecheckBook
from bot.devkit.sim.drs_wire import drs_message, loads_object


class JobCalls:
    """batch-starting, batch-status, batch-detail and the job list, over the simulator's tasks.

    Each takes the call's note, its body and its ``X-Language``, and forms the answer.
    """

    def __init__(self, jobs: JobBook, prechecks: PrecheckBook) -> None:
        self.jobs = jobs
        self.prechecks = prechecks

    def start(self, call: CallNote, body: bytes, language: str) -> Result:
        data = loads_object(body)
        if data is None:
            return fail(call, 400, "DRS.M00200", language)
        jobs = data.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            return fail(call, 400, "DRS.M00201", language, "jobs")
        plan: dict[str, float | None] = {}
        for item in jobs:
            if not isinstance(item, dict):
                return fail(call, 400, "DRS.M00200", language)
            job_id = item.get("job_id")
            if not isinstance(job_id, str) or not job_id:
                return fail(call, 400, "DRS.M00201", language, "job_id")
            if not is_job_id(job_id):
                return fail(call, 400, "DRS.M00202", language, "job_id")
            if job_id in plan:
                return fail(call, 400, "DRS.M00301", language, job_id)
            start_time = item.get("start_time")
            if start_time is None or start_time == "":
                plan[job_id] = None
            elif isinstance(start_time, str) and start_time.isascii() and start_time.isdigit():
                plan[job_id] = int(start_time) / 1000
            else:
                return fail(call, 400, "DRS.M00202", language, "start_time")
        results: list[dict[str, str]] = []
        for job_id, start_at in plan.items():
            refused = self._precheck_refusal(job_id, language)
            if refused is not None:
                results.append(refused)
                continue
            outcome = self.jobs.start(job_id, start_at)
            entry = {"id": job_id, "status": "success" if outcome.error_code is None else "failed"}
            if outcome.error_code is not None:
                entry["error_code"] = outcome.error_code
                entry["error_msg"] = drs_message(outcome.error_code, language)
            if outcome.order_id is not None:
                entry["order_id"] = outcome.order_id
            results.append(entry)
        return Result(202, {"results": results, "count": len(results)})

    def _precheck_refusal(self, job_id: str, language: str) -> dict[str, str] | None:
        """A configured task whose precheck has not passed is not started (DRS's rule)."""
        job = self.jobs.get(job_id)
        if job is None or job.status != CONFIGURATION:
            return None
        refusal = self.prechecks.refusal(job_id, language)
        if refusal is None:
            return None
        code, msg = refusal
        return {"id": job_id, "status": "failed", "error_code": code, "error_msg": msg}

    def _query(
        self, call: CallNote, body: bytes, language: str, entry: Callable[[str], dict[str, Any]]
    ) -> Result:
        read = read_job_ids(call, body, language)
        if isinstance(read, Result):
            return read
        data, ids = read
        page = data.get("page_req", {})
        if not isinstance(page, dict):
            return fail(call, 400, "DRS.M00202", language, "page_req")
        # DRS's documented defaults when page_req leaves them out: page 1 of 5.
        window = _page_window(page, len(dict.fromkeys(ids)), default_per_page=5, strict=True)
        if isinstance(window, str):
            return fail(call, 400, "DRS.M00202", language, window)
        entries = [entry(i) for i in dict.fromkeys(ids)]
        return Result(200, {"count": len(entries), "results": entries[window[0] : window[1]]})

    def _entry_or_unknown(
        self, language: str, shape: Callable[[Any], dict[str, Any]]
    ) -> Callable[[str], dict[str, Any]]:
        def entry(job_id: str) -> dict[str, Any]:
            job = self.jobs.get(job_id)
            if job is None:
                return unknown_entry(job_id, drs_message("DRS.M05003", language))
            return shape(job)

        return entry

    def status(self, call: CallNote, body: bytes, language: str) -> Result:
        return self._query(call, body, language, self._entry_or_unknown(language, status_entry))

    def detail(self, call: CallNote, body: bytes, language: str) -> Result:
        return self._query(call, body, language, self._entry_or_unknown(language, detail_entry))

    def list_jobs(self, call: CallNote, body: bytes, language: str) -> Result:
        data = loads_object(body) if body.strip() else {}
        if data is None:
            return fail(call, 400, "DRS.M00200", language)
        filters: dict[str, str | None] = {}
        for name in ("name", "status", "db_use_type"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                return fail(call, 400, "DRS.M00202", language, name)
            filters[name] = value
        if filters["db_use_type"] and filters["db_use_type"] not in DB_USE_TYPES:
            return fail(call, 400, "DRS.M00202", language, "db_use_type")
        matching = [
            list_entry(j)
            for j in self.jobs.all()
            if list_matches(j, filters["name"], filters["status"], filters["db_use_type"])
        ]
        window = _page_window(data, len(matching), default_per_page=10, strict=False)
        if isinstance(window, str):
            return fail(call, 400, "DRS.M00202", language, window)
        return Result(200, {"total_record": len(matching), "jobs": matching[window[0] : window[1]]})


def _page_window(
    page: Mapping[str, Any], total: int, *, default_per_page: int, strict: bool
) -> tuple[int, int] | str:
    """Slice bounds for ``cur_page``/``per_page``, or the name of the invalid parameter.

    ``per_page`` 0 means all (``cur_page`` must then be 0 or 1). With ``strict`` (the batch
    queries) a page past the last one is refused, as DRS does; the list just comes back empty.
    """
    cur, per = page.get("cur_page", 1), page.get("per_page", default_per_page)
    for name, value in (("cur_page", cur), ("per_page", per)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return name
    if per > 100:
        return "per_page"
    if per == 0:
        return (0, total) if cur in (0, 1) else "cur_page"
    if cur == 0 or (strict and cur > max(1, math.ceil(total / per))):
        return "cur_page"
    return ((cur - 1) * per, cur * per)

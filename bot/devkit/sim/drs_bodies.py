"""Reading the simulator's request bodies: the error answer DRS gives for a bad body, and the
``{"jobs": ["<id>", ...]}`` list that several batch calls take."""

from __future__ import annotations

from typing import Any

from bot.devkit.sim.drs_jobs import is_job_id
from bot.devkit.sim.drs_model import CallNote, Result
from bot.devkit.sim.drs_wire import drs_message, error_body, loads_object


def fail(call: CallNote, status: int, code: str, language: str, arg: str = "") -> Result:
    """DRS's error answer ``code`` (in ``language``), noted on ``call``."""
    call.error_code = code
    return Result(status, error_body(code, drs_message(code, language, arg)))


def read_job_ids(
    call: CallNote, body: bytes, language: str
) -> tuple[dict[str, Any], list[str]] | Result:
    """The body and its ``jobs`` (task IDs, at least one), or the error answer for a body
    that is not JSON, has no jobs, or names something that is not a task ID."""
    data = loads_object(body)
    if data is None:
        return fail(call, 400, "DRS.M00200", language)
    ids = data.get("jobs")
    if not isinstance(ids, list) or not ids:
        return fail(call, 400, "DRS.M00201", language, "jobs")
    if not all(isinstance(i, str) and is_job_id(i) for i in ids):
        return fail(call, 400, "DRS.M00202", language, "jobs")
    return data, ids

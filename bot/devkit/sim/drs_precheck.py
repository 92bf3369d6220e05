"""The simulator's DRS precheck: each task's precheck, batch-precheck and
batch-precheck-result, and the refusal to start a task whose precheck has not passed.

A task the simulator was never told about has a finished, passed precheck (so every test and
demo that starts tasks keeps working). :meth:`PrecheckBook.set` changes that per task:

* ``state="never"``: DRS has no precheck of it; batch-precheck-result answers its entry with
  ``error_code`` ``DRS.M00304`` and no ``precheck_id``; batch-starting refuses it;
* ``state="failed"`` with ``items`` ``[(item, result, reason)]``: a finished precheck that did
  not pass (``result`` false, ``total_passed_rate`` below 100%, the items FAILED or ALARM);
* ``state="passed"``: finished and passed;
* ``after_run`` (``"passed"`` or ``"failed"``) is what the next batch-precheck of it ends in,
  after ``takes`` seconds of the simulator's clock (``process`` grows from 0% to 100% meanwhile).

``POST /v3/{project_id}/jobs/batch-precheck`` ``{"jobs": [{"job_id", "precheck_mode"}]}`` ->
200 ``{"results": [{"id", "precheck_id", "status", "error_code", "error_msg"}], "count"}``
(unknown task: ``failed`` ``DRS.M05003``; more than 10 jobs: 400 ``DRS.M00202``).
``POST /v3/{project_id}/jobs/batch-precheck-result`` ``{"jobs": [ids]}`` -> 200 ``{"results":
[QueryPreCheckResp, one per id, in order], "count"}``. Huawei does not publish which code it
answers for a start refused for its precheck; the simulator refuses it per task with
``DRS.M00304`` (the task's state does not allow the operation) and a message naming the
precheck.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.devkit.sim.drs_bodies import fail, read_job_ids
from bot.devkit.sim.drs_jobs import is_job_id, new_job_id
from bot.devkit.sim.drs_model import CallNote, Result
from bot.devkit.sim.drs_wire import drs_message, loads_object

MAX_JOBS = 10
MODES = frozenset({"forStartJob", "forRetryJob"})
NOT_PASSED_CODE = "DRS.M00304"
NOT_PASSED_MESSAGE = (
    "The precheck of the task has not passed. Run the precheck and start the task once it passes."
)
NEVER_MESSAGE = "No precheck of the task has been run."
_DEFAULT_ITEMS = (
    ("Database connectivity", "PASSED", ""),
    ("Source database binlog format", "PASSED", ""),
    ("Destination database storage space", "PASSED", ""),
)


@dataclass(frozen=True, slots=True)
class SimPrecheck:
    """One task's precheck: its state, items that did not pass, and a running one's times."""

    state: str = "passed"  # passed | failed | never | running
    items: tuple[tuple[str, str, str], ...] = ()
    precheck_id: str = ""
    started_at: float = 0.0
    takes: float = 0.0
    after_run: str = "passed"
    after_items: tuple[tuple[str, str, str], ...] = ()
    mode: str = ""
    runs: int = 0


@dataclass
class PrecheckBook:
    """Every task's precheck; thread-safe, computed from the simulator's clock when read."""

    now: Callable[[], float]
    _checks: dict[str, SimPrecheck] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def set(
        self,
        job_id: str,
        *,
        state: str = "passed",
        items: Sequence[tuple[str, str, str]] = (),
        after_run: str = "passed",
        after_items: Sequence[tuple[str, str, str]] = (),
        takes: float = 0.0,
    ) -> None:
        """Give ``job_id`` a precheck (see the module docstring)."""
        if state not in ("passed", "failed", "never") or after_run not in ("passed", "failed"):
            raise ValueError("state is passed, failed or never; after_run passed or failed")
        with self._lock:
            self._checks[job_id] = SimPrecheck(
                state=state,
                items=tuple(items),
                precheck_id="" if state == "never" else new_job_id(),
                started_at=self.now(),
                takes=takes,
                after_run=after_run,
                after_items=tuple(after_items),
            )

    def get(self, job_id: str) -> SimPrecheck:
        """The task's precheck now (a running one that finished has its outcome)."""
        with self._lock:
            check = self._checks.get(job_id)
        if check is None:
            return SimPrecheck(precheck_id=new_job_id(seed=f"precheck {job_id}"))
        if check.state == "running" and self.now() >= check.started_at + check.takes:
            return replace(check, state=check.after_run, items=check.after_items)
        return check

    def passed(self, job_id: str) -> bool:
        return self.get(job_id).state == "passed"

    def refusal(self, job_id: str, language: str) -> tuple[str, str] | None:
        """Why batch-starting refuses the task for its precheck, or None."""
        if self.passed(job_id):
            return None
        if language.lower().startswith("zh"):
            return NOT_PASSED_CODE, "任务预检查未通过，请在预检查通过后启动任务。"
        return NOT_PASSED_CODE, NOT_PASSED_MESSAGE

    def _begin(self, job_id: str, mode: str) -> SimPrecheck:
        with self._lock:
            before = self._checks.get(job_id) or SimPrecheck()
            begun = replace(
                before,
                state="running",
                items=(),
                precheck_id=new_job_id(),
                started_at=self.now(),
                mode=mode,
                runs=before.runs + 1,
            )
            self._checks[job_id] = begun
            return begun

    # -- the two calls ------------------------------------------------------------------

    def run(
        self, call: CallNote, body: bytes, language: str, known: Callable[[str], bool]
    ) -> Result:
        data = loads_object(body)
        if data is None:
            return fail(call, 400, "DRS.M00200", language)
        jobs = data.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            return fail(call, 400, "DRS.M00201", language, "jobs")
        if len(jobs) > MAX_JOBS:
            return fail(call, 400, "DRS.M00202", language, "jobs")
        asked: list[tuple[str, str]] = []
        for item in jobs:
            if not isinstance(item, dict):
                return fail(call, 400, "DRS.M00200", language)
            job_id, mode = item.get("job_id"), item.get("precheck_mode")
            if not isinstance(job_id, str) or not is_job_id(job_id):
                return fail(call, 400, "DRS.M00202", language, "job_id")
            if mode not in MODES:
                return fail(call, 400, "DRS.M00202", language, "precheck_mode")
            if any(job_id == j for j, _ in asked):
                return fail(call, 400, "DRS.M00301", language, job_id)
            asked.append((job_id, str(mode)))
        call.job_ids = tuple(j for j, _ in asked)
        results: list[dict[str, Any]] = []
        for job_id, mode in asked:
            if not known(job_id):
                code = "DRS.M05003"
                msg = drs_message(code, language)
                results.append(
                    {"id": job_id, "status": "failed", "error_code": code, "error_msg": msg}
                )
                continue
            begun = self._begin(job_id, mode)
            results.append({"id": job_id, "precheck_id": begun.precheck_id, "status": "success"})
        return Result(200, {"results": results, "count": len(results)})

    def results(
        self, call: CallNote, body: bytes, language: str, known: Callable[[str], bool]
    ) -> Result:
        read = read_job_ids(call, body, language)
        if isinstance(read, Result):
            return read
        _, ids = read
        if len(set(ids)) != len(ids):
            return fail(call, 400, "DRS.M00301", language, "jobs")
        call.job_ids = tuple(ids)
        entries = [self._entry(i, language, known) for i in ids]
        return Result(200, {"results": entries, "count": len(entries)})

    def _entry(self, job_id: str, language: str, known: Callable[[str], bool]) -> dict[str, Any]:
        if not known(job_id):
            code = "DRS.M05003"
            return {"result": False, "error_code": code, "error_msg": drs_message(code, language)}
        check = self.get(job_id)
        if check.state == "never":
            return {"result": False, "error_code": NOT_PASSED_CODE, "error_msg": NEVER_MESSAGE}
        entry: dict[str, Any] = {
            "precheck_id": check.precheck_id,
            "job_direction": "up",
            "rds_instance_id": "",
            "error_code": "",
            "error_msg": "",
        }
        if check.state == "running":
            done = min(0.99, (self.now() - check.started_at) / max(check.takes, 0.001))
            return {
                **entry,
                "result": False,
                "process": f"{int(done * 100)}%",
                "total_passed_rate": "0%",
                "precheck_result": [],
            }
        failing = [
            {
                "item": i,
                "result": r,
                "failed_reason": why,
                "data": "",
                "raw_error_msg": "",
                "group": "",
                "failed_sub_jobs": [],
            }
            for i, r, why in check.items
        ]
        passing = [
            {
                "item": i,
                "result": "PASSED",
                "failed_reason": "",
                "data": "",
                "raw_error_msg": "",
                "group": "",
                "failed_sub_jobs": [],
            }
            for i, _, _ in _DEFAULT_ITEMS
        ]
        total = len(failing) + len(passing)
        rate = 100 if check.state == "passed" else int(100 * len(passing) / total)
        return {
            **entry,
            "result": check.state == "passed",
            "process": "100%",
            "total_passed_rate": f"{rate}%",
            "precheck_result": failing + passing,
        }

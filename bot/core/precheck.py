"""DRS's precheck, the step before a task may start: each job's precheck as the bot read it,
the project's rule about it, and the decisions taken on them.

DRS starts only a task whose precheck passed (its console refuses the others; Huawei's
Terraform provider prechecks with ``forStartJob`` and requires 100% passed before it calls
batch-starting). The bot reads every job's precheck when a request is made, shows it, and under
the project's :class:`PrecheckRule` decides whether approval and sending may go ahead:

* ``require`` (the default): approval is refused, and a job is not sent, unless its precheck
  passed;
* ``warn``: approval and sending go ahead; the request shows what has not passed;
* ``off``: nothing is read or shown.

What DRS's answers mean is in ``docs/drs-precheck.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

HELD_CODE = "PRECHECK_NOT_PASSED"
"""The error code of a job the bot did not send: its precheck, read again right before sending,
had not passed (the rule ``require``)."""


class PrecheckRule(StrEnum):
    """What a project asks of a job's precheck before it starts."""

    REQUIRE = "require"
    WARN = "warn"
    OFF = "off"


class PrecheckState(StrEnum):
    """Where one job's precheck stands, as last read from DRS."""

    PASSED = "passed"  # finished, every item passed (100%)
    FAILED = "failed"  # finished with items that did not pass, or DRS could not run it
    RUNNING = "running"  # DRS is still checking
    NEVER_RUN = "never_run"  # DRS has no precheck of this job to show
    UNREADABLE = "unreadable"  # the bot could not read it (the call failed, a job left out)


class PrecheckMode(StrEnum):
    """DRS's ``precheck_mode``: which kind of start the precheck is for."""

    FOR_START = "forStartJob"  # a task in configuration, before its first start
    FOR_RETRY = "forRetryJob"  # a task in incremental transfer after an edit, or a failed one


@dataclass(frozen=True, slots=True)
class FailedItem:
    """One check item that did not pass: its name, DRS's result (FAILED, ALARM) and why."""

    item: str
    result: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class JobPrecheck:
    """One job's precheck as read at ``read_at`` (epoch seconds)."""

    job_id: str
    state: PrecheckState
    passed_rate: str | None = None  # DRS's total_passed_rate, e.g. "85%"
    failed_items: tuple[FailedItem, ...] = ()
    precheck_id: str | None = None
    read_at: float = 0.0
    reason: str | None = None  # DRS's message, or why it could not be read

    @property
    def passed(self) -> bool:
        return self.state is PrecheckState.PASSED


MAX_FAILED_ITEMS = 20
"""Failed items kept per job (DRS lists few; a hostile answer may list thousands)."""

_TEXT_LIMIT = 300


def clip(text: str | None, limit: int = _TEXT_LIMIT) -> str | None:
    """``text`` cut to ``limit`` characters (with an ellipsis), None when empty."""
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mode_for(status: str | None) -> PrecheckMode:
    """The ``precheck_mode`` a job in DRS status ``status`` needs: ``forStartJob`` while it is
    in configuration (before its first start), ``forRetryJob`` for one that has run before (a
    failed task being retried, or one in incremental transfer whose objects were edited)."""
    normal = (status or "").strip().upper()
    if normal in ("", "CONFIGURATION"):
        return PrecheckMode.FOR_START
    return PrecheckMode.FOR_RETRY


def not_passed(job_ids: Iterable[str], prechecks: Mapping[str, JobPrecheck]) -> list[str]:
    """The jobs among ``job_ids`` whose precheck has not passed (or was never read), in order."""
    return [j for j in job_ids if not (j in prechecks and prechecks[j].passed)]


def blocking(
    rule: PrecheckRule, job_ids: Iterable[str], prechecks: Mapping[str, JobPrecheck]
) -> list[str]:
    """The jobs that stop approval, or are not sent, under ``rule``: under ``require`` every
    job whose precheck has not passed; under ``warn`` and ``off`` none."""
    if rule is not PrecheckRule.REQUIRE:
        return []
    return not_passed(job_ids, prechecks)


def warned(
    rule: PrecheckRule, job_ids: Iterable[str], prechecks: Mapping[str, JobPrecheck]
) -> list[str]:
    """The jobs to warn about under ``warn`` (their precheck has not passed); none otherwise."""
    if rule is not PrecheckRule.WARN:
        return []
    return not_passed(job_ids, prechecks)


def to_run(job_ids: Iterable[str], prechecks: Mapping[str, JobPrecheck]) -> list[str]:
    """The jobs a Run precheck starts a precheck for: not passed and not running now."""
    return [
        j
        for j in job_ids
        if not (
            j in prechecks and prechecks[j].state in (PrecheckState.PASSED, PrecheckState.RUNNING)
        )
    ]


def running(prechecks: Iterable[JobPrecheck]) -> list[str]:
    """The jobs whose precheck DRS is still running."""
    return [p.job_id for p in prechecks if p.state is PrecheckState.RUNNING]


@dataclass(frozen=True, slots=True)
class PrecheckCounts:
    """How many jobs of a request stand where, for a summary line."""

    passed: int = 0
    failed: int = 0
    running: int = 0
    never_run: int = 0
    unreadable: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.running + self.never_run + self.unreadable


def counts(job_ids: Sequence[str], prechecks: Mapping[str, JobPrecheck]) -> PrecheckCounts:
    """Count ``job_ids`` by precheck state; a job never read counts as unreadable."""
    tally = dict.fromkeys(PrecheckState, 0)
    for job_id in job_ids:
        found = prechecks.get(job_id)
        tally[found.state if found is not None else PrecheckState.UNREADABLE] += 1
    return PrecheckCounts(
        passed=tally[PrecheckState.PASSED],
        failed=tally[PrecheckState.FAILED],
        running=tally[PrecheckState.RUNNING],
        never_run=tally[PrecheckState.NEVER_RUN],
        unreadable=tally[PrecheckState.UNREADABLE],
    )


def stale_reason(precheck: JobPrecheck | None) -> str:
    """Why a job is not sent: its precheck, read again right before sending, has not passed."""
    if precheck is None or precheck.state is PrecheckState.UNREADABLE:
        why = precheck.reason if precheck is not None and precheck.reason else "no answer"
        return f"its precheck could not be confirmed right before sending ({why})"
    what = {
        PrecheckState.FAILED: "failed",
        PrecheckState.RUNNING: "is running again",
        PrecheckState.NEVER_RUN: "is no longer on record in DRS",
    }.get(precheck.state, precheck.state.value)
    detail = ""
    if precheck.failed_items:
        first = precheck.failed_items[0]
        detail = f": {first.item} {first.result}"
    return f"its precheck {what} when read again right before sending{detail}"

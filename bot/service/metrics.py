"""What the bot counts for its operators, named as a port: :class:`Metrics`.

The service records what its use cases decide (decisions, requests' final states, jobs'
outcomes); the adapters record their own calls (DRS calls and their latency, Slack Web API
calls, acknowledgements, database errors). ``bot.slack.metrics`` implements it over a
Prometheus registry; :class:`NoMetrics` records nothing (tests, tools).

Every label value passed here is bounded: project names come from the policy, states and
outcomes from the state tables, DRS error codes are kept only when they have DRS's shape
(:func:`drs_code_label`); no person's ID is ever a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from bot.core.request import FINAL_STATES, RequestState, Start, StartRequest

# DRS and its API gateway name errors ``DRS.M00001``, ``DRS.10000010``, ``APIGW.0308``.
_DRS_CODE = re.compile(r"[A-Z]{2,8}\.[0-9A-Z]{3,10}")
OTHER = "other"


@dataclass(frozen=True, slots=True)
class StoreGauges:
    """What the database holds now that operators watch: requests being followed up, and
    requests whose start's outcome is still unknown (with when the oldest one was sent)."""

    followups: int
    unknown: int
    oldest_unknown_sent_at: float | None


class Metrics(Protocol):
    """Counts and timings for operators; every method is cheap and never raises."""

    def decided(self, kind: str) -> None:
        """A decision won: ``kind`` is the request state it moved to (approved, rejected,
        cancelled, expired)."""
        ...

    def request_finished(self, project: str, state: str) -> None:
        """A request reached a final state (done, failed, unknown, rejected, cancelled,
        expired)."""
        ...

    def jobs(self, project: str, outcome: str, count: int) -> None:
        """``count`` jobs of a start ended ``outcome`` (started, failed, unknown)."""
        ...

    def drs_call(self, operation: str, outcome: str, code: str, seconds: float) -> None:
        """One DRS exchange: ``outcome`` its class (ok, throttled, client_error, server_error,
        transport), ``code`` DRS's error code (bounded; "" when none)."""
        ...

    def slack_call(self, method: str, error: str | None) -> None:
        """One Slack Web API exchange, and Slack's error (or the transport's) if it failed."""
        ...

    def acked(self, kind: str, seconds: float) -> None:
        """A Slack request of ``kind`` was acknowledged ``seconds`` after it reached the bot."""
        ...

    def database_error(self, kind: str) -> None:
        """A database call failed: ``unavailable`` (busy, locked, full, unreachable) or
        ``error``."""
        ...


class NoMetrics:
    """Records nothing."""

    def decided(self, kind: str) -> None:
        pass

    def request_finished(self, project: str, state: str) -> None:
        pass

    def jobs(self, project: str, outcome: str, count: int) -> None:
        pass

    def drs_call(self, operation: str, outcome: str, code: str, seconds: float) -> None:
        pass

    def slack_call(self, method: str, error: str | None) -> None:
        pass

    def acked(self, kind: str, seconds: float) -> None:
        pass

    def database_error(self, kind: str) -> None:
        pass


def drs_code_label(code: str | None) -> str:
    """DRS's error code as a label value: as is when it has DRS's shape, else ``other``
    ("" for no code), so a hostile or broken answer cannot grow the label's values."""
    if not code:
        return ""
    return code if _DRS_CODE.fullmatch(code) else OTHER


def record_decision(
    metrics: Metrics, target: RequestState, won: bool, req: StartRequest | None
) -> None:
    """Count a decision that won; a rejected, cancelled or expired request is final."""
    if not won:
        return
    metrics.decided(target.value)
    if req is not None and target in FINAL_STATES:
        metrics.request_finished(req.project, target.value)


# A job's outcome as the jobs counter names it.
_JOB_OUTCOMES = {"success": "started", "failed": "failed", "unknown": "unknown"}


def record_outcome(metrics: Metrics, req: StartRequest, start: Start) -> None:
    """Count a start's outcome once it is shown: its jobs by outcome, and the request's state
    when that is final."""
    sent = set(start.job_ids)
    counts: dict[str, int] = {}
    for job in req.jobs:
        if job.job_id in sent and job.outcome is not None:
            label = _JOB_OUTCOMES.get(job.outcome.value, OTHER)
            counts[label] = counts.get(label, 0) + 1
    for outcome, count in counts.items():
        metrics.jobs(req.project, outcome, count)
    if req.state in FINAL_STATES:
        metrics.request_finished(req.project, req.state.value)

"""When to ask DRS again about a started request: the follow-up's pace.

A state change shows in the thread no later than the next round after it, so the gap between
rounds is what a person waits. The gap is short when something is likely to happen and long
when nothing is:

* right after a start, and right after a round that saw DRS move a job, the gap is ``first``
  (2 s), doubling from there (2, 4, 8 ...) up to the configured ``interval``;
* during the ``early`` window after a start (the first two minutes, when DRS moves a task
  from ``STARTJOBING`` on), the gap is at most ``early_gap``;
* a request scheduled for later is asked ``first`` seconds after its scheduled time, and the
  early window starts again at that time;
* every gap is at least what the ``budget`` allows: a round costs one batch-status call per
  :data:`STATUS_PAGE` jobs, and a request makes at most ``budget`` such calls in any minute
  (a round that alone costs more than the budget is spread over as many minutes as it needs).

Pure arithmetic: the service passes the times, the store keeps them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STATUS_PAGE = 100
"""Jobs one batch-status call asks about (DRS's largest ``per_page``)."""

MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Pace:
    """The follow-up's timing knobs (seconds; ``budget`` in calls per request per minute)."""

    interval: float = 30.0  # the longest gap
    first: float = 2.0  # the gap right after a start or a transition
    early: float = 120.0  # how long after a start the gap stays short ...
    early_gap: float = 5.0  # ... at most this
    budget: int | None = None  # None: no limit

    def __post_init__(self) -> None:
        assert self.interval > 0 and self.first > 0 and self.early_gap > 0, self
        assert self.budget is None or self.budget >= 1, self


def status_calls(jobs: int) -> int:
    """The batch-status calls one round makes for ``jobs`` distinct jobs."""
    return math.ceil(jobs / STATUS_PAGE) if jobs > 0 else 0


def budget_gap(calls: int, budget: int | None) -> float:
    """The shortest gap before a round of ``calls`` calls that keeps every minute within
    ``budget``: with ``k = budget // calls`` rounds a minute, ``60 / k`` seconds (at most
    ``k`` such rounds fit in any minute); a round costing more than the budget alone waits
    ``60 * calls / budget``."""
    if budget is None or calls <= 0:
        return 0.0
    rounds = budget // calls
    if rounds >= 1:
        return MINUTE / rounds
    return MINUTE * calls / budget


def first_delay(pace: Pace, *, scheduled_in: float | None = None) -> float:
    """The delay from a start (its outcome recorded) to the follow-up's first round."""
    return next_delay(pace, since_start=0.0, since_change=None, scheduled_in=scheduled_in, calls=0)


def next_delay(
    pace: Pace,
    *,
    since_start: float,
    since_change: float | None,
    scheduled_in: float | None,
    calls: int,
) -> float:
    """Seconds from now to the next round.

    ``since_start``: seconds since the start was sent; ``since_change``: since a round last
    saw DRS move a job (None: never); ``scheduled_in``: seconds until the request's scheduled
    start (negative once passed; None: not scheduled); ``calls``: DRS status calls the next
    round makes (0 for the first round after a start, which follows no status call).
    """
    since_start = max(0.0, since_start)
    if scheduled_in is not None and scheduled_in <= 0:
        # The scheduled time is the start that counts: DRS moves the jobs on from then.
        since_start = min(since_start, -scheduled_in)
    age = since_start if since_change is None else min(since_start, max(0.0, since_change))
    delay = min(max(pace.first, age), pace.interval)
    if since_start < pace.early:
        delay = min(delay, pace.early_gap)
    if scheduled_in is not None and scheduled_in > 0:
        delay = min(delay, scheduled_in + pace.first)
    return max(delay, budget_gap(calls, pace.budget))

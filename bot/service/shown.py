"""The requests this process's approve and reject forms show, kept for their submissions.

When an approver clicks Approve or Reject, the bot reads the request, checks the approver and
opens the form. The form's submission is checked again (the approver may have lost the right
meanwhile), but what that check reads of the request cannot have changed while the request is
pending: its project, requester, kind of approval, schedule and expiry are fixed when it is
made, and a decision is taken on a pending request only. What can change (its state, and the
jobs' prechecks under ``require``) is checked by the decision's own conditional update in the
store, under the row's lock (:class:`bot.service.ports.Verdict`). So a submission answered by
the process that opened its form decides from the request as the form showed it, and reads
nothing before the decision; one that reaches another replica, or comes after the form was
forgotten, reads the store as before.

Why: under a burst of submissions every wait on the event loop lasts as long as the rest of
the burst's ready work, and on PostgreSQL each read is such a wait. Reading the request and
its prechecks before deciding made three waits per approval; this makes one (the prechecks
went into the decision's condition, the request read is what this module saves). Measured
(bench/README.md, "PostgreSQL: fewer waits per answer"): the median answer to fifty
simultaneous approve submissions on PostgreSQL came down in four runs of five (60–86 ms
against 59–92 ms), the 99th percentile not measurably.

Safe only while nothing changes a pending request's project, requester, kind of approval,
schedule or expiry: a feature that edits a pending request must forget it here.

Bounded: at most :data:`MAX_FORMS` forms and :data:`MAX_JOBS` jobs in all (the oldest form
forgotten first), each for :data:`KEEP_SECONDS`, whatever people click.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from bot.core.request import StartRequest

KEEP_SECONDS = 15 * 60.0
"""How long a form's request is kept: an approver who takes longer is answered by a read."""

MAX_FORMS = 1_000
"""Forms kept at once."""

MAX_JOBS = 20_000
"""Jobs kept in all, over every form."""


class ShownRequests:
    """Request id -> the request as its decision form showed it, with when it was shown."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        keep_seconds: float = KEEP_SECONDS,
        max_forms: int = MAX_FORMS,
        max_jobs: int = MAX_JOBS,
    ) -> None:
        self._clock = clock
        self._keep = keep_seconds
        self._max_forms = max_forms
        self._max_jobs = max_jobs
        self._shown: OrderedDict[str, tuple[float, StartRequest]] = OrderedDict()
        self._jobs = 0

    def keep(self, req: StartRequest) -> None:
        """``req`` was just shown in a form (only a pending one is worth keeping)."""
        self.forget(req.id)
        if not req.state.is_open or _weight(req) > self._max_jobs:
            return
        self._shown[req.id] = (self._clock(), req)
        self._jobs += _weight(req)
        while self._jobs > self._max_jobs or len(self._shown) > self._max_forms:
            _, (_, oldest) = self._shown.popitem(last=False)
            self._jobs -= _weight(oldest)

    def get(self, request_id: str) -> StartRequest | None:
        """The request as its form showed it, if shown here within :data:`KEEP_SECONDS`."""
        found = self._shown.get(request_id)
        if found is None:
            return None
        at, req = found
        if self._clock() - at > self._keep:
            self.forget(request_id)
            return None
        return req

    def forget(self, request_id: str) -> None:
        """The request was decided (or its form is stale): no submission may use it."""
        found = self._shown.pop(request_id, None)
        if found is not None:
            self._jobs -= _weight(found[1])

    def __len__(self) -> int:
        return len(self._shown)


def _weight(req: StartRequest) -> int:
    return len(req.jobs)

"""In-memory fakes of the service's ports (:mod:`bot.service.ports`), for use-case tests that
run in milliseconds: no database file, no HTTP, no socket.

* :class:`FakeStore` keeps requests, starts and the audit trail in dicts and makes every
  state change the way :mod:`bot.store.sqlite` does: a conditional update whose ``WHERE state``
  comes from :mod:`bot.core.request`'s tables (:func:`~bot.core.request.comes_from`,
  :func:`~bot.core.request.start_comes_from`), leases on sent starts, and the merge of DRS's
  late answer into an attempt a takeover recorded; the decisions both real stores share (a
  request's state from its jobs, the merge rule, a decision's audit) are
  :mod:`bot.store.records`' own. ``tests/service/test_fake_store.py`` runs
  the same calls on both and compares what they hold.
  Each call yields to the event loop once before its "transaction" (as the real store's
  thread hop does), then runs without yielding: concurrent calls interleave between calls,
  never inside one.
* :class:`FakeNotifier` records what would be shown; :class:`FakeDirectory` answers group
  membership; :class:`FakeDrs` answers from dicts the test fills. Each can be told to fail.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.model import (
    CallFailure,
    CallRecord,
    DrsCallError,
    JobInfo,
    JobResult,
    Outcome,
    StartReport,
)
from bot.core.precheck import JobPrecheck, PrecheckMode, PrecheckState, not_passed
from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    Start,
    StartRequest,
    StartState,
    comes_from,
    start_comes_from,
)
from bot.service.ports import (
    Cursor,
    Decision,
    Note,
    Notice,
    OutcomeView,
    PostTurn,
    Recorded,
    RequestView,
    StoreUnavailable,
    Verdict,
)
from bot.store.records import (
    DECIDED,
    OPEN_STATES,
    clears_start_time,
    decision_detail,
    may_post,
    merge_adds_order,
    merge_settles,
    request_state_from,
)

# -- the store ----------------------------------------------------------------------------------


@dataclass
class _Row:
    """One request as the real store's ``requests`` row holds it (with its jobs)."""

    req: StartRequest
    jobs: list[RequestJob]
    followup_next_at: float | None = None
    followup_deadline: float | None = None
    followup_changed_at: float | None = None
    settled_notified: bool = False
    message_stale: bool = False
    owner: str | None = None


@dataclass
class FakeStore:
    """:class:`bot.service.ports.Store` in dicts.

    ``broken`` maps a method name to the exception that method raises (before changing
    anything) while it is there; ``calls`` lists every method called, in order.
    """

    rows: dict[str, _Row] = field(default_factory=dict)
    starts: dict[tuple[str, int], Start] = field(default_factory=dict)
    audit_log: list[AuditEvent] = field(default_factory=list)
    broken: dict[str, Exception] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    alive: dict[str, float] = field(default_factory=dict)  # the replicas table
    precheck_rows: dict[str, dict[str, JobPrecheck]] = field(default_factory=dict)
    precheck_polls: dict[str, tuple[str, float]] = field(default_factory=dict)  # owner, until
    home_pages: dict[str, tuple[str, float]] = field(default_factory=dict)  # page, until

    async def _enter(self, method: str) -> None:
        self.calls.append(method)
        await asyncio.sleep(0)  # the real store hops to its thread: let others run first
        exc = self.broken.get(method)
        if exc is not None:
            raise exc

    # -- helpers, each the fake's twin of a statement of the real store

    def _view(self, row: _Row) -> StartRequest:
        return replace(row.req, jobs=tuple(row.jobs))

    def _set(self, row: _Row, **changes: Any) -> None:
        row.req = replace(row.req, **changes)

    def _record(
        self,
        request_id: str,
        at: float,
        actor: str | None,
        kind: AuditKind,
        detail: dict[str, object],
    ) -> None:
        # The real store keeps the detail as JSON: the same round trip here gives the same
        # shapes back (tuples as lists, enums as their values).
        kept = json.loads(json.dumps(detail, sort_keys=True, default=str))
        self.audit_log.append(AuditEvent(request_id, at, actor, kind, kept))

    def _update_jobs(
        self, row: _Row, job_id: str, where: Callable[[RequestJob], bool], **changes: Any
    ) -> int:
        """UPDATE request_jobs SET ... WHERE job_id = ? AND where(job): the rows changed."""
        n = 0
        for i, job in enumerate(row.jobs):
            if job.job_id == job_id and where(job):
                row.jobs[i] = replace(job, **changes)
                n += 1
        return n

    def _settle(
        self,
        row: _Row,
        r: JobResult,
        where: Callable[[RequestJob], bool],
        drs_status: str | None = None,
    ) -> int:
        """UPDATE request_jobs SET outcome, errors, order_id = COALESCE(?, order_id),
        drs_status = COALESCE(?, drs_status) WHERE job_id = ? AND where(job): the rows changed."""
        n = 0
        for i, job in enumerate(row.jobs):
            if job.job_id == r.job_id and where(job):
                row.jobs[i] = replace(
                    job,
                    outcome=r.outcome,
                    error_code=r.error_code,
                    error_msg=r.error_msg,
                    order_id=r.order_id if r.order_id is not None else job.order_id,
                    drs_status=drs_status if drs_status is not None else job.drs_status,
                )
                n += 1
        return n

    def _restate(self, row: _Row) -> RequestState:
        """The request's state from its jobs' outcomes, set where the core's table allows."""
        state = request_state_from([j.outcome for j in row.jobs])
        if row.req.state in comes_from(state):
            self._set(row, state=state)
        return state

    def _new_start(
        self,
        request_id: str,
        attempt: int,
        job_ids: Sequence[str],
        actor: str | None,
        now: float,
        owner: str | None = None,
    ) -> None:
        key = (request_id, attempt)
        if key in self.starts:
            raise StoreUnavailable("UNIQUE constraint failed: starts.request_id, starts.attempt")
        self.starts[key] = Start(
            request_id=request_id,
            attempt=attempt,
            state=StartState.CLAIMED,
            job_ids=tuple(job_ids),
            actor=actor,
            created_at=now,
            sent_at=None,
            outcome_ts=None,
            lease_owner=owner,
        )

    def _move_start(
        self, request_id: str, attempt: int, target: StartState, **changes: Any
    ) -> bool:
        """UPDATE starts SET state = target ... WHERE state = <the one state before target>."""
        start = self.starts.get((request_id, attempt))
        if start is None or start.state is not start_comes_from(target):
            return False
        self.starts[(request_id, attempt)] = replace(start, state=target, **changes)
        return True

    # -- requests

    async def insert_request(
        self,
        req: StartRequest,
        *,
        actor: str,
        detail: dict[str, object],
        within: float | None = None,
        owner: str | None = None,
    ) -> None:
        await self._enter("insert_request")
        if req.id in self.rows:
            raise StoreUnavailable("UNIQUE constraint failed: requests.id")
        self.rows[req.id] = _Row(req=replace(req, jobs=()), jobs=list(req.jobs), owner=owner)
        self._record(req.id, req.created_at, actor, AuditKind.REQUESTED, detail)

    async def decide(self, verdict: Verdict, *, within: float | None = None) -> Decision:
        await self._enter("decide")
        v = verdict
        row = self.rows.get(v.request_id)
        if row is None:
            return Decision(won=False, request=None)
        (source,) = comes_from(v.target)  # a decision is taken on a pending request only
        won = row.req.state is source and (not v.require_unexpired or row.req.expires_at > v.now)
        if v.require_prechecks:
            stored = self.precheck_rows.get(v.request_id, {})
            won = won and not not_passed([j.job_id for j in row.jobs], stored)
        if won:
            self._set(
                row,
                state=v.target,
                decided_by=v.actor,
                decided_at=v.now,
                decision_comment=v.comment,
            )
            row.message_stale = True
            detail = decision_detail(v, row.req.start_time_ms)
            if clears_start_time(v):
                self._set(row, start_time_ms=None)
            self._record(v.request_id, v.now, v.actor, DECIDED[v.target], detail)
            if v.target is RequestState.APPROVED:
                job_ids = [j.job_id for j in row.jobs]
                self._new_start(v.request_id, 1, job_ids, v.actor, v.now, v.owner)
        return Decision(won=won, request=self._view(row))

    async def get(self, request_id: str) -> StartRequest | None:
        await self._enter("get")
        row = self.rows.get(request_id)
        return self._view(row) if row else None

    async def recent(self, channel_id: str, *, limit: int = 10) -> list[StartRequest]:
        await self._enter("recent")
        mine = [r for r in self.rows.values() if r.req.channel_id == channel_id]
        mine.sort(key=lambda r: r.req.id)
        mine.sort(key=lambda r: r.req.created_at, reverse=True)
        return [self._view(r) for r in mine[:limit]]

    async def events(self, request_id: str) -> list[AuditEvent]:
        await self._enter("events")
        return [copy.deepcopy(e) for e in self.audit_log if e.request_id == request_id]

    async def audit(
        self,
        request_id: str,
        kind: AuditKind,
        *,
        actor: str | None,
        now: float,
        detail: dict[str, object] | None = None,
    ) -> None:
        await self._enter("audit")
        self._record(request_id, now, actor, kind, detail or {})

    async def save_prechecks(self, request_id: str, prechecks: Sequence[JobPrecheck]) -> None:
        await self._enter("save_prechecks")
        rows = self.precheck_rows.setdefault(request_id, {})
        for p in prechecks:
            if p.job_id not in rows or p.read_at >= rows[p.job_id].read_at:
                rows[p.job_id] = p

    async def prechecks(self, request_id: str) -> dict[str, JobPrecheck]:
        await self._enter("prechecks")
        return dict(sorted(self.precheck_rows.get(request_id, {}).items()))

    async def unwatched_prechecks(self, read_before: float) -> list[str]:
        await self._enter("unwatched_prechecks")
        found = []
        for rid, rows in sorted(self.precheck_rows.items()):
            running = [p.read_at for p in rows.values() if p.state is PrecheckState.RUNNING]
            row = self.rows.get(rid)
            if running and max(running) < read_before and row and row.req.state.is_open:
                found.append(rid)
        return found

    async def claim_precheck_poll(
        self, request_id: str, *, owner: str, now: float, until: float
    ) -> bool:
        await self._enter("claim_precheck_poll")
        held = self.precheck_polls.get(request_id)
        if held is not None and held[1] > now:
            return False
        self.precheck_polls[request_id] = (owner, until)
        return True

    async def home_page(self, user: str, *, now: float) -> str | None:
        await self._enter("home_page")
        page, until = self.home_pages.get(user, ("", now))
        return page if until > now else None

    async def keep_home_page(
        self, user: str, page: str | None, *, now: float, until: float
    ) -> None:
        await self._enter("keep_home_page")
        kept = {u: held for u, held in self.home_pages.items() if held[1] > now and u != user}
        if page:
            kept[user] = (page, until)
        self.home_pages = kept

    async def set_jobs_info(self, request_id: str, jobs: Sequence[RequestJob]) -> None:
        await self._enter("set_jobs_info")
        row = self.rows.get(request_id)
        if row is None:
            return
        for j in jobs:
            self._update_jobs(
                row,
                j.job_id,
                lambda _: True,
                name=j.name,
                status_at_request=j.status_at_request,
                prepaid=j.prepaid,
                error_code=j.error_code,
                error_msg=j.error_msg,
            )

    async def set_message_ts(self, request_id: str, ts: str) -> None:
        await self._enter("set_message_ts")
        row = self.rows.get(request_id)
        if row is not None and row.req.message_ts is None:
            self._set(row, message_ts=ts)

    async def begin_message_post(
        self, request_id: str, now: float, *, owner: str, alive_until: float
    ) -> PostTurn:
        await self._enter("begin_message_post")
        self.alive[owner] = alive_until
        row = self.rows.get(request_id)
        if row is None or row.req.message_ts is not None:
            return PostTurn(False, row.req.message_posting_at if row else None)
        earlier = row.req.message_posting_at
        holder = row.owner
        if not may_post(holder, self.alive.get(holder) if holder else None, owner, now):
            return PostTurn(False, earlier)
        row.owner = owner
        if earlier is None:
            self._set(row, message_posting_at=now)
        return PostTurn(True, earlier)

    async def overlapping(self, request_id: str) -> dict[str, int]:
        await self._enter("overlapping")
        row = self.rows.get(request_id)
        if row is None:
            return {}
        out: dict[str, int] = {}
        for mine in row.jobs:
            for other_id, other in self.rows.items():
                if other_id == request_id or other.req.state not in OPEN_STATES:
                    continue
                n = sum(1 for j in other.jobs if j.job_id == mine.job_id)
                if n:
                    out[other_id] = out.get(other_id, 0) + n
        return out

    async def lose_channel(self, request_id: str, error: str, *, now: float) -> bool:
        await self._enter("lose_channel")
        row = self.rows.get(request_id)
        if row is None or row.req.channel_problem is not None:
            return False
        self._set(row, channel_problem=error)
        row.message_stale = False
        self._record(request_id, now, None, AuditKind.CHANNEL_LOST, {"error": error})
        return True

    async def mark_message_stale(self, request_id: str, stale: bool) -> None:
        await self._enter("mark_message_stale")
        row = self.rows.get(request_id)
        if row is not None:
            row.message_stale = stale

    # -- starts

    async def start(self, request_id: str, attempt: int) -> Start | None:
        await self._enter("start")
        return self.starts.get((request_id, attempt))

    async def last_attempt(self, request_id: str) -> int:
        await self._enter("last_attempt")
        return max((a for (r, a) in self.starts if r == request_id), default=0)

    async def claim_retry(
        self,
        request_id: str,
        job_ids: Sequence[str],
        *,
        actor: str,
        now: float,
        owner: str | None = None,
    ) -> Start | None:
        await self._enter("claim_retry")
        mine = [s for (r, _), s in self.starts.items() if r == request_id]
        if any(s.state in (StartState.CLAIMED, StartState.SENT) for s in mine):
            return None
        attempt = max((s.attempt for s in mine), default=0) + 1
        self._new_start(request_id, attempt, job_ids, actor, now, owner)
        self._record(request_id, now, actor, AuditKind.RETRY, {"jobs": len(job_ids)})
        return self.starts[(request_id, attempt)]

    async def mark_sent(
        self, request_id: str, attempt: int, *, now: float, owner: str, lease: float
    ) -> bool:
        await self._enter("mark_sent")
        won = self._move_start(
            request_id,
            attempt,
            StartState.SENT,
            sent_at=now,
            lease_owner=owner,
            lease_until=now + lease,
        )
        row = self.rows.get(request_id)
        if won and row is not None:
            if row.req.state in comes_from(RequestState.STARTING):
                self._set(row, state=RequestState.STARTING)
                row.message_stale = True
            for job_id in self.starts[(request_id, attempt)].job_ids:
                for i, job in enumerate(row.jobs):
                    if job.job_id == job_id:
                        row.jobs[i] = replace(job, attempts=job.attempts + 1)
        return won

    async def renew_lease(self, request_id: str, attempt: int, *, owner: str, until: float) -> bool:
        await self._enter("renew_lease")
        start = self.starts.get((request_id, attempt))
        if start is None or start.state is not StartState.SENT or start.lease_owner != owner:
            return False
        self.starts[(request_id, attempt)] = replace(start, lease_until=until)
        return True

    async def take_over(
        self, request_id: str, attempt: int, *, owner: str, now: float, lease: float
    ) -> bool:
        await self._enter("take_over")
        start = self.starts.get((request_id, attempt))
        if start is None or start.state is not StartState.SENT:
            return False
        # A start sent without a lease counts as leased for ``lease`` seconds after sending.
        until = start.lease_until
        if until is None and start.sent_at is not None:
            until = start.sent_at + lease
        if until is None or until > now:
            return False
        self.starts[(request_id, attempt)] = replace(
            start, lease_owner=owner, lease_until=now + lease
        )
        self._record(request_id, now, None, AuditKind.TAKEN_OVER, {"attempt": attempt})
        return True

    async def record_outcomes(
        self,
        request_id: str,
        attempt: int,
        results: Iterable[JobResult],
        *,
        now: float,
        calls: Sequence[dict[str, object]],
        drs_statuses: dict[str, str | None] | None = None,
        followup_interval: float,
        followup_max: float,
        recovered: bool = False,
    ) -> Recorded:
        await self._enter("record_outcomes")
        results = list(results)
        if not self._move_start(request_id, attempt, StartState.RECORDED):
            if recovered:
                return Recorded.IGNORED
            return self._merge_answer(request_id, attempt, results, calls, now)
        row = self.rows[request_id]
        for call in calls:
            self._record(request_id, now, None, AuditKind.DRS_CALL, dict(call))
        statuses = drs_statuses or {}
        for r in results:
            self._settle(row, r, lambda j: True, drs_status=statuses.get(r.job_id))
        state = self._restate(row)
        row.message_stale = True
        self._set(row, followup_done=False)
        row.followup_next_at = now + followup_interval
        row.followup_deadline = now + followup_max
        kind = AuditKind.RECOVERED if recovered else AuditKind.OUTCOME
        self._record(request_id, now, None, kind, {"attempt": attempt, "state": state})
        return Recorded.RECORDED

    def _merge_answer(
        self,
        request_id: str,
        attempt: int,
        results: Sequence[JobResult],
        calls: Sequence[dict[str, object]],
        now: float,
    ) -> Recorded:
        """DRS's own answer to an attempt a takeover recorded already: it settles jobs still
        without a seen outcome (never a seen one), and adds order IDs to seen successes."""
        start = self.starts.get((request_id, attempt))
        if start is None or start.state not in (StartState.RECORDED, StartState.POSTED):
            return Recorded.IGNORED
        row = self.rows[request_id]
        for call in calls:
            self._record(request_id, now, None, AuditKind.DRS_CALL, dict(call))
        settled = 0
        for r in results:
            if merge_settles(r):
                settled += self._settle(row, r, lambda j: j.outcome in (None, Outcome.UNKNOWN))
            if merge_adds_order(r):
                self._update_jobs(
                    row,
                    r.job_id,
                    lambda j: j.order_id is None and j.outcome is Outcome.SUCCESS,
                    order_id=r.order_id,
                )
        state = self._restate(row)
        row.message_stale = True
        detail = {"attempt": attempt, "settled": settled, "state": state}
        self._record(request_id, now, None, AuditKind.MERGED, detail)
        return Recorded.MERGED

    async def begin_outcome_post(
        self, request_id: str, attempt: int, now: float, *, owner: str, alive_until: float
    ) -> PostTurn:
        await self._enter("begin_outcome_post")
        self.alive[owner] = alive_until
        start = self.starts.get((request_id, attempt))
        if start is None or start.state is not StartState.RECORDED:
            return PostTurn(False, start.outcome_posting_at if start else None)
        holder = start.lease_owner
        if not may_post(holder, self.alive.get(holder) if holder else None, owner, now):
            return PostTurn(False, start.outcome_posting_at)
        posting_at = start.outcome_posting_at if start.outcome_posting_at is not None else now
        self.starts[(request_id, attempt)] = replace(
            start, outcome_posting_at=posting_at, lease_owner=owner
        )
        return PostTurn(True, start.outcome_posting_at)

    async def mark_posted(self, request_id: str, attempt: int, outcome_ts: str | None) -> bool:
        await self._enter("mark_posted")
        won = self._move_start(request_id, attempt, StartState.POSTED, outcome_ts=outcome_ts)
        if won and outcome_ts is not None:
            self._set(self.rows[request_id], outcome_ts=outcome_ts)
        return won

    # -- follow-up

    async def claim_followup(self, request_id: str, *, now: float, lease: float) -> bool:
        await self._enter("claim_followup")
        row = self.rows.get(request_id)
        if (
            row is None
            or row.req.followup_done
            or row.followup_next_at is None
            or row.followup_next_at > now
        ):
            return False
        row.followup_next_at = now + lease
        return True

    async def schedule_followup(
        self,
        request_id: str,
        *,
        next_at: float | None,
        deadline: float | None = None,
        changed_at: float | None = None,
    ) -> None:
        await self._enter("schedule_followup")
        row = self.rows.get(request_id)
        if row is None:
            return
        if next_at is None:
            self._set(row, followup_done=True)
            row.followup_next_at = None
        else:
            row.followup_next_at = next_at
            if deadline is not None:
                row.followup_deadline = deadline
            if changed_at is not None:
                row.followup_changed_at = changed_at

    async def followup_deadline(self, request_id: str) -> float | None:
        await self._enter("followup_deadline")
        row = self.rows.get(request_id)
        return row.followup_deadline if row else None

    async def followup_changed_at(self, request_id: str) -> float | None:
        await self._enter("followup_changed_at")
        row = self.rows.get(request_id)
        return row.followup_changed_at if row else None

    async def update_drs_statuses(self, request_id: str, statuses: dict[str, str | None]) -> None:
        await self._enter("update_drs_statuses")
        row = self.rows.get(request_id)
        if row is None:
            return
        for job_id, status in statuses.items():
            if status is not None:
                self._update_jobs(row, job_id, lambda _: True, drs_status=status)

    async def confirm_outcomes(self, request_id: str, confirmed: dict[str, Outcome]) -> None:
        await self._enter("confirm_outcomes")
        row = self.rows.get(request_id)
        if row is None:
            return
        for job_id, outcome in confirmed.items():
            self._update_jobs(row, job_id, lambda j: j.outcome is Outcome.UNKNOWN, outcome=outcome)
        if self._restate(row) is not RequestState.UNKNOWN:
            row.message_stale = True

    async def fail_started(
        self, request_id: str, failures: dict[str, tuple[str, str | None]], *, now: float
    ) -> list[str]:
        await self._enter("fail_started")
        row = self.rows.get(request_id)
        if row is None:
            return []
        changed: list[str] = []
        for job_id, (code, reason) in failures.items():
            if self._update_jobs(
                row,
                job_id,
                lambda j: j.outcome in (Outcome.SUCCESS, Outcome.UNKNOWN),
                outcome=Outcome.FAILED,
                error_code=code,
                error_msg=reason,
            ):
                changed.append(job_id)
        if changed:
            state = self._restate(row)
            row.message_stale = True
            detail = {"jobs": len(changed), "job_ids": changed, "state": state}
            self._record(request_id, now, None, AuditKind.START_FAILED, detail)
        seq = {j.job_id: i for i, j in enumerate(row.jobs)}
        return sorted(changed, key=lambda job: seq.get(job, 0))

    async def claim_settled_notice(self, request_id: str) -> bool:
        await self._enter("claim_settled_notice")
        row = self.rows.get(request_id)
        if row is None or row.settled_notified:
            return False
        row.settled_notified = True
        return True

    # -- what maintenance looks for

    async def expired_pending(self, now: float) -> list[str]:
        await self._enter("expired_pending")
        return [
            rid
            for rid, r in self.rows.items()
            if r.req.state is RequestState.PENDING and r.req.expires_at <= now
        ]

    async def unconfirmed(self, created_before: float, *, now: float | None = None) -> list[str]:
        await self._enter("unconfirmed")
        gone = set() if now is None else {r.owner for r in self.rows.values()}
        gone -= {o for o, until in self.alive.items() if now is not None and until > now}
        gone.discard(None)
        return [
            rid
            for rid, r in self.rows.items()
            if r.req.state is RequestState.PENDING
            and (r.req.created_at <= created_before or r.owner in gone)
            and (r.req.message_ts is None or r.req.approval is Approval.NONE)
        ]

    async def keep_alive(self, owner: str, *, now: float, until: float) -> None:
        await self._enter("keep_alive")
        self.alive[owner] = until

    async def live_owners(self, now: float) -> frozenset[str]:
        await self._enter("live_owners")
        return frozenset(o for o, until in self.alive.items() if until > now)

    async def starts_in(self, *states: StartState) -> list[Start]:
        await self._enter("starts_in")
        found = [s for s in self.starts.values() if s.state in states]
        return sorted(found, key=lambda s: s.created_at)

    async def stale_messages(self) -> list[str]:
        await self._enter("stale_messages")
        return [
            rid for rid, r in self.rows.items() if r.message_stale and r.req.message_ts is not None
        ]

    async def due_followups(self, now: float) -> list[str]:
        await self._enter("due_followups")
        due = [
            (r.followup_next_at, rid)
            for rid, r in self.rows.items()
            if not r.req.followup_done
            and r.followup_next_at is not None
            and r.followup_next_at <= now
            and (r.req.outcome_ts is not None or r.req.channel_problem is not None)
        ]
        return [rid for _, rid in sorted(due, key=lambda d: d[0])]

    # -- the App Home's reads: newest first, below a (created_at, id) cursor

    def _newest(
        self, keep: Callable[[_Row], bool], before: Cursor | None, limit: int
    ) -> list[StartRequest]:
        rows = [r for r in self.rows.values() if keep(r)]
        if before is not None:
            rows = [r for r in rows if (r.req.created_at, r.req.id) < before]
        rows.sort(key=lambda r: (r.req.created_at, r.req.id), reverse=True)
        return [self._view(r) for r in rows[: max(1, limit)]]

    async def pending_in(
        self, projects: Sequence[str], *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]:
        await self._enter("pending_in")
        wanted = set(projects)
        return self._newest(
            lambda r: r.req.state is RequestState.PENDING and r.req.project in wanted,
            before,
            limit,
        )

    async def requested_by(
        self, user: str, *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]:
        await self._enter("requested_by")
        return self._newest(lambda r: r.req.requester_id == user, before, limit)

    async def following(
        self,
        projects: Sequence[str],
        *,
        requester: str,
        before: Cursor | None = None,
        limit: int = 20,
    ) -> list[StartRequest]:
        await self._enter("following")
        wanted = set(projects)
        return self._newest(
            lambda r: (
                not r.req.followup_done
                and r.followup_next_at is not None
                and (r.req.requester_id == requester or r.req.project in wanted)
            ),
            before,
            limit,
        )

    # -- for tests: what the real store's columns hold that the port does not show

    def is_stale(self, request_id: str) -> bool:
        return self.rows[request_id].message_stale

    def followup_next_at(self, request_id: str) -> float | None:
        return self.rows[request_id].followup_next_at

    def kinds(self, request_id: str) -> list[AuditKind]:
        return [e.kind for e in self.audit_log if e.request_id == request_id]


# -- showing things to people -------------------------------------------------------------------


class _Faults:
    """Exceptions a fake raises on demand: ``fail(method, exc)`` raises ``exc`` from
    ``method`` (``times`` times, or every time), optionally only for one request."""

    def __init__(self) -> None:
        self._faults: dict[str, list[list[Any]]] = defaultdict(list)

    def fail(
        self,
        method: str,
        exc: Exception,
        *,
        times: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self._faults[method].append([exc, times, request_id])

    def heal(self, method: str | None = None) -> None:
        if method is None:
            self._faults.clear()
        else:
            self._faults.pop(method, None)

    def _check(self, method: str, request_id: str | None = None) -> None:
        for fault in self._faults.get(method, []):
            exc, times, only = fault
            if only is not None and only != request_id:
                continue
            if times is not None:
                if times <= 0:
                    continue
                fault[1] = times - 1
            raise exc


@dataclass(frozen=True)
class Posted:
    req: StartRequest
    view: Any
    earlier: float | None
    ts: str


class FakeNotifier(_Faults):
    """:class:`bot.service.ports.Notifier` that records, per kind, what it was asked to show."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Posted] = []
        self.request_updates: list[tuple[StartRequest, RequestView]] = []
        self.job_lists: list[tuple[StartRequest, str]] = []
        self.outcomes: list[Posted] = []
        self.outcome_updates: list[tuple[StartRequest, OutcomeView]] = []
        self.notes: list[tuple[StartRequest, Note]] = []
        self.told: list[tuple[StartRequest, Notice]] = []
        self.calls: list[tuple[str, str]] = []  # (method, request id), failed calls too
        # While set and not yet released, outcome posts wait (counted) before Slack has them.
        self.outcome_hold: asyncio.Event | None = None
        self.outcomes_in_flight = 0
        self._ts = 0

    def _next_ts(self) -> str:
        self._ts += 1
        return f"1767225600.{self._ts:06d}"

    def _enter(self, method: str, req: StartRequest) -> None:
        self.calls.append((method, req.id))
        self._check(method, req.id)

    def _post(
        self, method: str, into: list[Posted], req: StartRequest, view: Any, earlier: float | None
    ) -> str:
        self._enter(method, req)
        posted = Posted(req, view, earlier, self._next_ts())
        into.append(posted)
        return posted.ts

    def _log(
        self, method: str, into: list[tuple[StartRequest, Any]], req: StartRequest, what: Any
    ) -> None:
        self._enter(method, req)
        into.append((req, what))

    async def post_request(
        self, req: StartRequest, view: RequestView, *, earlier: float | None
    ) -> str:
        return self._post("post_request", self.requests, req, view, earlier)

    async def update_request(self, req: StartRequest, view: RequestView) -> None:
        self._log("update_request", self.request_updates, req, view)

    async def attach_job_list(self, req: StartRequest, source: str) -> None:
        self._log("attach_job_list", self.job_lists, req, source)

    async def post_outcome(
        self, req: StartRequest, view: OutcomeView, *, earlier: float | None
    ) -> str:
        if self.outcome_hold is not None:  # Slack takes its time: the post is in flight
            self.outcomes_in_flight += 1
            await self.outcome_hold.wait()
        return self._post("post_outcome", self.outcomes, req, view, earlier)

    async def update_outcome(self, req: StartRequest, view: OutcomeView) -> None:
        self._log("update_outcome", self.outcome_updates, req, view)

    async def note(self, req: StartRequest, note: Note) -> None:
        self._log("note", self.notes, req, note)

    async def tell(self, req: StartRequest, notice: Notice) -> bool:
        self._log("tell", self.told, req, notice)
        return True

    def tries(self, method: str, request_id: str) -> int:
        """How often ``method`` was called for ``request_id``, failed calls included."""
        return self.calls.count((method, request_id))

    def notes_of(self, request_id: str) -> list[Note]:
        return [n for r, n in self.notes if r.id == request_id]

    def told_to(self, request_id: str) -> list[Notice]:
        return [n for r, n in self.told if r.id == request_id]

    def outcomes_of(self, request_id: str) -> list[Posted]:
        return [p for p in self.outcomes if p.req.id == request_id]


# -- people ---------------------------------------------------------------------------------------


class FakeDirectory:
    """:class:`bot.service.ports.Directory`: ``members[user]`` is the set of groups ``user``
    is in; a group in ``unreadable`` raises :class:`LookupError` when asked about."""

    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self.members: dict[str, set[str]] = {u: set(g) for u, g in (members or {}).items()}
        self.unreadable: set[str] = set()
        self.timezones: dict[str, str] = {}  # users.info's tz, by user
        self.tz_asked: list[str] = []

    async def tz_of(self, user: str) -> str | None:
        self.tz_asked.append(user)
        return self.timezones.get(user)

    async def groups_of(self, user: str, group_ids: Iterable[str]) -> frozenset[str]:
        asked = set(group_ids)
        bad = sorted(asked & self.unreadable)
        if bad:
            raise LookupError(f"could not read user group {bad[0]}")
        return frozenset(asked & self.members.get(user, set()))

    async def users_in(self, group_ids: Iterable[str]) -> frozenset[str]:
        asked = set(group_ids)
        bad = sorted(asked & self.unreadable)
        if bad:
            raise LookupError(f"could not read user group {bad[0]}")
        return frozenset(u for u, groups in self.members.items() if groups & asked)


# -- DRS ------------------------------------------------------------------------------------------


class FakeDrsError(DrsCallError):
    """A whole DRS call that failed, as the DRS client's own errors say it."""

    def __init__(self, failure: CallFailure) -> None:
        super().__init__(failure.message)
        self._failure = failure

    @property
    def failure(self) -> CallFailure:
        return self._failure


NOT_FOUND = "DRS.M05003"


class FakeDrs(_Faults):
    """:class:`bot.service.ports.Drs` answering from dicts.

    ``jobs`` is what batch-detail and batch-status show (a job not in it is unknown to DRS);
    ``answers`` is batch-starting's per-job answer (a job not in it: success). ``whole_call``
    makes batch-starting fail as a whole, the way the real client reports it (every job
    ``failed``, or ``unknown`` when the body may have been processed, and the failure on the
    call record). ``hold`` (an :class:`asyncio.Event`) keeps batch-starting waiting until set.
    ``fail("batch_start", exc)`` etc. makes a call raise.
    """

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, JobInfo] = {}
        self.answers: dict[str, JobResult] = {}
        self.whole_call: CallFailure | None = None
        self.hold: asyncio.Event | None = None
        self.started: list[tuple[tuple[str, ...], int | None, str]] = []
        self.status_calls: list[tuple[str, ...]] = []
        self.detail_calls: list[tuple[str, ...]] = []
        self.list_calls: list[dict[str, object]] = []
        # Each job's precheck as DRS shows it; a job not in it has passed.
        self.prechecks: dict[str, JobPrecheck] = {}
        self.precheck_reads: list[tuple[str, ...]] = []
        self.precheck_runs: list[tuple[tuple[str, PrecheckMode], ...]] = []

    def add(self, job_id: str, status: str | None = "CONFIGURATION", **kw: Any) -> None:
        name = kw.pop("name", f"task-{job_id}")
        self.jobs[job_id] = JobInfo(job_id, name=name, status=status, **kw)

    def set_status(self, job_id: str, status: str | None, **kw: Any) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], status=status, **kw)

    def _info(self, job_id: str) -> JobInfo:
        return self.jobs.get(job_id) or JobInfo(
            job_id, error_code=NOT_FOUND, error_msg="the job does not exist"
        )

    async def batch_start(
        self, job_ids: Sequence[str], *, start_time_ms: int | None, language: str
    ) -> StartReport:
        self.started.append((tuple(job_ids), start_time_ms, language))
        self._check("batch_start")
        if self.hold is not None:
            await self.hold.wait()
        failure = self.whole_call
        if failure is not None:
            outcome = Outcome.UNKNOWN if failure.maybe_processed else Outcome.FAILED
            results = tuple(
                JobResult(j, outcome, failure.error_code, failure.message) for j in job_ids
            )
            call = CallRecord(
                "batch-starting", len(job_ids), failure.http_status, failure.request_id, failure
            )
            return StartReport(results, (call,))
        results = tuple(self.answers.get(j, JobResult(j, Outcome.SUCCESS)) for j in job_ids)
        return StartReport(results, (CallRecord("batch-starting", len(job_ids), 200, "drs-1"),))

    async def batch_status(self, job_ids: Sequence[str]) -> list[JobInfo]:
        self.status_calls.append(tuple(job_ids))
        self._check("batch_status")
        return [self._info(j) for j in job_ids]

    async def batch_detail(self, job_ids: Sequence[str]) -> list[JobInfo]:
        self.detail_calls.append(tuple(job_ids))
        self._check("batch_detail")
        return [self._info(j) for j in job_ids]

    async def precheck_results(self, job_ids: Sequence[str]) -> list[JobPrecheck]:
        self.precheck_reads.append(tuple(job_ids))
        self._check("precheck_results")
        now = time.time()
        return [
            replace(self.prechecks.get(j) or JobPrecheck(j, PrecheckState.PASSED), read_at=now)
            for j in dict.fromkeys(job_ids)
        ]

    async def run_precheck(self, jobs: Sequence[tuple[str, PrecheckMode]]) -> list[JobPrecheck]:
        self.precheck_runs.append(tuple(jobs))
        self._check("run_precheck")
        for job_id, _ in jobs:
            self.prechecks[job_id] = JobPrecheck(job_id, PrecheckState.RUNNING)
        return [JobPrecheck(j, PrecheckState.RUNNING, read_at=time.time()) for j, _ in jobs]

    async def list_jobs(
        self,
        *,
        db_use_type: str,
        name: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo]:
        self.list_calls.append({"db_use_type": db_use_type, "name": name, "status": status})
        self._check("list_jobs")
        found = [
            i
            for i in self.jobs.values()
            if (i.db_use_type or "migration") == db_use_type
            and (name is None or (i.name or "").startswith(name))
            and (status is None or i.status == status)
        ]
        return found[:limit]

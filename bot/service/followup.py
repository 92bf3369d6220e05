"""Following DRS after a start until every job has settled.

One round (:meth:`FollowUp.round`) is claimed by a conditional update with a lease, so one
process at a time follows a request. It reads batch-status for the jobs that started or may
have, confirms ``unknown`` jobs DRS shows started, turns jobs whose task then failed into
failures with DRS's reason (and mentions the requester), keeps the outcome message in the
thread up to date, and mentions the requester once everything has settled.

Each round schedules the next by the pace of :mod:`bot.core.followup_schedule` (soon after a
start or a transition, around a scheduled start, never over the budget of DRS calls), and
:meth:`FollowUp.run` looks for due rounds every second, so a round runs on time rather than at
the next maintenance round; maintenance still runs due rounds too (the claim lets one win).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math

from bot.core.followup_schedule import budget_gap, next_delay, status_calls
from bot.core.model import DrsCallError, JobInfo, Outcome
from bot.core.policy import ProjectPolicy
from bot.core.request import AuditKind, StartRequest
from bot.core.status import Phase, is_settled, phase_of
from bot.service import logcontext
from bot.service.context import Context
from bot.service.outcomes import retry_opens_at
from bot.service.ports import FailedAfterStart, Settled, StoppedFollowing
from bot.service.records import started_phase
from bot.service.steps import Steps
from bot.service.work import WorkItems, stop_if_cancelled

log = logging.getLogger(__name__)

TICK = 1.0
"""At most this many seconds between looks for due rounds (:meth:`FollowUp.run`)."""


# Follow-up rounds in flight at once, per process: fewer than the DRS calls a process has in
# flight (bootstrap's DRS_IN_FLIGHT, 10), so polls never take every slot from the calls that
# post and start requests.
ROUNDS_AT_ONCE = 4


class FollowUp:
    def __init__(self, ctx: Context, steps: Steps) -> None:
        self.ctx = ctx
        self.steps = steps
        self.items = WorkItems(ctx.clock)

    async def run(self, every: float = TICK, *, at_once: int = ROUNDS_AT_ONCE) -> None:
        """Start each due round, ``every`` seconds apart (a background task). A round runs
        as a task of its own (a slow DRS answer holds up no other request), at most one per
        request and ``at_once`` in all at a time (the others wait for the next look, still
        due): the DRS calls a process may have in flight are shared with posting requests
        and starting them, which people wait for. A failing round is retried with backoff
        (:class:`WorkItems`)."""
        running: dict[str, asyncio.Task[bool]] = {}
        failing = 0
        try:
            while True:
                stop_if_cancelled()  # a cancellation something below swallowed: stop all the same
                try:
                    due = await self.ctx.store.due_followups(self.ctx.clock())
                except Exception as exc:
                    stop_if_cancelled(exc)
                    # Maintenance reports the database at length; one line here.
                    failing += 1
                    if failing == 1:
                        log.warning("looking for due follow-ups failed: %s", exc)
                    due = []
                else:
                    failing = 0
                for rid in due:
                    if len(running) >= at_once:
                        break
                    if rid in running:
                        continue
                    work = functools.partial(self.round, rid)
                    task = asyncio.create_task(
                        self.items.run(f"following up {rid}", work), name=f"follow-up {rid}"
                    )
                    running[rid] = task
                    task.add_done_callback(functools.partial(_forget, running, rid))
                await asyncio.sleep(every)
        finally:
            for task in running.values():
                task.cancel()

    async def round(self, request_id: str) -> None:
        """One polling round: refresh statuses, settle unknowns, update the outcome message."""
        ctx = self.ctx
        now = ctx.clock()
        interval = ctx.tuning.followup_interval
        if not await ctx.store.claim_followup(request_id, now=now, lease=max(interval, 5.0)):
            return
        req = await ctx.store.get(request_id)
        project = ctx.policy.project(req.project) if req else None
        if req is None or project is None:
            await ctx.store.schedule_followup(request_id, next_at=None)
            return
        logcontext.bind(request_id=request_id, project=req.project)
        watched = [j for j in req.jobs if j.outcome in (Outcome.SUCCESS, Outcome.UNKNOWN)]
        calls = status_calls(len({j.job_id for j in watched}))
        try:
            infos = await ctx.drs_for(project).batch_status([j.job_id for j in watched])
        except DrsCallError as exc:
            log.warning("follow-up of %s: batch-status failed: %s", request_id, exc)
            retry = max(interval, budget_gap(calls, ctx.tuning.followup_budget))
            await ctx.store.schedule_followup(request_id, next_at=now + retry)
            return
        statuses = {i.job_id: i.status for i in infos}
        before = {j.job_id: j.drs_status for j in req.jobs}
        await ctx.store.update_drs_statuses(request_id, statuses)
        confirmed = {
            j.job_id: Outcome.SUCCESS
            for j in watched
            if j.outcome is Outcome.UNKNOWN
            and started_phase(statuses.get(j.job_id))
            and not started_phase(j.status_at_request)
        }
        if confirmed:
            await ctx.store.confirm_outcomes(request_id, confirmed)
        failed = {i.job_id: i for i in infos if phase_of(i.status) is Phase.FAILED}
        newly_failed = await self._failed_after_start(req, project, failed) if failed else []
        opens = await retry_opens_at(ctx, request_id)
        # The round right after a takeover's settle time ended shows the Retry it now allows.
        retry_opened = opens is not None and now - interval <= opens <= now
        moved = any(before.get(k) != v for k, v in statuses.items())
        changed = moved or bool(confirmed) or bool(newly_failed) or retry_opened
        req = await ctx.store.get(request_id)
        assert req is not None
        if newly_failed:
            await self.steps.publishing.note(req, FailedAfterStart(tuple(newly_failed)))
        if changed and req.outcome_ts:
            await self.steps.update_outcome(req)
        if changed:
            # The request message shows DRS's statuses too; maintenance refreshes it.
            await ctx.store.mark_message_stale(request_id, True)
            ctx.changed(request_id)
        if all(is_settled(statuses.get(j.job_id)) for j in watched):
            await self._settled(
                req,
                waiting=any(phase_of(statuses.get(j.job_id)) is Phase.WAITING for j in watched),
                calls=calls,
            )
        elif now >= (await ctx.store.followup_deadline(request_id) or now):
            await ctx.store.schedule_followup(request_id, next_at=None)
            await self.steps.publishing.note(req, StoppedFollowing(ctx.tuning.followup_max))
            ctx.changed(request_id)
        else:
            delay = await self._next_delay(req, now, calls=calls, moved=moved)
            await ctx.store.schedule_followup(
                request_id, next_at=now + delay, changed_at=now if moved else None
            )

    async def _next_delay(self, req: StartRequest, now: float, *, calls: int, moved: bool) -> float:
        """The pace after this round (:func:`bot.core.followup_schedule.next_delay`)."""
        store = self.ctx.store
        start = await store.start(req.id, await store.last_attempt(req.id))
        sent = (start.sent_at or start.created_at) if start is not None else None
        changed_at = now if moved else await store.followup_changed_at(req.id)
        return next_delay(
            self.ctx.tuning.pace(),
            since_start=now - sent if sent is not None else math.inf,
            since_change=now - changed_at if changed_at is not None else None,
            scheduled_in=req.start_time_ms / 1000 - now if req.start_time_ms is not None else None,
            calls=calls,
        )

    async def _settled(self, req: StartRequest, *, waiting: bool, calls: int) -> None:
        ctx = self.ctx
        now = ctx.clock()
        if await ctx.store.claim_settled_notice(req.id):
            await self.steps.publishing.note(req, Settled())
        if waiting and req.start_time_ms is not None and req.start_time_ms / 1000 > now:
            # Follow the scheduled jobs again shortly after their time comes (DRS moves them
            # on then), within the budget.
            at = req.start_time_ms / 1000 + ctx.tuning.followup_first
            floor = now + budget_gap(calls, ctx.tuning.followup_budget)
            await ctx.store.schedule_followup(req.id, next_at=max(at, floor))
        else:
            await ctx.store.schedule_followup(req.id, next_at=None)
            await ctx.store.audit(req.id, AuditKind.FOLLOWUP, actor=None, now=now)
            ctx.changed(req.id)

    async def _failed_after_start(
        self, req: StartRequest, project: ProjectPolicy, failed: dict[str, JobInfo]
    ) -> list[str]:
        """Jobs DRS accepted (or may have) whose task then failed: their outcome turns to
        failed, with DRS's reason (batch-status's error message, else batch-detail's
        ``failed_reason``). The jobs whose outcome changed now."""
        reasons = {job: info.error_msg for job, info in failed.items()}
        unexplained = [job for job, reason in reasons.items() if not reason]
        if unexplained:
            try:
                details = await self.ctx.drs_for(project).batch_detail(unexplained)
            except DrsCallError as exc:
                log.warning("batch-detail of failed jobs of %s failed: %s", req.id, exc)
                details = []
            for info in details:
                reasons[info.job_id] = info.extra.get("failed_reason") or info.error_msg
        return await self.ctx.store.fail_started(
            req.id,
            {
                job: (info.error_code or info.status or "FAILED", reasons.get(job) or None)
                for job, info in failed.items()
            },
            now=self.ctx.clock(),
        )


def _forget(running: dict[str, asyncio.Task[bool]], rid: str, _task: asyncio.Task[bool]) -> None:
    running.pop(rid, None)

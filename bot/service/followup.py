"""Following DRS after a start until every job has settled.

One round (:meth:`FollowUp.round`) is claimed by a conditional update with a lease, so one
process at a time follows a request. It reads batch-status for the jobs that started or may
have, confirms ``unknown`` jobs DRS shows started, turns jobs whose task then failed into
failures with DRS's reason (and mentions the requester), keeps the outcome message in the
thread up to date, and mentions the requester once everything has settled.
"""

from __future__ import annotations

import logging

from bot.core.model import DrsCallError, JobInfo, Outcome
from bot.core.policy import ProjectPolicy
from bot.core.request import AuditKind, StartRequest
from bot.core.status import Phase, is_settled, phase_of
from bot.service.context import Context
from bot.service.outcomes import retry_opens_at
from bot.service.ports import FailedAfterStart, Settled, StoppedFollowing
from bot.service.records import started_phase
from bot.service.steps import Steps

log = logging.getLogger(__name__)


class FollowUp:
    def __init__(self, ctx: Context, steps: Steps) -> None:
        self.ctx = ctx
        self.steps = steps

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
        watched = [j for j in req.jobs if j.outcome in (Outcome.SUCCESS, Outcome.UNKNOWN)]
        try:
            infos = await ctx.drs_for(project).batch_status([j.job_id for j in watched])
        except DrsCallError as exc:
            log.warning("follow-up of %s: batch-status failed: %s", request_id, exc)
            await ctx.store.schedule_followup(request_id, next_at=now + interval)
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
        retry_opened = opens is not None and now - ctx.tuning.followup_interval <= opens <= now
        changed = (
            any(before.get(k) != v for k, v in statuses.items())
            or bool(confirmed)
            or bool(newly_failed)
            or retry_opened
        )
        req = await ctx.store.get(request_id)
        assert req is not None
        if newly_failed:
            await self.steps.publishing.note(req, FailedAfterStart(tuple(newly_failed)))
        if changed and req.outcome_ts:
            await self.steps.update_outcome(req)
        if changed:
            # The request message shows DRS's statuses too; maintenance refreshes it.
            await ctx.store.mark_message_stale(request_id, True)
        if all(is_settled(statuses.get(j.job_id)) for j in watched):
            await self._settled(
                req, waiting=any(phase_of(statuses.get(j.job_id)) is Phase.WAITING for j in watched)
            )
        elif now >= (await ctx.store.followup_deadline(request_id) or now):
            await ctx.store.schedule_followup(request_id, next_at=None)
            await self.steps.publishing.note(req, StoppedFollowing(ctx.tuning.followup_max))
        else:
            await ctx.store.schedule_followup(request_id, next_at=now + interval)

    async def _settled(self, req: StartRequest, *, waiting: bool) -> None:
        ctx = self.ctx
        now = ctx.clock()
        if await ctx.store.claim_settled_notice(req.id):
            await self.steps.publishing.note(req, Settled())
        if waiting and req.start_time_ms is not None and req.start_time_ms / 1000 > now:
            # Follow the scheduled jobs again when their time comes.
            await ctx.store.schedule_followup(
                req.id, next_at=req.start_time_ms / 1000 + ctx.tuning.followup_interval
            )
        else:
            await ctx.store.schedule_followup(req.id, next_at=None)
            await ctx.store.audit(req.id, AuditKind.FOLLOWUP, actor=None, now=now)

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

"""DRS's precheck around a request: read when the request is made, run from its message's
Run precheck button and polled until DRS has the results, checked before approval and read
again right before sending.

Guarantees, and the mechanism behind each:

* **No start without a passed precheck under ``require``.** Approval is refused while a job's
  stored precheck has not passed (:meth:`Prechecking.refusal`); right before sending, the
  jobs' prechecks are read again from DRS and a job whose precheck is not passed, or could not
  be read, is not sent but recorded failed with :data:`~bot.core.precheck.HELD_CODE` and the
  reason (:meth:`Prechecking.hold_back`).
* **A newer read is never undone by an older one.** The store's save is a conditional upsert on
  the read time.
* **Polling is isolated background work.** Each round is an item of
  :class:`~bot.service.work.WorkItems`: a failed DRS read is retried after its backoff, and one
  poll stops after :data:`POLL_FOR`, leaving the message as last read.
* **A poll outlives the process that began it.** A running precheck of a pending request that
  no one has read for :data:`UNWATCHED_AFTER` is polled again by the next maintenance round of
  any process (:meth:`Prechecking.resume`), so a replica that died mid-poll leaves no message
  stuck on "running"; a poll that stopped after :data:`POLL_FOR` is taken up the same way, so
  a running precheck is read again within :data:`UNWATCHED_AFTER` and a maintenance round
  while its request is pending. One process takes it up: the one whose claim of the poll
  (a lease of :data:`UNWATCHED_AFTER` in ``precheck_polls``, a conditional upsert) succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bot.core.model import JobResult, Outcome
from bot.core.policy import ProjectPolicy, membership
from bot.core.precheck import (
    HELD_CODE,
    PrecheckRule,
    PrecheckState,
    blocking,
    mode_for,
    running,
    stale_reason,
    to_run,
)
from bot.core.request import AuditKind, StartRequest
from bot.service.context import Context
from bot.service.model import Reply
from bot.service.publishing import Publishing
from bot.service.work import RetryLater, WorkItems

log = logging.getLogger(__name__)

POLL_FIRST = 1.0  # seconds before the first read after a precheck was started
POLL_MAX_GAP = 30.0  # the gap between reads doubles up to this
POLL_FOR = 1800.0  # one poll stops after this long (the message keeps the last read)
# A running precheck not read for this long has no poller (it died, or its poll stopped):
# maintenance polls it again (bot/service/recovery.py). Three of the longest gaps between reads.
UNWATCHED_AFTER = 3 * POLL_MAX_GAP
SHOWN_IN_REFUSAL = 5  # jobs named in an approver's refusal


class Prechecking:
    """Run precheck, its poll, the approval check and the check right before sending."""

    def __init__(self, ctx: Context, publishing: Publishing) -> None:
        self.ctx = ctx
        self.publishing = publishing
        self.items = WorkItems(ctx.clock, first_delay=POLL_FIRST, max_delay=POLL_MAX_GAP)
        self._polling: set[str] = set()

    async def refusal(self, req: StartRequest, project: ProjectPolicy) -> str | None:
        """Why approval is refused under ``require`` (jobs whose precheck has not passed, as
        stored), or None when it may go ahead."""
        if project.precheck is not PrecheckRule.REQUIRE:
            return None  # only ``require`` holds an approval: nothing to read
        stored = await self.ctx.store.prechecks(req.id)
        held = blocking(project.precheck, req.job_ids, stored)
        if not held:
            return None
        unread = [j for j in held if j not in stored]
        if len(unread) == len(held):  # none read (the rule was off when it was posted...)
            return (
                f"project {project.name} requires a passed DRS precheck before a start, and the "
                f"bot has no precheck result of {len(unread):,} of the {len(req.job_ids):,} "
                "jobs yet: press “Run precheck” on the request message (it reads DRS's results "
                "first, and runs a precheck only where none passed), then approve."
            )
        named = ", ".join(f"`{j}`" for j in held[:SHOWN_IN_REFUSAL])
        more = f" and {len(held) - SHOWN_IN_REFUSAL:,} more" if len(held) > SHOWN_IN_REFUSAL else ""
        return (
            f"project {project.name} requires a passed DRS precheck before a start, and "
            f"{len(held):,} of the {len(req.job_ids):,} jobs have not passed theirs: "
            f"{named}{more}. "
            "Press “Run precheck” on the request message, and approve once they pass."
        )

    async def run(self, request_id: str, user: str, channel: str) -> Reply:
        """Start DRS's precheck for the request's jobs that need one (a requester or approver
        of its project asks); the message updates as the results arrive."""
        ctx = self.ctx
        req = await ctx.store.get(request_id)
        if req is None:
            return Reply(False, "this request is not known to the bot")
        project = ctx.policy.project(req.project)
        if project is None:
            return Reply(False, f"project {req.project!r} is no longer configured", req)
        if user != req.requester_id:
            try:
                groups = await ctx.directory.groups_of(user, project.groups())
            except LookupError as exc:
                return Reply(False, str(exc), req)
            if membership(project, user, groups, channel) is None:
                return Reply(
                    False,
                    f"only the requester and the requesters and approvers of project "
                    f"{project.name} may run the precheck of its requests",
                    req,
                )
        if not req.state.is_open:
            return Reply(False, f"this request is already {req.state.value}", req)
        if project.precheck is PrecheckRule.OFF:
            return Reply(False, f"project {project.name} does not use DRS's precheck", req)
        # First what DRS has now: a precheck run elsewhere (the console) counts.
        stored = await ctx.store.prechecks(req.id)
        drs = ctx.drs_for(project)
        unsettled = to_run(req.job_ids, stored)
        if unsettled:
            await ctx.store.save_prechecks(req.id, await drs.precheck_results(unsettled))
            stored = await ctx.store.prechecks(req.id)
        needed = to_run(req.job_ids, stored)
        if needed:
            status = {j.job_id: j.status_at_request for j in req.jobs}
            begun = await drs.run_precheck([(j, mode_for(status.get(j))) for j in needed])
            await ctx.store.save_prechecks(req.id, begun)
            await ctx.store.audit(
                req.id,
                AuditKind.PRECHECK,
                actor=user,
                now=ctx.clock(),
                detail={
                    "jobs": len(needed),
                    "started": sum(1 for p in begun if p.state is PrecheckState.RUNNING),
                },
            )
        await self.publishing.refresh_message(req.id)
        self.follow(req.id)
        if not needed:
            return Reply(
                True, f"Every job of {req.id} has passed its precheck or is being checked."
            )
        return Reply(
            True,
            f"Started DRS's precheck for {len(needed):,} jobs of {req.id}; the message "
            "shows the results when they arrive.",
            req,
        )

    async def resume(self, request_id: str) -> None:
        """Poll again the running prechecks no process has read lately (maintenance): this
        process takes the poll up if it can claim it (one process at a time, for
        :data:`UNWATCHED_AFTER`; its reads then keep it watched), nothing when it polls them
        already."""
        if request_id in self._polling:
            return
        now = self.ctx.clock()
        claim = self.ctx.store.claim_precheck_poll
        if await claim(request_id, owner=self.ctx.owner, now=now, until=now + UNWATCHED_AFTER):
            self.follow(request_id)

    def follow(self, request_id: str) -> None:
        """Poll the running prechecks of a request in the background (once per request)."""
        if request_id in self._polling:
            return
        self._polling.add(request_id)
        self.ctx.tasks.spawn(self._poll(request_id), name=f"precheck {request_id}")

    async def _poll(self, request_id: str) -> None:
        ctx = self.ctx
        key = f"precheck {request_id}"
        gap = POLL_FIRST
        until = ctx.clock() + POLL_FOR
        try:
            while ctx.clock() < until:
                await asyncio.sleep(max(gap, (self.items.waiting(key) or 0) - ctx.clock()))
                gap = min(gap * 2, POLL_MAX_GAP)
                finished = False

                async def work() -> None:
                    nonlocal finished
                    finished = await self._poll_round(request_id)

                await self.items.run(key, work)
                if finished:
                    return
        finally:
            self._polling.discard(request_id)

    async def _poll_round(self, request_id: str) -> bool:
        """One read of the running prechecks; True when there is nothing more to wait for."""
        ctx = self.ctx
        req = await ctx.store.get(request_id)
        project = ctx.policy.project(req.project) if req is not None else None
        if req is None or project is None or not req.state.is_open:
            return True
        waiting = running((await ctx.store.prechecks(request_id)).values())
        if not waiting:
            return True
        found = await ctx.drs_for(project).precheck_results(waiting)
        if all(p.state is PrecheckState.UNREADABLE for p in found):
            raise RetryLater(f"could not read the prechecks of {request_id}: {found[0].reason}")
        await ctx.store.save_prechecks(request_id, found)
        if not await self.publishing.refresh_message(request_id):
            raise RetryLater(f"the message of {request_id} was not updated")
        return not running(found)

    async def hold_back(
        self, req: StartRequest, job_ids: Sequence[str], project: ProjectPolicy
    ) -> dict[str, JobResult]:
        """Right before sending under ``require``: read the jobs' prechecks again; the jobs
        not to send, each with a FAILED result that says why (a failed read holds back every
        job it could not confirm)."""
        if project.precheck is not PrecheckRule.REQUIRE or not job_ids:
            return {}
        ctx = self.ctx
        try:
            found = {p.job_id: p for p in await ctx.drs_for(project).precheck_results(job_ids)}
        except Exception:
            log.exception("%s: reading the prechecks before sending failed", req.id)
            found = {}
        readable = [p for p in found.values() if p.state is not PrecheckState.UNREADABLE]
        if readable:
            await ctx.store.save_prechecks(req.id, readable)
        held = blocking(project.precheck, job_ids, found)
        if held:
            log.warning("%s: %d jobs held back, their precheck is not passed", req.id, len(held))
        return {
            j: JobResult(j, Outcome.FAILED, HELD_CODE, f"not sent: {stale_reason(found.get(j))}")
            for j in held
        }

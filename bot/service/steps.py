"""What runs after a person's answer: publish a request, start it, record and show outcomes.

Guarantees, and the mechanism behind each:

* **Exactly once.** A start is claimed (``claimed``) with the decision and marked ``sent``
  by a conditional update before the DRS call, under a lease its sender renews while the call
  lasts; whoever loses a race does nothing. A ``sent`` start is never sent again: once its
  lease expired, :meth:`Steps.take_over` asks batch-status what happened instead, and a late
  answer of the sender is merged in, never overwritten.
* **Nothing lost.** Every step leaves a durable mark before it acts (a post that began, a
  start that was sent), so :mod:`bot.service.recovery` can finish what a crash interrupted.
* **One outcome message.** The post of an attempt's outcome is claimed first
  (``begin_outcome_post``): one live process at a time holds it (the attempt's lease owner,
  alive by its ``replicas`` row), so two replicas' maintenance finding the same unposted
  outcome after an outage do not both post it while the first post is still on its way; one
  that takes over a post a dead process began looks for its message first.
* **Honest outcomes.** A job's outcome is what DRS said, or ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.core.followup_schedule import first_delay
from bot.core.model import (
    DrsCallError,
    JobResult,
    Outcome,
    StartReport,
)
from bot.core.policy import ProjectPolicy
from bot.core.request import (
    RequestState,
    Start,
    StartRequest,
    StartState,
)
from bot.core.status import FREEZE_CODE, SCHEDULE_PASSED_CODE
from bot.core.text import utc_text
from bot.service import failpoints, freezes, logcontext
from bot.service.context import Context
from bot.service.metrics import record_outcome
from bot.service.model import schedule_passed
from bot.service.outcomes import outcome_view
from bot.service.ports import (
    ChannelLost,
    NotShown,
    OutcomeDirect,
    Recorded,
    Verdict,
)
from bot.service.prechecking import Prechecking
from bot.service.publishing import Publishing
from bot.service.records import call_detail, failure_detail, reconciled

log = logging.getLogger(__name__)


class Steps:
    """The steps of a request after it was stored, each safe to run again."""

    def __init__(self, ctx: Context, publishing: Publishing) -> None:
        self.ctx = ctx
        self.publishing = publishing
        self.prechecking = Prechecking(ctx, publishing)

    # -- publishing ------------------------------------------------------------------------

    async def publish_and_run(self, request_id: str) -> None:
        """Post the request; where the project needs no approval, confirm and start it.

        The self-approval waits for the message, so a request that cannot be shown in its
        channel is never started; a list resolved from a pattern or a file waits for its
        requester's Start instead (they have not seen it yet).
        """
        ctx = self.ctx
        logcontext.bind(request_id=request_id)
        await self.publishing.publish(request_id)
        req = await ctx.store.get(request_id)
        if req is None or req.message_ts is None:
            return
        if req.state is RequestState.PENDING and req.approval.value == "none":
            if await self.publishing.request_source(request_id) is not None:
                return
            decided = await ctx.store.decide(
                Verdict(
                    request_id,
                    target=RequestState.APPROVED,
                    actor=req.requester_id,
                    now=ctx.clock(),
                    comment="confirmed by the requester; the project needs no approval",
                    owner=ctx.owner,
                )
            )
            if not decided.won:
                return
            ctx.changed(request_id)
            await self.run_start(request_id, 1, decided=decided.request)
        elif req.state is RequestState.APPROVED:
            await self.run_start(request_id, 1)

    def spawn_start(
        self, request_id: str, attempt: int, *, decided: StartRequest | None = None
    ) -> None:
        """Send a claimed attempt in a task of its own: attempt 1 is an approval's (which
        refreshes the message if it sends nothing), a later one a Retry's."""
        if attempt == 1:
            sending = self.after_approval(request_id, decided)
            self.ctx.tasks.spawn(sending, name=f"start {request_id}")
        else:
            self.ctx.tasks.spawn(self.run_start(request_id, attempt), name=f"retry {request_id}")

    async def after_approval(self, request_id: str, decided: StartRequest | None = None) -> None:
        # Sending refreshes the message (approved, starting) itself; one update, not two.
        if not await self.run_start(request_id, 1, decided=decided):
            await self.publishing.refresh_message(request_id)

    async def run_start(
        self, request_id: str, attempt: int, *, decided: StartRequest | None = None
    ) -> bool:
        """Send one claimed attempt to DRS, record the outcomes, post them. At most once.

        False when this call did not send it (not claimed, sent by someone else, no project).
        ``decided``: the request as this process's approval returned it from the store; the
        approval claimed attempt 1 with every job of it (:meth:`Store.decide`), so neither is
        read again (two statements fewer per approval). Whether it is still only claimed is
        the condition of the mark "sent" either way.
        """
        ctx = self.ctx
        if decided is not None and attempt == 1 and decided.state is RequestState.APPROVED:
            req, job_ids = decided, decided.job_ids
        else:
            start = await ctx.store.start(request_id, attempt)
            found = await ctx.store.get(request_id)
            if start is None or found is None or start.state is not StartState.CLAIMED:
                return False
            req, job_ids = found, start.job_ids
        logcontext.bind(request_id=request_id, project=req.project)
        project = ctx.policy.project(req.project)
        if project is None:
            log.error("request %s: project %s is gone; not starting", request_id, req.project)
            return False
        # What may hold the start back is read while it is only claimed: a read that fails
        # (the database or DRS down) leaves it claimed, and maintenance resumes it. Between
        # the mark "sent" and the DRS call nothing is read, so none can leave it sent unsent.
        frozen = await freezes.before_send(ctx, req)
        held = await self.prechecking.hold_back(req, job_ids, project) if frozen is None else {}
        lease = ctx.tuning.lease_seconds
        if not await ctx.store.mark_sent(
            request_id, attempt, now=ctx.clock(), owner=ctx.owner, lease=lease
        ):
            return False  # another process or task sent it
        ctx.working.add((request_id, attempt))
        renewing = asyncio.create_task(self._keep_lease(request_id, attempt))
        try:
            await self._send(req, attempt, job_ids, project, frozen, held)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            ctx.working.discard((request_id, attempt))
        return True

    async def _keep_lease(self, request_id: str, attempt: int) -> None:
        """Renew the lease on a sent attempt while its DRS call lasts (cancelled after)."""
        ctx = self.ctx
        lease = ctx.tuning.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                kept = await ctx.store.renew_lease(
                    request_id, attempt, owner=ctx.owner, until=ctx.clock() + lease
                )
            except Exception as exc:
                log.warning("renewing the lease on %s#%d failed: %s", request_id, attempt, exc)
                continue
            if not kept:
                log.warning(
                    "the lease on %s#%d was taken over; DRS's answer will be merged in",
                    request_id,
                    attempt,
                )
                return

    async def _send(
        self,
        req: StartRequest,
        attempt: int,
        job_ids: tuple[str, ...],
        project: ProjectPolicy,
        frozen: str | None,
        held: dict[str, JobResult],
    ) -> None:
        """Send a sent-marked attempt, unless a change freeze (``frozen``) or its passed time
        holds it; ``held``: the jobs whose precheck holds them back, with their results."""
        ctx = self.ctx
        request_id = req.id
        ctx.tasks.spawn(self.publishing.refresh_message(request_id), name=f"refresh {request_id}")
        passed = schedule_passed(req, ctx.clock())
        if passed is not None:
            # Checked again right before sending: DRS must not get a start time in the past.
            await self._not_sent(req, attempt, f"its scheduled time ({utc_text(passed)}) passed")
            return
        if frozen is not None:  # a window opened since the approval: not sent at all
            await self._not_sent(req, attempt, frozen, code=FREEZE_CODE)
            return
        to_send = [j for j in job_ids if j not in held]
        try:
            report = (
                await ctx.drs_for(project).batch_start(
                    to_send, start_time_ms=req.start_time_ms, language=req.language
                )
                if to_send
                else StartReport((), ())
            )
        except Exception:
            # A bug or an error the client did not classify: the body may have reached DRS.
            log.exception("batch start of %s raised; asking batch-status instead", request_id)
            await self.reconcile(request_id, attempt)
            return
        failpoints.hit("after_send")
        recorded = await ctx.store.record_outcomes(
            request_id,
            attempt,
            [*report.results, *held.values()],
            now=ctx.clock(),
            calls=[call_detail(c, attempt) for c in report.calls],
            followup_interval=self._first_round(req),
            followup_max=self._followup_span(req),
        )
        failpoints.hit("after_record")
        if recorded is Recorded.RECORDED:
            await self.post_outcome(request_id, attempt)
        elif recorded is Recorded.MERGED:
            log.warning("%s#%d: DRS's answer came after a takeover; merged", request_id, attempt)
            merged = await ctx.store.get(request_id)
            if merged is not None:
                await self.update_outcome(merged)
                await self.publishing.refresh_message(request_id)

    async def _not_sent(
        self, req: StartRequest, attempt: int, why: str, *, code: str = SCHEDULE_PASSED_CODE
    ) -> None:
        """Record a sent-marked attempt as refused by the bot itself, before any DRS call."""
        ctx = self.ctx
        start = await ctx.store.start(req.id, attempt)
        job_ids = start.job_ids if start is not None else req.job_ids
        message = f"not sent: {why} before it could be sent; make a new request"
        results = [JobResult(j, Outcome.FAILED, code, message) for j in job_ids]
        recorded = await ctx.store.record_outcomes(
            req.id,
            attempt,
            results,
            now=ctx.clock(),
            calls=[],
            followup_interval=ctx.tuning.followup_interval,
            followup_max=0.0,
        )
        if recorded is Recorded.RECORDED:
            await self.post_outcome(req.id, attempt)

    async def reconcile(self, request_id: str, attempt: int) -> None:
        """Record a ``sent`` attempt whose answer was lost, from what batch-status shows."""
        ctx = self.ctx
        start = await ctx.store.start(request_id, attempt)
        req = await ctx.store.get(request_id)
        if start is None or req is None or start.state is not StartState.SENT:
            return
        project = ctx.policy.project(req.project)
        before = {j.job_id: j.status_at_request for j in req.jobs}
        statuses: dict[str, str | None] = {}
        calls: list[dict[str, object]] = []
        if project is not None:
            try:
                infos = await ctx.drs_for(project).batch_status(start.job_ids)
                statuses = {i.job_id: i.status for i in infos}
            except DrsCallError as exc:
                calls.append(failure_detail(exc.failure, "batch-status", attempt))
        results = [reconciled(j, statuses.get(j), before.get(j)) for j in start.job_ids]
        recorded = await ctx.store.record_outcomes(
            request_id,
            attempt,
            results,
            now=ctx.clock(),
            calls=calls,
            drs_statuses=statuses,
            followup_interval=self._first_round(req),
            followup_max=self._followup_span(req),
            recovered=True,
        )
        if recorded is Recorded.RECORDED:
            await self.post_outcome(request_id, attempt)

    async def take_over(self, start: Start) -> None:
        """Reconcile a sent attempt whose sender's lease expired (it died, or lost the
        database); nothing if the lease is still live or another process took it."""
        ctx = self.ctx
        if await ctx.store.take_over(
            start.request_id,
            start.attempt,
            owner=ctx.owner,
            now=ctx.clock(),
            lease=ctx.tuning.lease_seconds,
        ):
            log.warning(
                "%s#%d: its sender's lease expired; asking DRS what became of it",
                start.request_id,
                start.attempt,
            )
            await self.reconcile(start.request_id, start.attempt)

    def _first_round(self, req: StartRequest) -> float:
        """Seconds from a recorded start to its follow-up's first round (soon: DRS moves a
        task on within seconds; :mod:`bot.core.followup_schedule`)."""
        now = self.ctx.clock()
        scheduled = req.start_time_ms / 1000 - now if req.start_time_ms is not None else None
        return first_delay(self.ctx.tuning.pace(), scheduled_in=scheduled)

    def _followup_span(self, req: StartRequest) -> float:
        span = self.ctx.tuning.followup_max
        if req.start_time_ms is not None:
            span += max(0.0, req.start_time_ms / 1000 - self.ctx.clock())
        return span

    # -- showing outcomes ---------------------------------------------------------------------

    async def post_outcome(self, request_id: str, attempt: int) -> None:
        """Show (once) the outcome of an attempt in the request's thread, or directly to the
        requester when the channel is lost; then mark it posted."""
        ctx = self.ctx
        start = await ctx.store.start(request_id, attempt)
        req = await ctx.store.get(request_id)
        if start is None or req is None or start.state is not StartState.RECORDED:
            return
        logcontext.bind(request_id=request_id, project=req.project)
        if req.message_ts is None:
            await self.publishing.publish(request_id)
            req = await ctx.store.get(request_id)
            assert req is not None
            if req.message_ts is None:
                return
        view = await outcome_view(self.ctx, req, attempt)
        ts: str | None = None
        if req.channel_problem is None:
            now = ctx.clock()
            turn = await ctx.store.begin_outcome_post(
                request_id,
                attempt,
                now,
                owner=ctx.owner,
                alive_until=now + 2 * ctx.tuning.lease_seconds / 3,
            )
            if not turn.mine:
                return  # posted, or another live process is posting it: one message
            try:
                ts = await ctx.notifier.post_outcome(req, view, earlier=turn.earlier)
            except ChannelLost as exc:
                await self.publishing.lose_channel(req, exc.error)
        if ts is None:
            await ctx.notifier.tell(req, OutcomeDirect(view))
        failpoints.hit("after_post")
        posted = await ctx.store.mark_posted(request_id, attempt, ts)
        ctx.changed(request_id)  # its outcome shows on Home tabs
        if posted:  # once per attempt, whichever process posted it
            record_outcome(ctx.metrics, req, start)
        if posted and ts is not None:
            await self.publishing.refresh_message(request_id)

    async def update_outcome(self, req: StartRequest) -> None:
        """Bring the thread's outcome message up to date (best effort: logged)."""
        if req.outcome_ts is None or req.channel_problem is not None:
            return
        view = await outcome_view(self.ctx, req, await self.ctx.store.last_attempt(req.id))
        try:
            await self.ctx.notifier.update_outcome(req, view)
        except ChannelLost as exc:
            await self.publishing.lose_channel(req, exc.error)
        except NotShown as exc:
            log.warning("updating the outcome of %s failed: %s", req.id, exc)

"""What runs after a person's answer: publish a request, start it, record and show outcomes.

Guarantees, and the mechanism behind each:

* **Exactly once.** A start is claimed (``claimed``) with the decision and marked ``sent``
  by a conditional update before the DRS call, under a lease its sender renews while the call
  lasts; whoever loses a race does nothing. A ``sent`` start is never sent again: once its
  lease expired, :meth:`Steps.take_over` asks batch-status what happened instead, and a late
  answer of the sender is merged in, never overwritten.
* **Nothing lost.** Every step leaves a durable mark before it acts (a post that began, a
  start that was sent), so :mod:`bot.service.recovery` can finish what a crash interrupted.
* **Honest outcomes.** A job's outcome is what DRS said, or ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.core.model import (
    CallFailure,
    CallFailureKind,
    CallRecord,
    DrsCallError,
    JobResult,
    Outcome,
)
from bot.core.policy import ProjectPolicy
from bot.core.request import (
    AuditKind,
    RequestJob,
    RequestState,
    Start,
    StartRequest,
    StartState,
)
from bot.core.status import Phase, is_retryable, phase_of
from bot.core.text import utc_text
from bot.service import failpoints
from bot.service.context import Context
from bot.service.model import NOT_SENT_CODE, schedule_passed
from bot.service.ports import (
    ChannelGone,
    ChannelLost,
    Note,
    NoteDirect,
    NotPosted,
    NotShown,
    OutcomeDirect,
    OutcomeView,
    Recorded,
    RequestView,
    Verdict,
)
from bot.service.work import RetryLater

log = logging.getLogger(__name__)


class Steps:
    """The steps of a request after it was stored, each safe to run again."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- publishing ------------------------------------------------------------------------

    async def publish_and_run(self, request_id: str) -> None:
        """Post the request; where the project needs no approval, confirm and start it.

        The self-approval waits for the message, so a request that cannot be shown in its
        channel is never started; a list resolved from a pattern or a file waits for its
        requester's Start instead (they have not seen it yet).
        """
        ctx = self.ctx
        await self.publish(request_id)
        req = await ctx.store.get(request_id)
        if req is None or req.message_ts is None:
            return
        if req.state is RequestState.PENDING and req.approval.value == "none":
            if await self.request_source(request_id) is not None:
                return
            decided = await ctx.store.decide(
                Verdict(
                    request_id,
                    target=RequestState.APPROVED,
                    actor=req.requester_id,
                    now=ctx.clock(),
                    comment="confirmed by the requester; the project needs no approval",
                )
            )
            if not decided.won:
                return
            req = decided.request
        if req is not None and req.state is RequestState.APPROVED:
            await self.run_start(request_id, 1)

    async def publish(self, request_id: str) -> None:
        """Look the jobs up in DRS and post the request message (once)."""
        key = (request_id, 0)
        if key in self.ctx.working:
            return  # this process is posting it right now
        self.ctx.working.add(key)
        try:
            await self._publish(request_id)
        finally:
            self.ctx.working.discard(key)

    async def _publish(self, request_id: str) -> None:
        ctx = self.ctx
        req = await ctx.store.get(request_id)
        if req is None or req.message_ts is not None:
            return
        project = ctx.policy.project(req.project)
        lookup_problem: str | None = None
        if project is not None:
            try:
                infos = await ctx.drs_for(project).batch_detail(req.job_ids)
                await ctx.store.set_jobs_info(request_id, [RequestJob.from_info(i) for i in infos])
            except DrsCallError as exc:
                lookup_problem = f"could not look the jobs up in DRS: {exc}"
                log.warning("batch-detail for %s failed: %s", request_id, exc)
        req = await ctx.store.get(request_id)
        assert req is not None
        source = await self.request_source(request_id)
        view = RequestView(
            now=ctx.clock(),
            source=source,
            lookup_problem=lookup_problem,
            overlaps=await ctx.store.overlapping(request_id),
        )
        earlier = await ctx.store.begin_message_post(request_id, ctx.clock())
        try:
            ts = await ctx.notifier.post_request(req, view, earlier=earlier)
        except ChannelLost as exc:
            await self._cannot_post(req, exc.error)
            return
        await ctx.store.set_message_ts(request_id, ts)
        if source is not None:
            req = await ctx.store.get(request_id)
            if req is not None:
                await ctx.notifier.attach_job_list(req, source)

    async def _cannot_post(self, req: StartRequest, error: str) -> None:
        ctx = self.ctx
        log.error("cannot post request %s in %s: %s", req.id, req.channel_id, error)
        # Nothing was sent to DRS (a request is approved only once its message is posted):
        # end it rather than leave it invisible.
        await ctx.store.decide(
            Verdict(
                req.id,
                target=RequestState.CANCELLED,
                actor=None,
                now=ctx.clock(),
                comment=f"could not post in the channel: {error}",
                require_unexpired=False,
            )
        )
        await ctx.notifier.tell(req, NotPosted(error))

    async def lose_channel(self, req: StartRequest, error: str) -> None:
        """The request's channel refuses the bot for good: record it once, and tell the
        requester that news of this request comes to them directly from now on."""
        ctx = self.ctx
        if not await ctx.store.lose_channel(req.id, error, now=ctx.clock()):
            return
        log.error(
            "request %s: Slack refuses posts in %s (%s); telling %s directly from now on",
            req.id,
            req.channel_id,
            error,
            req.requester_id,
        )
        await ctx.notifier.tell(req, ChannelGone(error))

    async def note(self, req: StartRequest, note: Note) -> None:
        """A note in the request's thread; directly to the requester when the channel is
        lost. A passing fault loses the note (logged): the outcome message holds the facts."""
        if req.channel_problem is None:
            try:
                await self.ctx.notifier.note(req, note)
                return
            except NotShown as exc:
                log.warning("thread note for %s failed: %s", req.id, exc)
                return
            except ChannelLost as exc:
                await self.lose_channel(req, exc.error)
        await self.ctx.notifier.tell(req, NoteDirect(note))

    async def request_source(self, request_id: str) -> str | None:
        """Where a request's list came from, as recorded when it was made (None: typed)."""
        for event in await self.ctx.store.events(request_id):
            if event.kind is AuditKind.REQUESTED:
                source = event.detail.get("source")
                return source if isinstance(source, str) and source else None
        return None

    async def refresh_message(self, request_id: str) -> bool:
        """Bring the channel message up to date with the request's state (buttons go away).

        False when the update was not taken (the message stays marked stale and maintenance
        tries again later)."""
        ctx = self.ctx
        req = await ctx.store.get(request_id)
        if req is None or req.message_ts is None or req.channel_problem is not None:
            return True
        view = RequestView(
            now=ctx.clock(),
            source=await self.request_source(request_id),
            overlaps=await ctx.store.overlapping(request_id) if req.state.is_open else None,
        )
        try:
            await ctx.notifier.update_request(req, view)
        except ChannelLost as exc:
            await self.lose_channel(req, exc.error)
            return True
        except NotShown as exc:
            log.warning("updating the message of %s failed: %s", request_id, exc)
            await ctx.store.mark_message_stale(request_id, True)
            return False
        await ctx.store.mark_message_stale(request_id, False)
        return True

    async def refresh_stale(self, request_id: str) -> None:
        """:meth:`refresh_message` as a work item: a refusal is retried with backoff."""
        if not await self.refresh_message(request_id):
            raise RetryLater(f"the message of {request_id} is still not up to date")

    async def expire(self, request_id: str) -> None:
        ctx = self.ctx
        result = await ctx.store.decide(
            Verdict(
                request_id,
                target=RequestState.EXPIRED,
                actor=None,
                now=ctx.clock(),
                require_unexpired=False,
            )
        )
        if result.won:
            await self.refresh_message(request_id)

    # -- starting -----------------------------------------------------------------------------

    async def after_approval(self, request_id: str) -> None:
        # Sending refreshes the message (approved, starting) itself; one update, not two.
        if not await self.run_start(request_id, 1):
            await self.refresh_message(request_id)

    async def run_start(self, request_id: str, attempt: int) -> bool:
        """Send one claimed attempt to DRS, record the outcomes, post them. At most once.

        False when this call did not send it (not claimed, sent by someone else, no project).
        """
        ctx = self.ctx
        start = await ctx.store.start(request_id, attempt)
        req = await ctx.store.get(request_id)
        if start is None or req is None or start.state is not StartState.CLAIMED:
            return False
        project = ctx.policy.project(req.project)
        if project is None:
            log.error("request %s: project %s is gone; not starting", request_id, req.project)
            return False
        lease = ctx.tuning.lease_seconds
        if not await ctx.store.mark_sent(
            request_id, attempt, now=ctx.clock(), owner=ctx.owner, lease=lease
        ):
            return False  # another process or task sent it
        ctx.working.add((request_id, attempt))
        renewing = asyncio.create_task(self._keep_lease(request_id, attempt))
        try:
            await self._send(req, start, project)
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

    async def _send(self, req: StartRequest, start: Start, project: ProjectPolicy) -> None:
        ctx = self.ctx
        request_id, attempt = req.id, start.attempt
        ctx.tasks.spawn(self.refresh_message(request_id), name=f"refresh {request_id}")
        passed = schedule_passed(req, ctx.clock())
        if passed is not None:
            # Checked again right before sending: DRS must not get a start time in the past.
            await self._not_sent(req, attempt, f"its scheduled time ({utc_text(passed)}) passed")
            return
        try:
            report = await ctx.drs_for(project).batch_start(
                start.job_ids, start_time_ms=req.start_time_ms, language=req.language
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
            report.results,
            now=ctx.clock(),
            calls=[_call_detail(c, attempt) for c in report.calls],
            followup_interval=ctx.tuning.followup_interval,
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
                await self.refresh_message(request_id)

    async def _not_sent(self, req: StartRequest, attempt: int, why: str) -> None:
        """Record a sent-marked attempt as refused by the bot itself, before any DRS call."""
        ctx = self.ctx
        start = await ctx.store.start(req.id, attempt)
        job_ids = start.job_ids if start is not None else req.job_ids
        message = f"not sent: {why} before it could be sent; make a new request"
        results = [JobResult(j, Outcome.FAILED, NOT_SENT_CODE, message) for j in job_ids]
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
                calls.append(_failure_detail(exc.failure, "batch-status", attempt))
        results = [_reconciled(j, statuses.get(j), before.get(j)) for j in start.job_ids]
        recorded = await ctx.store.record_outcomes(
            request_id,
            attempt,
            results,
            now=ctx.clock(),
            calls=calls,
            drs_statuses=statuses,
            followup_interval=ctx.tuning.followup_interval,
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
        if req.message_ts is None:
            await self.publish(request_id)
            req = await ctx.store.get(request_id)
            assert req is not None
            if req.message_ts is None:
                return
        view = await self.outcome_view(req, attempt)
        ts: str | None = None
        if req.channel_problem is None:
            earlier = await ctx.store.begin_outcome_post(request_id, attempt, ctx.clock())
            try:
                ts = await ctx.notifier.post_outcome(req, view, earlier=earlier)
            except ChannelLost as exc:
                await self.lose_channel(req, exc.error)
        if ts is None:
            await ctx.notifier.tell(req, OutcomeDirect(view))
        failpoints.hit("after_post")
        if await ctx.store.mark_posted(request_id, attempt, ts) and ts is not None:
            await self.refresh_message(request_id)

    async def update_outcome(self, req: StartRequest) -> None:
        """Bring the thread's outcome message up to date (best effort: logged)."""
        if req.outcome_ts is None or req.channel_problem is not None:
            return
        view = await self.outcome_view(req, await self.ctx.store.last_attempt(req.id))
        try:
            await self.ctx.notifier.update_outcome(req, view)
        except ChannelLost as exc:
            await self.lose_channel(req, exc.error)
        except NotShown as exc:
            log.warning("updating the outcome of %s failed: %s", req.id, exc)

    async def outcome_view(self, req: StartRequest, attempt: int) -> OutcomeView:
        """What the outcome of ``attempt`` shows: the whole-call failures, who retried, and
        how many jobs Retry may send again now."""
        start = await self.ctx.store.start(req.id, attempt)
        retryable = sum(1 for j in req.jobs if is_retryable(j))
        if retryable and await self.in_flight_until(req.id) is not None:
            retryable = 0  # DRS may still act on a dead sender's call: not yet
        return OutcomeView(
            attempt=attempt,
            failures=await self._failures(req.id, attempt),
            actor=start.actor if start and attempt > 1 else None,
            retryable=retryable,
        )

    async def in_flight_until(self, request_id: str) -> float | None:
        """Until when a start that another process took over may still be acted on by DRS
        (its sender died mid-call): Retry waits until then. None: nothing may be in flight."""
        taken: dict[object, float] = {}
        for event in await self.ctx.store.events(request_id):
            attempt = event.detail.get("attempt")
            if event.kind is AuditKind.TAKEN_OVER:
                taken[attempt] = event.at
            elif event.kind is AuditKind.MERGED:
                taken.pop(attempt, None)  # the sender's own answer came: nothing in flight
        if not taken:
            return None
        until = max(taken.values()) + self.ctx.tuning.send_settle
        return until if until > self.ctx.clock() else None

    async def _failures(self, request_id: str, attempt: int) -> list[CallFailure]:
        out: list[CallFailure] = []
        for event in await self.ctx.store.events(request_id):
            d = event.detail
            if event.kind is AuditKind.DRS_CALL and d.get("attempt") == attempt and d.get("kind"):
                out.append(
                    CallFailure(
                        kind=CallFailureKind(str(d["kind"])),
                        message=str(d.get("message", "")),
                        http_status=_int_or_none(d.get("http_status")),
                        error_code=_str_or_none(d.get("error_code")),
                        request_id=_str_or_none(d.get("request_id")),
                        maybe_processed=bool(d.get("maybe_processed")),
                    )
                )
        return out


def started_phase(status: str | None) -> bool:
    return phase_of(status) in (Phase.STARTING, Phase.WAITING, Phase.TRANSFERRING)


def _reconciled(job_id: str, status: str | None, before: str | None) -> JobResult:
    """A job's outcome from batch-status after its start answer was lost."""
    phase = phase_of(status)
    if started_phase(status) and not started_phase(before):
        return JobResult(job_id, Outcome.SUCCESS, error_msg=f"confirmed by batch-status: {status}")
    if phase is Phase.FAILED:
        return JobResult(job_id, Outcome.FAILED, error_code=status, error_msg="DRS shows it failed")
    return JobResult(
        job_id,
        Outcome.UNKNOWN,
        error_msg=f"answer lost; DRS shows {status or 'no status'}",
    )


def _call_detail(call: CallRecord, attempt: int) -> dict[str, object]:
    detail: dict[str, object] = {
        "attempt": attempt,
        "operation": call.operation,
        "jobs": call.job_count,
        "http_status": call.http_status,
        "request_id": call.request_id,
    }
    if call.failure is not None:
        detail.update(_failure_detail(call.failure, call.operation, attempt))
    return detail


def _failure_detail(failure: CallFailure, operation: str, attempt: int) -> dict[str, object]:
    return {
        "attempt": attempt,
        "operation": operation,
        "kind": failure.kind.value,
        "message": failure.message,
        "http_status": failure.http_status,
        "error_code": failure.error_code,
        "request_id": failure.request_id,
        "maybe_processed": failure.maybe_processed,
    }


def _int_or_none(v: object) -> int | None:
    return v if isinstance(v, int) else None


def _str_or_none(v: object) -> str | None:
    return v if isinstance(v, str) else None

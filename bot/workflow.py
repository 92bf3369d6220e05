"""The service layer: create, decide, start, report, follow up, recover.

The only module that combines the store, DRS and the Slack Web API. Listeners call it after
they have acked; it never formats Block Kit itself (``bot.slack.ui.blocks`` does) and never parses
payloads (the listeners do).

Guarantees, and where they come from:

* **Exactly once.** A start is claimed and marked ``sent`` by conditional updates in the store
  before the DRS call; whoever loses a race does nothing. A ``sent`` start is never sent again:
  recovery asks ``batch-status`` what happened instead.
* **Nothing lost.** A request is stored before the user's click is acked; every later step
  leaves a durable mark before it acts, and :meth:`Workflow.maintain` (run at start-up and then
  periodically) finishes whatever a crash interrupted once it is older than ``recovery_grace``
  (so a live replica's in-flight work is not taken over).
* **Honest outcomes.** A job's outcome is what DRS said, or ``unknown``; ``unknown`` becomes
  ``success`` only when batch-status shows the job started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ackfirst import AckFirst, background_context
from bot.core.command import DB_USE_TYPES
from bot.core.model import CallFailure, CallFailureKind, CallRecord, JobInfo, JobResult, Outcome
from bot.core.policy import (
    Decision as PolicyDecision,
)
from bot.core.policy import (
    Policy,
    ProjectPolicy,
    may_approve,
    may_cancel,
    may_reject,
    may_request,
    may_retry,
)
from bot.core.request import (
    Approval,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
)
from bot.core.selection import ListedJob, Resolved, Selection, frozen_list_csv, resolve
from bot.core.status import Phase, is_retryable, is_settled, phase_of
from bot.drs import DrsClient, DrsError
from bot.service import failpoints
from bot.service.work import RetryLater, WorkItems
from bot.slack.directory import Directory, GroupLookupError
from bot.slack.notifier import CHANNEL_LOST_ERRORS, ChannelLost, Marker, Notifier, SlackUnavailable
from bot.slack.ui import blocks, kit
from bot.slack.ui.mrkdwn import mention, slack_date, utc_text
from bot.store import AsyncStore, Recorded, Start, StartState, StoreUnavailable, Verdict

log = logging.getLogger(__name__)

NOT_SENT_CODE = "SCHEDULE_PASSED"
"""The error code of jobs the bot did not send because their scheduled time had passed."""

INTERACTIVE_WRITE_SECONDS = 1.0
"""A write made before a person's click is acknowledged (a new request, a decision) is made
within this many seconds or not at all (:class:`bot.store.AsyncStore`), so the person hears
"nothing was stored" inside Slack's 3 s rather than Slack's own error."""

DrsFor = Callable[[ProjectPolicy], DrsClient]


@dataclass(frozen=True, slots=True)
class Tuning:
    """Timing knobs of the workflow (from Settings; tests shorten them)."""

    expire_seconds: float = 24 * 3600
    followup_interval: float = 30.0
    followup_max: float = 3600.0
    recovery_grace: float = 60.0
    user_requests_per_minute: int = 6
    # A sent start is its sender's while the sender renews this lease (every third of it);
    # another process reconciles it only once the lease has expired.
    lease_seconds: float = 15.0
    # After a takeover, how long the dead owner's last call may still be acted on by DRS:
    # Retry is not offered before then.
    send_settle: float = 60.0


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated request, as the listener parsed it from the modal."""

    team_id: str
    channel_id: str
    requester_id: str
    project: str
    job_ids: tuple[str, ...]
    start_time_ms: int | None
    reason: str
    language: str
    # Where the list came from when not only typed (a name pattern, a file): plain text, kept
    # in the audit trail and shown on the request message.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What to tell the user who acted: ``ok`` False means refused (shown ephemerally)."""

    ok: bool
    text: str
    request: StartRequest | None = None
    blocks: list[dict[str, Any]] | None = None  # a formatted answer, where there is one
    code: str | None = None  # why it was refused, where a listener answers differently


@dataclass
class _RateLimiter:
    per_minute: int
    clock: Callable[[], float]
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def allow(self, user: str) -> bool:
        now = self.clock()
        q = self._seen[user]
        while q and now - q[0] >= 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(now)
        return True


def new_request_id() -> str:
    """Short, unguessable, easy to read aloud: ``SJ-7K3MQ2XD``."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "SJ-" + "".join(secrets.choice(alphabet) for _ in range(8))


class Workflow:
    """Orchestrates one bot process. All dependencies are passed in; no globals."""

    def __init__(
        self,
        *,
        store: AsyncStore,
        slack: AsyncWebClient,
        policy: Policy,
        directory: Directory,
        drs_for: DrsFor,
        tuning: Tuning,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_request_id,
        ack_first: AckFirst | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.notifier = Notifier(slack)
        # Who holds this process's leases: host, process and a random part (a restarted
        # process with the same pid is someone else).
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.items = WorkItems(clock)
        self.policy = policy
        self.directory = directory
        self.drs_for = drs_for
        self.tuning = tuning
        self.clock = clock
        self.new_id = new_id
        self.ack_first = ack_first or AckFirst()
        self._limiter = _RateLimiter(tuning.user_requests_per_minute, clock)
        self._tasks: set[asyncio.Task[None]] = set()
        # (request, attempt) this process is working on now; attempt 0 is the request message.
        # Maintenance skips them: the recovery grace protects other processes' work only.
        self._working: set[tuple[str, int]] = set()

    # -- background tasks -----------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[None]:
        """Run work that outlives the ack (its result is dropped); failures are logged with
        their traceback."""
        task = asyncio.create_task(self._guard(coro, name), name=name, context=background_context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Awaitable[object], name: str) -> None:
        try:
            await self.ack_first.give_way()
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s failed; maintenance will retry it", name)

    async def drain(self, limit: float = 30.0) -> None:
        """Wait for in-flight background work (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + limit
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=remaining)

    # -- permissions ----------------------------------------------------------------------------

    async def _groups(self, user: str, project: ProjectPolicy) -> frozenset[str]:
        return await self.directory.groups_of(user, project.groups())

    async def requestable(self, user: str, channel: str) -> tuple[list[ProjectPolicy], list[str]]:
        """Projects ``user`` may request in from ``channel``, and why others are not offered."""
        allowed: list[ProjectPolicy] = []
        notes: list[str] = []
        for project in self.policy.projects.values():
            try:
                groups = await self._groups(user, project)
            except GroupLookupError as exc:
                notes.append(f"{project.name}: {exc}")
                continue
            if may_request(project, user, groups, channel).allowed:
                allowed.append(project)
        return allowed, notes

    async def check_request(self, user: str, project_name: str, channel: str) -> PolicyDecision:
        project = self.policy.project(project_name)
        if project is None:
            return PolicyDecision(False, f"there is no project named {project_name!r}")
        try:
            groups = await self._groups(user, project)
        except GroupLookupError as exc:
            return PolicyDecision(False, str(exc))
        return may_request(project, user, groups, channel)

    # -- creating a request -------------------------------------------------------------------

    async def submit(self, draft: Draft) -> Reply:
        """Check, store and (in the background) publish a request; "none" projects start too.

        Stored before returning, so an ack sent after this loses nothing.
        """
        decision = await self.check_request(draft.requester_id, draft.project, draft.channel_id)
        if not decision.allowed:
            return Reply(False, decision.reason)
        if not self._limiter.allow(draft.requester_id):
            return Reply(
                False,
                f"you made {self.tuning.user_requests_per_minute} requests in the last minute; "
                "wait a minute before the next one",
            )
        project = self.policy.project(draft.project)
        assert project is not None
        now = self.clock()
        req = StartRequest(
            id=self.new_id(),
            team_id=draft.team_id,
            channel_id=draft.channel_id,
            requester_id=draft.requester_id,
            project=project.name,
            region=project.region,
            approval=project.approval,
            jobs=tuple(RequestJob(job_id=j) for j in draft.job_ids),
            start_time_ms=draft.start_time_ms,
            reason=draft.reason,
            language=draft.language,
            state=RequestState.PENDING,
            created_at=now,
            expires_at=now + self.tuning.expire_seconds,
        )
        try:
            await self.store.insert_request(
                req,
                actor=draft.requester_id,
                detail={
                    "jobs": len(req.jobs),
                    "project": req.project,
                    "start_time_ms": None,
                    **({"source": draft.source} if draft.source else {}),
                },
                within=INTERACTIVE_WRITE_SECONDS,
            )
        except StoreUnavailable as exc:
            log.error("could not store a request of %s: %s", draft.requester_id, exc)
            return Reply(False, _not_stored("your request", exc))
        self.spawn(self.publish_and_run(req.id), name=f"publish {req.id}")
        return Reply(True, f"Request {req.id} created", req)

    async def publish_and_run(self, request_id: str) -> None:
        """Post the request; where the project needs no approval, confirm and start it.

        The self-approval waits for the message, so a request that cannot be shown in its
        channel is never started.
        """
        await self.publish(request_id)
        req = await self.store.get(request_id)
        if req is None or req.message_ts is None:
            return
        if req.state is RequestState.PENDING and req.approval is Approval.NONE:
            if await self.request_source(request_id) is not None:
                return  # a pattern or a file: its requester confirms what matched first
            decided = await self.store.decide(
                Verdict(
                    request_id,
                    target=RequestState.APPROVED,
                    actor=req.requester_id,
                    now=self.clock(),
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
        if (request_id, 0) in self._working:
            return  # this process is posting it right now
        self._working.add((request_id, 0))
        try:
            await self._publish(request_id)
        finally:
            self._working.discard((request_id, 0))

    async def _publish(self, request_id: str) -> None:
        req = await self.store.get(request_id)
        if req is None or req.message_ts is not None:
            return
        project = self.policy.project(req.project)
        lookup_problem: str | None = None
        if project is not None:
            try:
                infos = await self.drs_for(project).batch_detail(req.job_ids)
                await self.store.set_jobs_info(request_id, [RequestJob.from_info(i) for i in infos])
            except DrsError as exc:
                lookup_problem = f"could not look the jobs up in DRS: {exc}"
                log.warning("batch-detail for %s failed: %s", request_id, exc)
        req = await self.store.get(request_id)
        assert req is not None
        msg = blocks.request_message(
            req,
            now=self.clock(),
            lookup_problem=lookup_problem,
            source=await self.request_source(request_id),
            overlaps=await self.store.overlapping(request_id),
        )
        earlier = await self.store.begin_message_post(request_id, self.clock())
        try:
            ts = await self.notifier.post(
                channel=req.channel_id,
                text=msg.text,
                blocks=msg.blocks,
                marker=Marker("request", request_id),
                earlier=earlier,
            )
        except ChannelLost as exc:
            await self._cannot_post(req, exc.error)
            return
        await self.store.set_message_ts(request_id, ts)
        await self._post_job_list(request_id)

    async def _cannot_post(self, req: StartRequest, error: str) -> None:
        hint = {
            "not_in_channel": "invite the bot to the channel (/invite @startjobs) and try again",
            "channel_not_found": "the bot cannot see this channel; invite it first",
            "is_archived": "the channel is archived",
        }.get(error, "see the bot's log")
        log.error("cannot post request %s in %s: %s", req.id, req.channel_id, error)
        # Nothing was sent to DRS (a request is approved only once its message is posted):
        # end it rather than leave it invisible.
        await self.store.decide(
            Verdict(
                req.id,
                target=RequestState.CANCELLED,
                actor=None,
                now=self.clock(),
                comment=f"could not post in the channel: {error}",
                require_unexpired=False,
            )
        )
        await self.notifier.tell(
            req.requester_id,
            f":warning: I could not post request {req.id} in <#{req.channel_id}> ({error}): "
            f"{hint}. Nothing was started.",
        )

    async def _lose_channel(self, req: StartRequest, error: str) -> None:
        """Slack refuses posts in the request's channel for good: record it once, and tell the
        requester that news of this request comes to them directly from now on."""
        if not await self.store.lose_channel(req.id, error, now=self.clock()):
            return
        log.error(
            "request %s: Slack refuses posts in %s (%s); telling %s directly from now on",
            req.id,
            req.channel_id,
            error,
            req.requester_id,
        )
        await self.notifier.tell(
            req.requester_id,
            f":warning: I can no longer post about request {req.id} in <#{req.channel_id}> "
            f"({error}). I will tell you here what becomes of it; "
            f"`/startjobs status {req.id}` shows it at any time.",
        )

    # -- decisions ------------------------------------------------------------------------------

    async def check_decision(self, request_id: str, user: str, action: str) -> Reply:
        """Re-check ``user`` against the policy *now* for approve/reject/cancel/retry."""
        req = await self.store.get(request_id)
        if req is None:
            return Reply(False, "this request is not known to the bot")
        now = self.clock()
        if action in ("approve", "reject", "cancel", "confirm") and not req.state.is_open:
            return Reply(False, _already(req), req)
        if action in ("approve", "reject", "cancel", "confirm") and req.expires_at <= now:
            await self.expire(req.id)
            return Reply(False, "this request has expired; make a new one", req)
        project = self.policy.project(req.project)
        if project is None:
            return Reply(False, f"project {req.project!r} is no longer configured", req)
        if action == "cancel":
            decision = may_cancel(req, user)
        elif action == "confirm":
            decision = may_cancel(req, user)  # the requester's own word, like cancelling
            if decision.allowed and req.approval is not Approval.NONE:
                decision = PolicyDecision(False, "this request needs an approver's approval")
        else:
            try:
                groups = await self._groups(user, project)
            except GroupLookupError as exc:
                return Reply(False, str(exc), req)
            decide = {"approve": may_approve, "reject": may_reject, "retry": may_retry}[action]
            decision = decide(project, req, user, groups)
        if not decision.allowed:
            await self.store.audit(
                req.id, AuditKind.REFUSED, actor=user, now=now, detail={"action": action}
            )
            return Reply(False, decision.reason, req)
        return Reply(True, "", req)

    async def approve(
        self, request_id: str, user: str, comment: str | None, *, start_now: bool = False
    ) -> Reply:
        """Approve and start. A request whose scheduled time has passed is approved only with
        ``start_now`` (the approver chose "start now instead"); else the reply's ``code`` is
        ``"schedule_passed"`` and nothing changes."""
        check = await self.check_decision(request_id, user, "approve")
        if not check.ok or check.request is None:
            return check
        passed = _schedule_passed(check.request, self.clock())
        if passed and not start_now:
            when = utc_text(passed)
            return Reply(
                False,
                f"{request_id} was to start at {when}, which has passed. Tick “Start now "
                "instead” to start it now, or reject it and ask for a new request.",
                check.request,
                code="schedule_passed",
            )
        try:
            result = await self.store.decide(
                Verdict(
                    request_id,
                    target=RequestState.APPROVED,
                    actor=user,
                    now=self.clock(),
                    comment=comment,
                    start_now=passed is not None,
                ),
                within=INTERACTIVE_WRITE_SECONDS,
            )
        except StoreUnavailable as exc:
            log.error("could not record the approval of %s: %s", request_id, exc)
            return Reply(False, _not_stored("your approval", exc), check.request)
        if not result.won:
            assert result.request is not None
            return Reply(False, _already(result.request), result.request)
        failpoints.hit("after_approval")
        if passed is not None and result.request is not None:
            note = (
                f":fast_forward: {mention(user)} approved {request_id} after its scheduled time "
                f"({slack_date(passed)}) had passed, and chose to start it now instead."
            )
            self.spawn(self._post_thread(result.request, note), name=f"note {request_id}")
        self.spawn(self._after_approval(request_id), name=f"start {request_id}")
        return Reply(True, f"Approved {request_id}; starting.", result.request)

    async def confirm(self, request_id: str, user: str) -> Reply:
        """The requester starts a request of a project without approval whose list came from
        a name pattern or a file, having seen what matched."""
        check = await self.check_decision(request_id, user, "confirm")
        if not check.ok or check.request is None:
            return check
        comment = f"confirmed by the requester after seeing the {len(check.request.jobs):,} jobs"
        passed = _schedule_passed(check.request, self.clock())
        if passed is not None:
            return Reply(
                False,
                f"{request_id} was to start at {utc_text(passed)}, which has passed: cancel it "
                "and make a new request with a new time",
                check.request,
            )
        try:
            result = await self.store.decide(
                Verdict(
                    request_id,
                    target=RequestState.APPROVED,
                    actor=user,
                    now=self.clock(),
                    comment=comment,
                ),
                within=INTERACTIVE_WRITE_SECONDS,
            )
        except StoreUnavailable as exc:
            log.error("could not record the confirmation of %s: %s", request_id, exc)
            return Reply(False, _not_stored("your confirmation", exc), check.request)
        if not result.won:
            assert result.request is not None
            return Reply(False, _already(result.request), result.request)
        self.spawn(self._after_approval(request_id), name=f"start {request_id}")
        return Reply(True, f"Starting {request_id}.", result.request)

    async def _after_approval(self, request_id: str) -> None:
        # Sending refreshes the message (approved, starting) itself; one update, not two.
        if not await self.run_start(request_id, 1):
            await self.refresh_message(request_id)

    async def reject(self, request_id: str, user: str, reason: str) -> Reply:
        return await self._end(request_id, user, "reject", RequestState.REJECTED, reason)

    async def cancel(self, request_id: str, user: str) -> Reply:
        return await self._end(request_id, user, "cancel", RequestState.CANCELLED, None)

    async def _end(
        self, request_id: str, user: str, action: str, target: RequestState, comment: str | None
    ) -> Reply:
        check = await self.check_decision(request_id, user, action)
        if not check.ok:
            return check
        try:
            result = await self.store.decide(
                Verdict(request_id, target=target, actor=user, now=self.clock(), comment=comment),
                within=INTERACTIVE_WRITE_SECONDS,
            )
        except StoreUnavailable as exc:
            log.error("could not record the %s of %s: %s", action, request_id, exc)
            return Reply(False, _not_stored(f"the {action}", exc), check.request)
        assert result.request is not None
        if not result.won:
            return Reply(False, _already(result.request), result.request)
        self.spawn(self.refresh_message(request_id), name=f"refresh {request_id}")
        return Reply(True, f"{request_id} {target.value}.", result.request)

    async def expire(self, request_id: str) -> None:
        result = await self.store.decide(
            Verdict(
                request_id,
                target=RequestState.EXPIRED,
                actor=None,
                now=self.clock(),
                require_unexpired=False,
            )
        )
        if result.won:
            await self.refresh_message(request_id)

    # -- starting -------------------------------------------------------------------------------

    async def run_start(self, request_id: str, attempt: int) -> bool:
        """Send one claimed attempt to DRS, record the outcomes, post them. At most once.

        False when this call did not send it (not claimed, sent by someone else, no project).
        """
        start = await self.store.start(request_id, attempt)
        req = await self.store.get(request_id)
        if start is None or req is None or start.state is not StartState.CLAIMED:
            return False
        project = self.policy.project(req.project)
        if project is None:
            log.error("request %s: project %s is gone; not starting", request_id, req.project)
            return False
        lease = self.tuning.lease_seconds
        if not await self.store.mark_sent(
            request_id, attempt, now=self.clock(), owner=self.owner, lease=lease
        ):
            return False  # another process or task sent it
        self._working.add((request_id, attempt))
        renewing = asyncio.create_task(self._keep_lease(request_id, attempt))
        try:
            await self._send(req, start, project)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            self._working.discard((request_id, attempt))
        return True

    async def _keep_lease(self, request_id: str, attempt: int) -> None:
        """Renew the lease on a sent attempt while its DRS call lasts (cancelled after)."""
        lease = self.tuning.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                kept = await self.store.renew_lease(
                    request_id, attempt, owner=self.owner, until=self.clock() + lease
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
        request_id, attempt = req.id, start.attempt
        self.spawn(self.refresh_message(request_id), name=f"refresh {request_id}")
        passed = _schedule_passed(req, self.clock())
        if passed is not None:
            # Checked again right before sending: DRS must not get a start time in the past.
            await self._not_sent(req, attempt, f"its scheduled time ({utc_text(passed)}) passed")
            return
        drs = self.drs_for(project)
        try:
            report = await drs.batch_start(
                start.job_ids, start_time_ms=req.start_time_ms, language=req.language
            )
        except Exception:
            # A bug or an error the client did not classify: the body may have reached DRS.
            log.exception("batch start of %s raised; asking batch-status instead", request_id)
            await self.reconcile(request_id, attempt)
            return
        failpoints.hit("after_send")
        calls = [_call_detail(c, attempt) for c in report.calls]
        recorded = await self.store.record_outcomes(
            request_id,
            attempt,
            report.results,
            now=self.clock(),
            calls=calls,
            followup_interval=self.tuning.followup_interval,
            followup_max=self._followup_span(req),
        )
        failpoints.hit("after_record")
        if recorded is Recorded.RECORDED:
            await self.post_outcome(request_id, attempt)
        elif recorded is Recorded.MERGED:
            log.warning("%s#%d: DRS's answer came after a takeover; merged", request_id, attempt)
            merged = await self.store.get(request_id)
            if merged is not None:
                await self._update_outcome(merged)
                await self.refresh_message(request_id)

    async def _not_sent(self, req: StartRequest, attempt: int, why: str) -> None:
        """Record a sent-marked attempt as refused by the bot itself, before any DRS call."""
        start = await self.store.start(req.id, attempt)
        job_ids = start.job_ids if start is not None else req.job_ids
        message = f"not sent: {why} before it could be sent; make a new request"
        results = [JobResult(j, Outcome.FAILED, NOT_SENT_CODE, message) for j in job_ids]
        recorded = await self.store.record_outcomes(
            req.id,
            attempt,
            results,
            now=self.clock(),
            calls=[],
            followup_interval=self.tuning.followup_interval,
            followup_max=0.0,
        )
        if recorded is Recorded.RECORDED:
            await self.post_outcome(req.id, attempt)

    async def reconcile(self, request_id: str, attempt: int) -> None:
        """Record a ``sent`` attempt whose answer was lost, from what batch-status shows."""
        start = await self.store.start(request_id, attempt)
        req = await self.store.get(request_id)
        if start is None or req is None or start.state is not StartState.SENT:
            return
        project = self.policy.project(req.project)
        before = {j.job_id: j.status_at_request for j in req.jobs}
        statuses: dict[str, str | None] = {}
        calls: list[dict[str, object]] = []
        if project is not None:
            try:
                infos = await self.drs_for(project).batch_status(start.job_ids)
                statuses = {i.job_id: i.status for i in infos}
            except DrsError as exc:
                calls.append(_failure_detail(exc.failure, "batch-status", attempt))
        results = [_reconciled(j, statuses.get(j), before.get(j)) for j in start.job_ids]
        recorded = await self.store.record_outcomes(
            request_id,
            attempt,
            results,
            now=self.clock(),
            calls=calls,
            drs_statuses=statuses,
            followup_interval=self.tuning.followup_interval,
            followup_max=self._followup_span(req),
            recovered=True,
        )
        if recorded is Recorded.RECORDED:
            await self.post_outcome(request_id, attempt)

    async def take_over(self, start: Start) -> None:
        """Reconcile a sent attempt whose sender's lease expired (it died, or lost the
        database); nothing if the lease is still live or another process took it."""
        if await self.store.take_over(
            start.request_id,
            start.attempt,
            owner=self.owner,
            now=self.clock(),
            lease=self.tuning.lease_seconds,
        ):
            log.warning(
                "%s#%d: its sender's lease expired; asking DRS what became of it",
                start.request_id,
                start.attempt,
            )
            await self.reconcile(start.request_id, start.attempt)

    def _followup_span(self, req: StartRequest) -> float:
        span = self.tuning.followup_max
        if req.start_time_ms is not None:
            span += max(0.0, req.start_time_ms / 1000 - self.clock())
        return span

    async def post_outcome(self, request_id: str, attempt: int) -> None:
        """Post (once) the outcome of an attempt in the request's thread, with a CSV if large."""
        start = await self.store.start(request_id, attempt)
        req = await self.store.get(request_id)
        if start is None or req is None or start.state is not StartState.RECORDED:
            return
        if req.message_ts is None:
            await self.publish(request_id)
            req = await self.store.get(request_id)
            assert req is not None
            if req.message_ts is None:
                return
        msg = await self._outcome(req, attempt)
        ts: str | None = None
        if req.channel_problem is None:
            earlier = await self.store.begin_outcome_post(request_id, attempt, self.clock())
            try:
                ts = await self.notifier.post(
                    channel=req.channel_id,
                    thread_ts=req.message_ts,
                    text=msg.text,
                    blocks=msg.blocks,
                    marker=Marker("outcome", request_id, attempt),
                    earlier=earlier,
                )
            except ChannelLost as exc:
                await self._lose_channel(req, exc.error)
        if ts is None:
            await self.notifier.tell(
                req.requester_id,
                f"{msg.text}\nDetails: `/startjobs status {req.id}`.",
            )
        elif blocks.needs_csv(req):
            await self._upload_csv(req)
        failpoints.hit("after_post")
        if await self.store.mark_posted(request_id, attempt, ts) and ts is not None:
            await self.refresh_message(request_id)

    async def _upload_csv(self, req: StartRequest) -> None:
        from bot.core.summary import jobs_csv

        try:
            await self.slack.files_upload_v2(
                channel=req.channel_id,
                thread_ts=req.message_ts,
                content=jobs_csv(req.jobs),
                filename=f"{req.id}-jobs.csv",
                title=f"{req.id}: every job's outcome",
            )
        except SlackApiError as exc:
            log.error("CSV upload for %s failed: %s", req.id, exc.response.get("error"))

    async def _outcome(self, req: StartRequest, attempt: int) -> blocks.Message:
        """The thread's outcome message for ``attempt``, with a Retry button when one helps."""
        start = await self.store.start(req.id, attempt)
        msg = blocks.outcome_message(
            req,
            failures=await self._failures(req.id, attempt),
            attempt=attempt,
            actor=start.actor if start and attempt > 1 else None,
        )
        retryable = sum(1 for j in req.jobs if is_retryable(j))
        if retryable and await self._in_flight_until(req.id) is not None:
            retryable = 0  # DRS may still act on a dead sender's call: not yet
        retry = blocks.retry_button_blocks(req, retryable)
        if retry and len(msg.blocks) + len(retry) <= kit.MESSAGE_BLOCKS_MAX:
            return blocks.Message(msg.text, [*msg.blocks, *retry])
        return msg

    async def _failures(self, request_id: str, attempt: int) -> list[CallFailure]:
        out: list[CallFailure] = []
        for event in await self.store.events(request_id):
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

    async def refresh_message(self, request_id: str) -> bool:
        """Bring the channel message up to date with the request's state (buttons go away).

        False when Slack did not take the update (the message stays marked stale and
        maintenance tries again later)."""
        req = await self.store.get(request_id)
        if req is None or req.message_ts is None or req.channel_problem is not None:
            return True
        msg = blocks.request_message(
            req,
            now=self.clock(),
            source=await self.request_source(request_id),
            overlaps=await self.store.overlapping(request_id) if req.state.is_open else None,
        )
        try:
            await self.notifier.update(
                channel=req.channel_id, ts=req.message_ts, text=msg.text, blocks=msg.blocks
            )
        except ChannelLost as exc:
            await self._lose_channel(req, exc.error)
            return True
        except SlackUnavailable as exc:
            log.warning("updating the message of %s failed: %s", request_id, exc)
            await self.store.mark_message_stale(request_id, True)
            return False
        await self.store.mark_message_stale(request_id, False)
        return True

    async def _refresh_stale(self, request_id: str) -> None:
        if not await self.refresh_message(request_id):
            raise RetryLater(f"the message of {request_id} is still not up to date")

    # -- retry ----------------------------------------------------------------------------------

    async def retry(self, request_id: str, user: str) -> Reply:
        check = await self.check_decision(request_id, user, "retry")
        if not check.ok or check.request is None:
            return check
        req = check.request
        if not req.state.is_final or req.state in (
            RequestState.REJECTED,
            RequestState.CANCELLED,
            RequestState.EXPIRED,
        ):
            return Reply(False, f"{req.id} is {req.state.value}; nothing to retry", req)
        job_ids = [j.job_id for j in req.jobs if is_retryable(j)]
        if not job_ids:
            return Reply(False, "no job of this request can be retried now", req)
        until = await self._in_flight_until(request_id)
        if until is not None:
            return Reply(
                False,
                f"the last start of {req.id} was sent by a process that stopped mid-call, and "
                f"DRS may still act on it: Retry is possible from {utc_text(until)}",
                req,
            )
        start = await self.store.claim_retry(request_id, job_ids, actor=user, now=self.clock())
        if start is None:
            return Reply(False, "a start of this request is already in progress", req)
        self.spawn(self.run_start(request_id, start.attempt), name=f"retry {request_id}")
        return Reply(True, f"Retrying {len(job_ids)} job(s) of {request_id}.", req)

    # -- follow-up ------------------------------------------------------------------------------

    async def follow_up(self, request_id: str) -> None:
        """One polling round: refresh statuses, settle unknowns, update the outcome message."""
        now = self.clock()
        lease = max(self.tuning.followup_interval, 5.0)
        if not await self.store.claim_followup(request_id, now=now, lease=lease):
            return
        req = await self.store.get(request_id)
        project = self.policy.project(req.project) if req else None
        if req is None or project is None:
            await self.store.schedule_followup(request_id, next_at=None)
            return
        watched = [j for j in req.jobs if j.outcome in (Outcome.SUCCESS, Outcome.UNKNOWN)]
        try:
            infos = await self.drs_for(project).batch_status([j.job_id for j in watched])
        except DrsError as exc:
            log.warning("follow-up of %s: batch-status failed: %s", request_id, exc)
            await self.store.schedule_followup(
                request_id, next_at=now + self.tuning.followup_interval
            )
            return
        statuses = {i.job_id: i.status for i in infos}
        before = {j.job_id: j.drs_status for j in req.jobs}
        await self.store.update_drs_statuses(request_id, statuses)
        confirmed = {
            j.job_id: Outcome.SUCCESS
            for j in watched
            if j.outcome is Outcome.UNKNOWN
            and _started_phase(statuses.get(j.job_id))
            and not _started_phase(j.status_at_request)
        }
        if confirmed:
            await self.store.confirm_outcomes(request_id, confirmed)
        failed = {i.job_id: i for i in infos if phase_of(i.status) is Phase.FAILED}
        newly_failed = await self._failed_after_start(req, project, failed) if failed else []
        until = await self._in_flight_until(request_id)
        retry_opened = until is None and await self._retry_window_closed(request_id, now)
        changed = (
            any(before.get(k) != v for k, v in statuses.items())
            or bool(confirmed)
            or bool(newly_failed)
            or retry_opened
        )
        req = await self.store.get(request_id)
        assert req is not None
        if newly_failed:
            await self._post_thread(req, blocks.failed_after_start_text(req, newly_failed))
        settled = all(is_settled(statuses.get(j.job_id)) for j in watched)
        deadline = await self.store.followup_deadline(request_id) or now
        if changed and req.outcome_ts:
            await self._update_outcome(req)
        if changed:
            # The request message shows DRS's statuses too; maintenance refreshes it.
            await self.store.mark_message_stale(request_id, True)
        if settled:
            waiting = [j for j in watched if phase_of(statuses.get(j.job_id)) is Phase.WAITING]
            await self._settled(req)
            if waiting and req.start_time_ms is not None and req.start_time_ms / 1000 > now:
                # Follow the scheduled jobs again when their time comes.
                await self.store.schedule_followup(
                    request_id, next_at=req.start_time_ms / 1000 + self.tuning.followup_interval
                )
            else:
                await self.store.schedule_followup(request_id, next_at=None)
                await self.store.audit(request_id, AuditKind.FOLLOWUP, actor=None, now=now)
        elif now >= deadline:
            await self.store.schedule_followup(request_id, next_at=None)
            await self._post_thread(
                req,
                f"Stopped following {req.id}: some jobs had not settled after "
                f"{int(self.tuning.followup_max)} s. Check them with `/startjobs status {req.id}`.",
            )
        else:
            await self.store.schedule_followup(
                request_id, next_at=now + self.tuning.followup_interval
            )

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
                details = await self.drs_for(project).batch_detail(unexplained)
            except DrsError as exc:
                log.warning("batch-detail of failed jobs of %s failed: %s", req.id, exc)
                details = []
            for info in details:
                reasons[info.job_id] = info.extra.get("failed_reason") or info.error_msg
        return await self.store.fail_started(
            req.id,
            {
                job: (info.error_code or info.status or "FAILED", reasons.get(job) or None)
                for job, info in failed.items()
            },
            now=self.clock(),
        )

    async def _in_flight_until(self, request_id: str) -> float | None:
        """Until when a start that another process took over may still be acted on by DRS
        (its sender died mid-call): Retry waits until then. None: nothing may be in flight."""
        taken: dict[object, float] = {}
        for event in await self.store.events(request_id):
            attempt = event.detail.get("attempt")
            if event.kind is AuditKind.TAKEN_OVER:
                taken[attempt] = event.at
            elif event.kind is AuditKind.MERGED:
                taken.pop(attempt, None)  # the sender's own answer came: nothing in flight
        if not taken:
            return None
        until = max(taken.values()) + self.tuning.send_settle
        return until if until > self.clock() else None

    async def _retry_window_closed(self, request_id: str, now: float) -> bool:
        """True in the follow-up round right after a takeover's settle time ended."""
        for event in await self.store.events(request_id):
            if event.kind is AuditKind.TAKEN_OVER:
                opened = event.at + self.tuning.send_settle
                if now - self.tuning.followup_interval <= opened <= now:
                    return True
        return False

    async def _update_outcome(self, req: StartRequest) -> None:
        if req.outcome_ts is None or req.channel_problem is not None:
            return
        msg = await self._outcome(req, await self.store.last_attempt(req.id))
        try:
            await self.notifier.update(
                channel=req.channel_id, ts=req.outcome_ts, text=msg.text, blocks=msg.blocks
            )
        except ChannelLost as exc:
            await self._lose_channel(req, exc.error)
        except SlackUnavailable as exc:
            log.warning("updating the outcome of %s failed: %s", req.id, exc)

    async def _settled(self, req: StartRequest) -> None:
        if not await self.store.claim_settled_notice(req.id):
            return
        msg = blocks.settled_message(req)
        await self._post_thread(req, msg.text, msg.blocks)

    async def _post_thread(
        self, req: StartRequest, text: str, blocks_: list[dict[str, Any]] | None = None
    ) -> None:
        """A note in the request's thread; directly to the requester when the channel is
        lost."""
        if req.channel_problem is None:
            try:
                await self.slack.chat_postMessage(
                    channel=req.channel_id, thread_ts=req.message_ts, text=text, blocks=blocks_
                )
                return
            except SlackApiError as exc:
                error = str(exc.response.get("error", "unknown_error"))
                if error not in CHANNEL_LOST_ERRORS:
                    log.warning("thread post for %s failed: %s", req.id, error)
                    return
                await self._lose_channel(req, error)
        await self.notifier.tell(req.requester_id, text)

    # -- choosing jobs without typing their IDs ---------------------------------------------------

    async def search_jobs(self, project_name: str, text: str, *, limit: int = 100) -> list[JobInfo]:
        """Jobs of every type whose name DRS matches with ``text`` (its job-list ``name``
        filter), at most ``limit`` per type, one DRS call per type, made concurrently.

        For the modal's search as the user types. An unknown project finds nothing; a failed
        call raises :class:`DrsError`.
        """
        project = self.policy.project(project_name)
        if project is None:
            return []
        drs = self.drs_for(project)
        found = await asyncio.gather(
            *(drs.list_jobs(db_use_type=t, name=text or None, limit=limit) for t in DB_USE_TYPES)
        )
        return [info for part in found for info in part]

    async def select_jobs(
        self, project_name: str, selection: Selection, *, max_jobs: int
    ) -> Resolved:
        """The project's jobs that ``selection`` matches now, read page by page from DRS's job
        list (the pattern's literal prefix as DRS's ``name`` filter, the status too; the
        pattern, status and type are then checked here).

        At most ``10 * max_jobs`` listed jobs are read per type; past that the result is
        marked incomplete and :meth:`Resolved.problem` refuses it. A failed call raises
        :class:`DrsError`; an unknown project matches nothing.
        """
        project = self.policy.project(project_name)
        if project is None:
            return resolve(selection, [], max_jobs=max_jobs)
        drs = self.drs_for(project)
        scan = max(10 * max_jobs, 1000)
        listed = await asyncio.gather(
            *(
                drs.list_jobs(
                    db_use_type=t, name=selection.drs_name, status=selection.status, limit=scan
                )
                for t in selection.db_use_types
            )
        )
        complete = all(len(part) < scan for part in listed)
        infos = [info for part in listed for info in part]
        return resolve(selection, infos, max_jobs=max_jobs, complete=complete)

    async def request_source(self, request_id: str) -> str | None:
        """Where a request's list came from, as recorded when it was made (None: typed)."""
        for event in await self.store.events(request_id):
            if event.kind is AuditKind.REQUESTED:
                source = event.detail.get("source")
                return source if isinstance(source, str) and source else None
        return None

    async def _post_job_list(self, request_id: str) -> None:
        """Attach the frozen job list of a request made by name pattern or upload as a CSV in
        its thread (a typed list is short and shown on the message). Best effort: the list
        itself is in the store; a failed upload is logged."""
        req = await self.store.get(request_id)
        if req is None or req.message_ts is None:
            return
        source = await self.request_source(request_id)
        if source is None:
            return
        content = frozen_list_csv(
            ListedJob(j.job_id, j.name, j.status_at_request, j.prepaid) for j in req.jobs
        )
        msg = blocks.job_list_comment(req, source=source)
        try:
            await self.slack.files_upload_v2(
                channel=req.channel_id,
                thread_ts=req.message_ts,
                content=content,
                filename=f"{req.id}-requested-jobs.csv",
                title=f"{req.id}: the {len(req.jobs):,} requested jobs",
                initial_comment=msg,
            )
        except SlackApiError as exc:
            log.error("job list upload for %s failed: %s", req.id, exc.response.get("error"))

    # -- maintenance ----------------------------------------------------------------------------

    async def maintain(self) -> None:
        """Finish what a crash or a failed call left behind; expire; follow up.

        Each piece of work is an item of its own (:class:`bot.service.work.WorkItems`): one
        that fails is retried with backoff and never stops the others. Safe to run in several
        processes at once: every step is claimed by a conditional update; a sent start is
        reconciled only once its sender's lease expired, other work only once it is older
        than ``recovery_grace`` (so a live process's in-flight work is left to it).
        """
        now = self.clock()
        grace = self.tuning.recovery_grace
        items: list[tuple[str, Callable[[], Awaitable[object]]]] = []
        for rid in await self.store.expired_pending(now):
            items.append((f"expiring {rid}", functools.partial(self.expire, rid)))
        for rid in await self.store.unconfirmed(now - grace):
            items.append((f"publishing {rid}", functools.partial(self.publish_and_run, rid)))
        for start in await self.store.starts_in(StartState.CLAIMED):
            if now - start.created_at >= grace:
                key = f"starting {start.request_id}#{start.attempt}"
                items.append((key, functools.partial(self._resume_claimed, start)))
        for start in await self.store.starts_in(StartState.SENT):
            if (start.request_id, start.attempt) in self._working:
                continue
            if start.lease_until is not None and start.lease_until > now:
                continue  # its sender is alive and renewing
            key = f"reconciling {start.request_id}#{start.attempt}"
            items.append((key, functools.partial(self.take_over, start)))
        for start in await self.store.starts_in(StartState.RECORDED):
            if (start.request_id, start.attempt) in self._working:
                continue
            if now - start.created_at >= grace:
                key = f"posting the outcome of {start.request_id}#{start.attempt}"
                items.append(
                    (key, functools.partial(self.post_outcome, start.request_id, start.attempt))
                )
        for rid in await self.store.stale_messages():
            items.append(
                (f"updating the message of {rid}", functools.partial(self._refresh_stale, rid))
            )
        for rid in await self.store.due_followups(now):
            items.append((f"following up {rid}", functools.partial(self.follow_up, rid)))
        self.items.keep_only(key for key, _ in items)
        for key, work in items:
            await self.items.run(key, work)

    async def _resume_claimed(self, start: Start) -> None:
        req = await self.store.get(start.request_id)
        if req is not None and req.message_ts is None:
            await self.publish(start.request_id)
        await self.run_start(start.request_id, start.attempt)

    async def run_maintenance(self, every: float) -> None:
        """Run :meth:`maintain` forever, ``every`` seconds apart (a background task). A round
        that cannot even list its work (the database down) is logged once with its traceback,
        then in one line a round until one succeeds."""
        failing = 0
        while True:
            try:
                await self.maintain()
            except Exception as exc:
                failing += 1
                if failing == 1:
                    log.exception("maintenance round failed; next round in %.1f s", every)
                else:
                    log.warning("maintenance round failed again (%s: %s)", type(exc).__name__, exc)
            else:
                if failing:
                    log.info("maintenance rounds work again after %d failures", failing)
                failing = 0
            await asyncio.sleep(every)


def _schedule_passed(req: StartRequest, now: float) -> float | None:
    """When a scheduled request was to start, if that time has passed (else None)."""
    if req.start_time_ms is None or req.start_time_ms / 1000 > now:
        return None
    return req.start_time_ms / 1000


def _not_stored(what: str, exc: StoreUnavailable) -> str:
    return (
        f"The bot could not save {what} just now ({exc}), so nothing was stored or changed. "
        "Try again in a moment; if it keeps failing, tell whoever runs the bot."
    )


def _already(req: StartRequest) -> str:
    verb = {
        RequestState.APPROVED: "approved",
        RequestState.STARTING: "approved",
        RequestState.DONE: "approved",
        RequestState.FAILED: "approved",
        RequestState.UNKNOWN: "approved",
        RequestState.REJECTED: "rejected",
        RequestState.CANCELLED: "cancelled",
        RequestState.EXPIRED: "expired",
    }.get(req.state, req.state.value)
    who = f" by {mention(req.decided_by)}" if req.decided_by else ""
    when = f" at {utc_text(req.decided_at)}" if req.decided_at else ""
    return f"{req.id} was already {verb}{who}{when}."


def _started_phase(status: str | None) -> bool:
    return phase_of(status) in (Phase.STARTING, Phase.WAITING, Phase.TRANSFERRING)


def _reconciled(job_id: str, status: str | None, before: str | None) -> JobResult:
    """A job's outcome from batch-status after its start answer was lost."""
    phase = phase_of(status)
    if _started_phase(status) and not _started_phase(before):
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

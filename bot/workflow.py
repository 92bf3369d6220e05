"""The service layer: create, decide, start, report, follow up, recover.

The only module that combines the store, DRS and the Slack Web API. Listeners call it after
they have acked; it never formats Block Kit itself (``bot.slack.blocks`` does) and never parses
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
import logging
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import failpoints
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
from bot.slack import blocks, kit
from bot.slack.directory import Directory, GroupLookupError
from bot.slack.mrkdwn import escape, mention, utc_text
from bot.store import AsyncStore, Start, StartState, StoreUnavailable, Verdict

log = logging.getLogger(__name__)

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
    ) -> None:
        self.store = store
        self.slack = slack
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

    async def may_read(self, user: str, channel: str) -> bool:
        """Status and history are for the people the policy names, in channels it allows."""
        for project in self.policy.projects.values():
            if project.channels is not None and channel not in project.channels:
                continue
            if user in project.requesters or user in project.approvers:
                return True
            try:
                groups = await self._groups(user, project)
            except GroupLookupError:
                continue
            if groups & (project.requesters | project.approvers):
                return True
        return False

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
        )
        try:
            resp = await self.slack.chat_postMessage(
                channel=req.channel_id, text=msg.text, blocks=msg.blocks
            )
        except SlackApiError as exc:
            await self._cannot_post(req, exc)
            return
        await self.store.set_message_ts(request_id, str(resp["ts"]))
        await self._post_job_list(request_id)

    async def _cannot_post(self, req: StartRequest, exc: SlackApiError) -> None:
        error = str(exc.response.get("error", "unknown_error"))
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
        text = (
            f":warning: I could not post request {req.id} in <#{req.channel_id}> ({error}): "
            f"{hint}. Nothing was started."
        )
        try:
            await self.slack.chat_postMessage(channel=req.requester_id, text=text)
        except SlackApiError:
            log.exception("could not tell %s either", req.requester_id)

    # -- decisions ------------------------------------------------------------------------------

    async def check_decision(self, request_id: str, user: str, action: str) -> Reply:
        """Re-check ``user`` against the policy *now* for approve/reject/cancel/retry."""
        req = await self.store.get(request_id)
        if req is None:
            return Reply(False, "this request is not known to the bot")
        now = self.clock()
        if action in ("approve", "reject", "cancel") and not req.state.is_open:
            return Reply(False, _already(req), req)
        if action in ("approve", "reject", "cancel") and req.expires_at <= now:
            await self.expire(req.id)
            return Reply(False, "this request has expired; make a new one", req)
        project = self.policy.project(req.project)
        if project is None:
            return Reply(False, f"project {req.project!r} is no longer configured", req)
        if action == "cancel":
            decision = may_cancel(req, user)
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

    async def approve(self, request_id: str, user: str, comment: str | None) -> Reply:
        check = await self.check_decision(request_id, user, "approve")
        if not check.ok:
            return check
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
            log.error("could not record the approval of %s: %s", request_id, exc)
            return Reply(False, _not_stored("your approval", exc), check.request)
        if not result.won:
            assert result.request is not None
            return Reply(False, _already(result.request), result.request)
        failpoints.hit("after_approval")
        self.spawn(self._after_approval(request_id), name=f"start {request_id}")
        return Reply(True, f"Approved {request_id}; starting.", result.request)

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
        if not await self.store.mark_sent(request_id, attempt, now=self.clock()):
            return False  # another process or task sent it
        self._working.add((request_id, attempt))
        try:
            await self._send(req, start, project)
        finally:
            self._working.discard((request_id, attempt))
        return True

    async def _send(self, req: StartRequest, start: Start, project: ProjectPolicy) -> None:
        request_id, attempt = req.id, start.attempt
        self.spawn(self.refresh_message(request_id), name=f"refresh {request_id}")
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
        await self.store.record_outcomes(
            request_id,
            attempt,
            report.results,
            now=self.clock(),
            calls=calls,
            followup_interval=self.tuning.followup_interval,
            followup_max=self._followup_span(req),
        )
        failpoints.hit("after_record")
        await self.post_outcome(request_id, attempt)

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
        if await self.store.record_outcomes(
            request_id,
            attempt,
            results,
            now=self.clock(),
            calls=calls,
            drs_statuses=statuses,
            followup_interval=self.tuning.followup_interval,
            followup_max=self._followup_span(req),
            recovered=True,
        ):
            await self.post_outcome(request_id, attempt)

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
        resp = await self.slack.chat_postMessage(
            channel=req.channel_id, thread_ts=req.message_ts, text=msg.text, blocks=msg.blocks
        )
        ts = str(resp["ts"])
        if blocks.needs_csv(req):
            await self._upload_csv(req)
        failpoints.hit("after_post")
        await self.store.mark_posted(request_id, attempt, ts)
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
        retry = blocks.retry_button_blocks(req, sum(1 for j in req.jobs if is_retryable(j)))
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

    async def refresh_message(self, request_id: str) -> None:
        """Bring the channel message up to date with the request's state (buttons go away)."""
        req = await self.store.get(request_id)
        if req is None or req.message_ts is None:
            return
        msg = blocks.request_message(req, now=self.clock(), source=await self.request_source(request_id))
        try:
            await self.slack.chat_update(
                channel=req.channel_id, ts=req.message_ts, text=msg.text, blocks=msg.blocks
            )
        except SlackApiError as exc:
            log.warning("chat.update of %s failed: %s", request_id, exc.response.get("error"))
            await self.store.mark_message_stale(request_id, True)
            return
        await self.store.mark_message_stale(request_id, False)

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
            await self.store.schedule_followup(request_id, next_at=now + self.tuning.followup_interval)
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
        changed = any(before.get(k) != v for k, v in statuses.items()) or bool(confirmed)
        req = await self.store.get(request_id)
        assert req is not None
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
            await self.store.schedule_followup(request_id, next_at=now + self.tuning.followup_interval)

    async def _update_outcome(self, req: StartRequest) -> None:
        if req.outcome_ts is None:
            return
        msg = await self._outcome(req, await self.store.last_attempt(req.id))
        try:
            await self.slack.chat_update(
                channel=req.channel_id, ts=req.outcome_ts, text=msg.text, blocks=msg.blocks
            )
        except SlackApiError as exc:
            log.warning("updating the outcome of %s failed: %s", req.id, exc.response.get("error"))

    async def _settled(self, req: StartRequest) -> None:
        if not await self.store.claim_settled_notice(req.id):
            return
        msg = blocks.settled_message(req)
        await self._post_thread(req, msg.text, msg.blocks)

    async def _post_thread(
        self, req: StartRequest, text: str, blocks_: list[dict[str, Any]] | None = None
    ) -> None:
        try:
            await self.slack.chat_postMessage(
                channel=req.channel_id, thread_ts=req.message_ts, text=text, blocks=blocks_
            )
        except SlackApiError as exc:
            log.warning("thread post for %s failed: %s", req.id, exc.response.get("error"))

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
        """Finish what a crash or a failed Slack call left behind; expire; follow up.

        Safe to run in several processes at once: every step is claimed by a conditional
        update, and work younger than ``recovery_grace`` is left to whoever is doing it.
        """
        now = self.clock()
        grace = self.tuning.recovery_grace
        for rid in await self.store.expired_pending(now):
            await self.expire(rid)
        for rid in await self.store.unconfirmed(now - grace):
            await self.publish_and_run(rid)
        for start in await self.store.starts_in(StartState.CLAIMED):
            if now - start.created_at >= grace:
                req = await self.store.get(start.request_id)
                if req is not None and req.message_ts is None:
                    await self.publish(start.request_id)
                await self.run_start(start.request_id, start.attempt)
        for start in await self.store.starts_in(StartState.SENT):
            if (start.request_id, start.attempt) in self._working:
                continue
            if start.sent_at is not None and now - start.sent_at >= grace:
                await self.reconcile(start.request_id, start.attempt)
        for start in await self.store.starts_in(StartState.RECORDED):
            if (start.request_id, start.attempt) in self._working:
                continue
            if now - start.created_at >= grace:
                await self.post_outcome(start.request_id, start.attempt)
        for rid in await self.store.stale_messages():
            await self.refresh_message(rid)
        for rid in await self.store.due_followups(now):
            await self.follow_up(rid)

    async def run_maintenance(self, every: float) -> None:
        """Run :meth:`maintain` forever, ``every`` seconds apart (a background task)."""
        while True:
            try:
                await self.maintain()
            except Exception:
                log.exception("maintenance round failed; next round in %.1f s", every)
            await asyncio.sleep(every)

    # -- reading --------------------------------------------------------------------------------

    async def job_statuses(self, user: str, channel: str, job_ids: Sequence[str]) -> Reply:
        """``/startjobs status <job ids>``: what DRS says now (name and status), looked up in
        the projects the user may use here; each job shown once, from the first project that
        knows it."""
        projects, _ = await self.requestable(user, channel)
        if not projects:
            return Reply(False, "you may not request in any project from this channel")
        found: dict[str, JobInfo] = {}
        for project in projects:
            missing = [j for j in job_ids if j not in found]
            if not missing:
                break
            try:
                infos = await self.drs_for(project).batch_detail(missing)
            except DrsError as exc:
                return Reply(False, f"DRS ({project.name}) answered: {escape(str(exc))}")
            found.update((i.job_id, i) for i in infos if i.status is not None)
        msg = blocks.job_status_message([found.get(j, JobInfo(job_id=j)) for j in job_ids])
        return Reply(True, msg.text, blocks=msg.blocks)


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

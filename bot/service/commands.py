"""What answers a person: access checks, submitting a request, decisions on it, Retry, and
the job searches of the request form.

Each use case checks the person against the policy *now* (never trusting a button), makes
its change with one conditional update in the store, answers, and hands what may take longer
(posting, starting) to a background task (:class:`bot.service.context.Tasks`). A write made
before the person's answer is made within :data:`bot.service.model.INTERACTIVE_WRITE_SECONDS`
or not at all, and the answer says which.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.policy import Decision as PolicyDecision
from bot.core.policy import (
    ProjectPolicy,
    may_approve,
    may_cancel,
    may_reject,
    may_request,
    may_retry,
)
from bot.core.precheck import PrecheckRule
from bot.core.request import Approval, AuditKind, RequestJob, RequestState, StartRequest
from bot.core.status import is_retryable
from bot.core.text import utc_text
from bot.service import deciding, failpoints, freezes
from bot.service.context import Context
from bot.service.model import (
    INTERACTIVE_WRITE_SECONDS,
    Draft,
    Reply,
    new_request_id,
    schedule_passed,
)
from bot.service.outcomes import in_flight_until
from bot.service.ports import StartedNowInstead, StoreUnavailable
from bot.service.shown import ShownRequests
from bot.service.steps import Steps

log = logging.getLogger(__name__)

DECISIONS = ("approve", "reject", "cancel", "confirm")  # taken only on a pending request


@dataclass
class _RateLimiter:
    per_minute: int
    clock: Callable[[], float]
    _seen: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def allow(self, user: str) -> bool:
        """Count one request of ``user`` if the last minute has room for it."""
        now = self.clock()
        q = self._seen[user]
        while q and now - q[0] >= 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(now)
        return True

    def give_back(self, user: str) -> None:
        """Uncount the last request :meth:`allow` counted (it was not made after all)."""
        q = self._seen[user]
        if q:
            q.pop()


class Commands:
    def __init__(
        self, ctx: Context, steps: Steps, *, new_id: Callable[[], str] = new_request_id
    ) -> None:
        self.ctx = ctx
        self.steps = steps
        self.new_id = new_id
        self._limiter = _RateLimiter(ctx.tuning.user_requests_per_minute, ctx.clock)
        self._shown = ShownRequests(ctx.clock)
        ctx.on_change.append(self._shown.forget)  # decided: no form may decide it again

    # -- access -------------------------------------------------------------------------------

    async def _groups(self, user: str, project: ProjectPolicy) -> frozenset[str]:
        return await self.ctx.directory.groups_of(user, project.groups())

    async def requestable(self, user: str, channel: str) -> tuple[list[ProjectPolicy], list[str]]:
        """Projects ``user`` may request in from ``channel``, and why others are not offered."""
        allowed: list[ProjectPolicy] = []
        notes: list[str] = []
        for project in self.ctx.policy.projects.values():
            try:
                groups = await self._groups(user, project)
            except LookupError as exc:
                notes.append(f"{project.name}: {exc}")
                continue
            if may_request(project, user, groups, channel).allowed:
                allowed.append(project)
        return allowed, notes

    async def check_request(self, user: str, project_name: str, channel: str) -> PolicyDecision:
        project = self.ctx.policy.project(project_name)
        if project is None:
            return PolicyDecision(False, f"there is no project named {project_name!r}")
        try:
            groups = await self._groups(user, project)
        except LookupError as exc:
            return PolicyDecision(False, str(exc))
        return may_request(project, user, groups, channel)

    # -- a new request ------------------------------------------------------------------------

    async def submit(self, draft: Draft) -> Reply:
        """Check and store a request, then publish it in the background.

        Stored before returning, so an answer sent after this loses nothing.
        """
        ctx = self.ctx
        decision = await self.check_request(draft.requester_id, draft.project, draft.channel_id)
        if not decision.allowed:
            return Reply(False, decision.reason)
        frozen = await freezes.submit_refusal(ctx, draft.project, draft.start_time_ms, draft.tz)
        if frozen is not None:
            return Reply(False, frozen, code="freeze")
        if not self._limiter.allow(draft.requester_id):
            return Reply(
                False,
                f"you made {ctx.tuning.user_requests_per_minute} requests in the last minute; "
                "wait a minute before the next one",
            )
        project = ctx.policy.project(draft.project)
        assert project is not None
        now = ctx.clock()
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
            expires_at=now + ctx.tuning.expire_seconds,
        )
        detail: dict[str, object] = {"jobs": len(req.jobs), "project": req.project}
        detail["start_time_ms"] = req.start_time_ms
        if draft.source:
            detail["source"] = draft.source
        try:
            await ctx.store.insert_request(
                req,
                actor=draft.requester_id,
                detail=detail,
                within=INTERACTIVE_WRITE_SECONDS,
                owner=ctx.owner,
            )
        except StoreUnavailable as exc:
            log.error("could not store a request of %s: %s", draft.requester_id, exc)
            self._limiter.give_back(draft.requester_id)  # nothing was made: it does not count
            return Reply(False, deciding.not_stored("your request", exc))
        ctx.changed(req.id)
        if ctx.handoff is not None:  # an answering replica: a working one posts it
            ctx.handoff.publish(req.id)
        else:
            ctx.tasks.spawn(self.steps.publish_and_run(req.id), name=f"publish {req.id}")
        return Reply(True, f"Request {req.id} created", req)

    # -- decisions ----------------------------------------------------------------------------

    async def open_form(self, request_id: str, user: str, action: str) -> Reply:
        """:meth:`check_decision` before opening the approve or reject form; the request it
        shows is kept for the form's submission (:mod:`bot.service.shown`)."""
        check = await self.check_decision(request_id, user, action)
        if check.ok and check.request is not None:
            self._shown.keep(check.request)
        return check

    async def check_decision(
        self, request_id: str, user: str, action: str, *, submitted: bool = False
    ) -> Reply:
        """Re-check ``user`` against the policy *now* for approve, reject, cancel, confirm or
        retry. ``submitted``: the answer to an approve or reject form, checked on the request
        as the form showed it when this process opened it, and with an approval's prechecks
        left to the decision's conditional update (:mod:`bot.service.shown`)."""
        ctx = self.ctx
        req = self._shown.get(request_id) if submitted else None
        if req is None:
            req = await ctx.store.get(request_id)
        if req is None:
            return Reply(False, "this request is not known to the bot")
        now = ctx.clock()
        if action in DECISIONS and not req.state.is_open:
            return Reply(False, deciding.already(req), req)
        if action in DECISIONS and req.expires_at <= now:
            await self.steps.publishing.expire(req.id)
            return Reply(False, "this request has expired; make a new one", req)
        project = ctx.policy.project(req.project)
        if project is None:
            return Reply(False, f"project {req.project!r} is no longer configured", req)
        if action in ("cancel", "confirm"):
            decision = may_cancel(req, user)  # the requester's own word
            if action == "confirm" and decision.allowed and req.approval is not Approval.NONE:
                decision = PolicyDecision(False, "this request needs an approver's approval")
        else:
            try:
                groups = await self._groups(user, project)
            except LookupError as exc:
                return Reply(False, str(exc), req)
            decide = {"approve": may_approve, "reject": may_reject, "retry": may_retry}[action]
            decision = decide(project, req, user, groups)
        if not decision.allowed:
            await ctx.store.audit(
                req.id, AuditKind.REFUSED, actor=user, now=now, detail={"action": action}
            )
            return Reply(False, decision.reason, req)
        if action == "approve" and not submitted:
            held = await deciding.precheck_refusal(ctx, self.steps, req, project, user)
            if held is not None:
                return held
        return Reply(True, "", req)

    async def approve(
        self,
        request_id: str,
        user: str,
        comment: str | None,
        *,
        start_now: bool = False,
        override: str | None = None,
        tz: str | None = None,
    ) -> Reply:
        """Approve and start. A request whose scheduled time has passed is approved only with
        ``start_now`` (the approver chose "start now instead"); else the reply's ``code`` is
        ``"schedule_passed"`` and nothing changes. In a change freeze, see :mod:`.freezes`."""
        check = await self.check_decision(request_id, user, "approve", submitted=True)
        if not check.ok or check.request is None:
            return check
        passed = schedule_passed(check.request, self.ctx.clock())
        if passed and not start_now:
            return Reply(
                False,
                f"{request_id} was to start at {utc_text(passed)}, which has passed. Tick "
                "“Start now instead” to start it now, or reject it and ask for a new request.",
                check.request,
                code="schedule_passed",
            )
        frozen = await freezes.at_approval(self.ctx, check.request, user, passed is not None, tz)
        if frozen is not None and not frozen.allows(override):
            return frozen.reply(check.request, override)
        project = self.ctx.policy.project(check.request.project)
        reply = await deciding.decide(
            self.ctx,
            self.steps,
            check.request,
            RequestState.APPROVED,
            user,
            comment,
            start_now=passed is not None,
            what="your approval",
            # The prechecks are read under the row's lock, with the state (check_decision
            # left them to this).
            require_prechecks=project is not None and project.precheck is PrecheckRule.REQUIRE,
        )
        if not reply.ok or reply.request is None:
            return reply
        failpoints.hit("after_approval")
        if frozen is not None and override:
            await freezes.broke_glass(self.ctx, self.steps, reply.request, user, frozen, override)
        if passed is not None:
            self.ctx.tasks.spawn(
                self.steps.publishing.note(reply.request, StartedNowInstead(user, passed)),
                name=f"note {request_id}",
            )
        self._send_start(request_id, 1, decided=reply.request)
        return Reply(True, f"Approved {request_id}; starting.", reply.request)

    async def confirm(self, request_id: str, user: str) -> Reply:
        """The requester starts a request of a project without approval whose list came from
        a name pattern or a file, having seen what matched."""
        check = await self.check_decision(request_id, user, "confirm")
        if not check.ok or check.request is None:
            return check
        passed = schedule_passed(check.request, self.ctx.clock())
        if passed is not None:
            return Reply(
                False,
                f"{request_id} was to start at {utc_text(passed)}, which has passed: cancel it "
                "and make a new request with a new time",
                check.request,
            )
        jobs = len(check.request.jobs)
        comment = f"confirmed by the requester after seeing the {jobs:,} jobs"
        reply = await deciding.decide(
            self.ctx,
            self.steps,
            check.request,
            RequestState.APPROVED,
            user,
            comment,
            what="your confirmation",
        )
        if not reply.ok:
            return reply
        self._send_start(request_id, 1, decided=reply.request)
        return Reply(True, f"Starting {request_id}.", reply.request)

    async def reject(self, request_id: str, user: str, reason: str) -> Reply:
        return await self._end(
            request_id, user, "reject", RequestState.REJECTED, reason, submitted=True
        )

    async def cancel(self, request_id: str, user: str) -> Reply:
        return await self._end(request_id, user, "cancel", RequestState.CANCELLED, None)

    async def _end(
        self,
        request_id: str,
        user: str,
        action: str,
        target: RequestState,
        comment: str | None,
        *,
        submitted: bool = False,
    ) -> Reply:
        check = await self.check_decision(request_id, user, action, submitted=submitted)
        if not check.ok or check.request is None:
            return check
        reply = await deciding.decide(
            self.ctx, self.steps, check.request, target, user, comment, what=f"the {action}"
        )
        if not reply.ok:
            return reply
        self.ctx.tasks.spawn(
            self.steps.publishing.refresh_message(request_id), name=f"refresh {request_id}"
        )
        return Reply(True, f"{request_id} {target.value}.", reply.request)

    # -- retry --------------------------------------------------------------------------------

    async def retry(self, request_id: str, user: str) -> Reply:
        ctx = self.ctx
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
        until = await in_flight_until(self.ctx, request_id)
        if until is not None:
            return Reply(
                False,
                f"the last start of {req.id} was sent by a process that stopped mid-call, and "
                f"DRS may still act on it: Retry is possible from {utc_text(until)}",
                req,
            )
        start = await ctx.store.claim_retry(
            request_id, job_ids, actor=user, now=ctx.clock(), owner=ctx.owner
        )
        if start is None:
            return Reply(False, "a start of this request is already in progress", req)
        self._send_start(request_id, start.attempt)
        return Reply(True, f"Retrying {len(job_ids)} job(s) of {request_id}.", req)

    def _send_start(
        self, request_id: str, attempt: int, *, decided: StartRequest | None = None
    ) -> None:
        """Have a claimed attempt sent: by this process, or (an answering replica) by a
        working replica, woken by a note (bot.service.handoff). ``decided``: the request as
        this process's approval left it (:meth:`Steps.run_start`)."""
        if self.ctx.handoff is not None:
            self.ctx.handoff.start(request_id, attempt)
        else:
            self.steps.spawn_start(request_id, attempt, decided=decided)

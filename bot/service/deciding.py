"""Making a decision the policy allowed: one conditional update in the store, and, when it
was not made, why (another decision first, the request expired, a job's precheck not passed)
or that nothing could be stored in time."""

from __future__ import annotations

import logging

from bot.core.policy import ProjectPolicy
from bot.core.request import AuditKind, RequestState, StartRequest
from bot.core.text import mention, utc_text
from bot.service.context import Context
from bot.service.model import INTERACTIVE_WRITE_SECONDS, Reply
from bot.service.ports import StoreUnavailable, Verdict
from bot.service.steps import Steps

log = logging.getLogger(__name__)


async def decide(
    ctx: Context,
    steps: Steps,
    req: StartRequest,
    target: RequestState,
    user: str,
    comment: str | None,
    *,
    what: str,
    start_now: bool = False,
    require_prechecks: bool = False,
) -> Reply:
    """Move ``req`` to ``target`` if it is still pending (unexpired, and with
    ``require_prechecks`` every job's precheck passed); ``what`` names the decision in a
    refusal."""
    verdict = Verdict(
        req.id,
        target=target,
        actor=user,
        now=ctx.clock(),
        comment=comment,
        start_now=start_now,
        owner=ctx.owner,
        require_prechecks=require_prechecks,
    )
    try:
        result = await ctx.store.decide(verdict, within=INTERACTIVE_WRITE_SECONDS)
    except StoreUnavailable as exc:
        log.error("could not record %s of %s: %s", what, req.id, exc)
        return Reply(False, not_stored(what, exc), req)
    assert result.request is not None
    if not result.won:
        return await _held(ctx, steps, verdict, result.request)
    ctx.changed(req.id)
    return Reply(True, "", result.request)


async def precheck_refusal(
    ctx: Context, steps: Steps, req: StartRequest, project: ProjectPolicy, user: str
) -> Reply | None:
    """The refusal of ``user``'s approval of ``req`` while its jobs' prechecks have not
    passed (recorded on its audit trail), or None when the project's rule lets it go ahead."""
    held = await steps.prechecking.refusal(req, project)
    if held is None:
        return None
    detail: dict[str, object] = {"action": "approve", "precheck": "not passed"}
    await ctx.store.audit(req.id, AuditKind.REFUSED, actor=user, now=ctx.clock(), detail=detail)
    return Reply(False, held, req, code="precheck")


async def _held(ctx: Context, steps: Steps, verdict: Verdict, req: StartRequest) -> Reply:
    """Why ``verdict`` was not made on ``req`` (as it is now)."""
    if not req.state.is_open:
        return Reply(False, already(req), req)
    if verdict.require_unexpired and req.expires_at <= verdict.now:
        return Reply(False, "this request has expired; make a new one", req)
    project = ctx.policy.project(req.project)
    if verdict.require_prechecks and project is not None and verdict.actor is not None:
        held = await precheck_refusal(ctx, steps, req, project, verdict.actor)
        if held is not None:
            return held
    # A precheck passed between the decision and this look: nothing was decided.
    return Reply(False, "the request changed while you decided; nothing was done, try again")


def not_stored(what: str, exc: StoreUnavailable) -> str:
    return (
        f"The bot could not save {what} just now ({exc}), so nothing was stored or changed. "
        "Try again in a moment; if it keeps failing, tell whoever runs the bot."
    )


def already(req: StartRequest) -> str:
    """That another decision was taken on ``req`` first, by whom and when."""
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

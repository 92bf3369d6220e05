"""What an attempt's outcome shows beside its jobs, and when Retry may be offered."""

from __future__ import annotations

from bot.core.model import CallFailure, CallFailureKind
from bot.core.request import AuditKind, StartRequest
from bot.core.status import is_retryable
from bot.service.context import Context
from bot.service.ports import OutcomeView


async def outcome_view(ctx: Context, req: StartRequest, attempt: int) -> OutcomeView:
    """What the outcome of ``attempt`` shows: the whole-call failures, who retried, and
    how many jobs Retry may send again now."""
    start = await ctx.store.start(req.id, attempt)
    retryable = sum(1 for j in req.jobs if is_retryable(j))
    if retryable and await in_flight_until(ctx, req.id) is not None:
        retryable = 0  # DRS may still act on a dead sender's call: not yet
    return OutcomeView(
        attempt=attempt,
        failures=await _failures(ctx, req.id, attempt),
        actor=start.actor if start and attempt > 1 else None,
        retryable=retryable,
    )


async def retry_opens_at(ctx: Context, request_id: str) -> float | None:
    """When Retry becomes possible after the latest takeover whose sender never answered
    (DRS may act on its call until ``send_settle`` after the takeover); None when no takeover
    holds Retry back."""
    taken: dict[object, float] = {}
    for event in await ctx.store.events(request_id):
        attempt = event.detail.get("attempt")
        if event.kind is AuditKind.TAKEN_OVER:
            taken[attempt] = event.at
        elif event.kind is AuditKind.MERGED:
            taken.pop(attempt, None)  # the sender's own answer came: nothing in flight
    return max(taken.values()) + ctx.tuning.send_settle if taken else None


async def in_flight_until(ctx: Context, request_id: str) -> float | None:
    """Until when a start that another process took over may still be acted on by DRS
    (its sender died mid-call): Retry waits until then. None: nothing may be in flight."""
    until = await retry_opens_at(ctx, request_id)
    return until if until is not None and until > ctx.clock() else None


async def _failures(ctx: Context, request_id: str, attempt: int) -> list[CallFailure]:
    out: list[CallFailure] = []
    for event in await ctx.store.events(request_id):
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


def _int_or_none(v: object) -> int | None:
    return v if isinstance(v, int) else None


def _str_or_none(v: object) -> str | None:
    return v if isinstance(v, str) else None

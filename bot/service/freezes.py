"""Change-freeze windows in the life of a request: at submit, at approval, right before sending.

The rule (:mod:`bot.core.freeze`) applies to the moment a job would start: now for an immediate
start, the scheduled start time for a scheduled one. It is checked three times:

1. **submit** (:func:`submit_refusal`): a request whose moment falls in a window nobody may
   override is refused, saying which window and when it ends, in the requester's timezone; a
   window that lists people who may override lets the request be made, to be approved only by
   one of them breaking the glass;
2. **approval** (:func:`at_approval`): an approver is refused unless they are listed in every
   window that holds (or, for the allow rule, in one of the project's allow windows), are not
   the requester, and chose "Override freeze" with a reason. The override is recorded in the
   audit trail (:attr:`~bot.core.request.AuditKind.FREEZE_OVERRIDE`, naming the windows) and
   said in the thread;
3. **right before sending** (:func:`before_send`): a window may have opened since; the windows
   overridden on the record (the audit trail) do not stop the start, others do, and the start
   is recorded as not sent, nothing half-done.

The audit event *is* the record of an override: written after the approval won, so an
override is never on record for an approval that lost. Should that write fail, the start is
stopped at the pre-send check, which is the safe side.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.freeze import Block, WindowState, freeze_verdict, window_states
from bot.core.policy import GROUP_ID_RE
from bot.core.request import AuditKind, StartRequest
from bot.core.text import mention
from bot.core.times import format_in
from bot.service.context import Context
from bot.service.model import Reply
from bot.service.ports import FreezeOverridden, StoreUnavailable

if TYPE_CHECKING:
    from bot.service.reading import Reading
    from bot.service.steps import Steps

log = logging.getLogger(__name__)

OVERRIDE_REASON_MAX = 500


def start_moment(start_time_ms: int | None, now: float) -> float:
    """When a job would start: its scheduled time, else now."""
    return now if start_time_ms is None else max(now, start_time_ms / 1000)


def when(t: float, tz: str | None) -> str:
    return format_in(datetime.fromtimestamp(t, UTC), tz)


def block_text(block: Block, project: str, tz: str | None) -> str:
    """What refuses a start of ``project``: each window, its reason and when it ends (or when
    the next allow window opens), in the reader's timezone ``tz``."""
    if block.deny:
        parts = []
        for span in block.deny:
            until = ("at least until " if not span.exact else "until ") + when(span.ends, tz)
            reason = f" ({span.window.reason})" if span.window.reason else ""
            parts.append(f"“{span.window.name}”{reason}, {until}")
        return f"project {project} is in change freeze " + "; and ".join(parts)
    names = ", ".join(f"“{w.name}”" for w in block.allow)
    text = f"project {project} starts only inside its allow windows ({names})"
    if block.next_allow is not None and block.next_allow_window is not None:
        text += (
            f"; the next, “{block.next_allow_window.name}”, opens at {when(block.next_allow, tz)}"
        )
    return text


def overriders(block: Block) -> frozenset[str]:
    """Who is listed to break the glass for ``block``: every holding deny window's override
    in common, or any allow window's."""
    lists = [w.override for w in block.windows]
    if block.deny:
        common = lists[0]
        for ids in lists[1:]:
            common &= ids
        return common
    return frozenset().union(*lists)


def _who(ids: frozenset[str]) -> str:
    return ", ".join(f"user group {i}" if GROUP_ID_RE.match(i) else mention(i) for i in sorted(ids))


async def verdict(
    ctx: Context, project: str, t: float, overridden: frozenset[str] = frozenset()
) -> Block | None:
    """:func:`freeze_verdict` off the event loop: a window opening every minute walks up to a
    year of openings (tens of milliseconds), which the answers to Slack must not wait on."""
    if not ctx.policy.freezes:
        return None
    return await asyncio.to_thread(
        freeze_verdict, ctx.policy.freezes, project, t, overridden=overridden
    )


async def block_now(ctx: Context, project: str, start_time_ms: int | None) -> Block | None:
    return await verdict(ctx, project, start_moment(start_time_ms, ctx.clock()))


async def submit_refusal(
    ctx: Context, project: str, start_time_ms: int | None, tz: str | None
) -> str | None:
    """Why a new request is refused by a freeze, or None (no freeze, or one that approvers
    listed in its override may break)."""
    block = await block_now(ctx, project, start_time_ms)
    if block is None or overriders(block):
        return None
    moment = "now" if start_time_ms is None else f"at {when(start_time_ms / 1000, tz)}"
    return (
        f"Not started {moment}: {block_text(block, project, tz)}. Nobody may override it; "
        "choose a time outside the window."
    )


async def holding(ctx: Context, req: StartRequest, t: float) -> Block | None:
    """The freeze holding ``req``'s start at ``t``, minus the windows overridden on its
    record, which is read only when a window holds (outside a freeze nothing is read)."""
    if await verdict(ctx, req.project, t) is None:
        return None
    return await verdict(ctx, req.project, t, await recorded_overrides(ctx, req.id))


async def recorded_overrides(ctx: Context, request_id: str) -> frozenset[str]:
    """The windows overridden for ``request_id`` on the record."""
    names: set[str] = set()
    for event in await ctx.store.events(request_id):
        if event.kind is AuditKind.FREEZE_OVERRIDE:
            windows = event.detail.get("windows")
            if isinstance(windows, list):
                names.update(str(w) for w in windows)
    return frozenset(names)


async def _may_break(ctx: Context, block: Block, user: str, requester: str) -> bool:
    if not user or user == requester:
        return False
    ids = overriders(block)
    groups = frozenset(i for i in ids if GROUP_ID_RE.match(i))
    member_of: frozenset[str] = frozenset()
    if groups and user not in ids:
        try:
            member_of = await ctx.directory.groups_of(user, groups)
        except LookupError:
            return False  # a group that cannot be read grants nothing
    return user in ids or not member_of.isdisjoint(ids)


@dataclass(frozen=True, slots=True)
class ApprovalFreeze:
    """A freeze that holds when an approver approves: why, and whether they may override."""

    block: Block
    text: str
    may_override: bool
    who: frozenset[str]

    @property
    def windows(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.block.windows)

    def allows(self, override: str | None) -> bool:
        """Does an approval with ``override`` (a reason, or None) break this freeze?"""
        return bool(override and override.strip()) and self.may_override

    def reply(self, req: StartRequest, override: str | None) -> Reply:
        """The refusal of an approval: code ``freeze_override`` when the approver may break
        the glass (the form then offers "Override freeze"), else ``freeze``."""
        code = "freeze_override" if self.may_override else "freeze"
        return Reply(False, self.refusal(asked=bool(override and override.strip())), req, code=code)

    def refusal(self, *, asked: bool) -> str:
        if self.may_override and not asked:
            return (
                f"{self.text}. Tick “Override freeze” and say why to break the glass; it is "
                "recorded in the audit trail and said in the thread."
            )
        if self.who and not asked:
            return (
                f"{self.text}. Only {_who(self.who)} may break the glass, other than the requester."
            )
        if self.who:
            who = _who(self.who)
            return f"{self.text}. You may not override it: only {who} may, not the requester."
        return f"{self.text}. Nobody may override it."


async def at_approval(
    ctx: Context, req: StartRequest, user: str, start_now: bool, tz: str | None
) -> ApprovalFreeze | None:
    """The freeze holding ``req``'s start when ``user`` approves it (``start_now``: started
    now instead of at its passed time), minus windows already overridden on the record."""
    t = ctx.clock() if start_now else start_moment(req.start_time_ms, ctx.clock())
    block = await holding(ctx, req, t)
    if block is None:
        return None
    if tz is None:  # asked only now: approving outside a freeze costs no Slack call
        tz = await ctx.directory.tz_of(user)
    return ApprovalFreeze(
        block=block,
        text=block_text(block, req.project, tz),
        may_override=await _may_break(ctx, block, user, req.requester_id),
        who=overriders(block),
    )


async def for_approver(ctx: Context, request_id: str, user: str) -> ApprovalFreeze | None:
    """The freeze an approver opening the approve form of ``request_id`` would meet."""
    req = await ctx.store.get(request_id)
    if req is None or not req.state.is_open:
        return None
    return await at_approval(ctx, req, user, False, None)


async def record_override(
    ctx: Context, req: StartRequest, user: str, frozen: ApprovalFreeze, reason: str
) -> None:
    """On the record and in the thread: ``user`` broke the glass for ``frozen``'s windows."""
    reason = reason.strip()[:OVERRIDE_REASON_MAX]
    detail: dict[str, object] = {
        "windows": list(frozen.windows),
        "names": ", ".join(frozen.windows),
        "reason": reason,
    }
    try:
        await ctx.store.audit(
            req.id, AuditKind.FREEZE_OVERRIDE, actor=user, now=ctx.clock(), detail=detail
        )
    except StoreUnavailable as exc:
        log.error("the freeze override of %s could not be recorded: %s", req.id, exc)


async def broke_glass(
    ctx: Context, steps: Steps, req: StartRequest, user: str, frozen: ApprovalFreeze, reason: str
) -> None:
    """After ``user``'s approval with an override won: recorded, then said in the thread."""
    await record_override(ctx, req, user, frozen, reason)
    note = FreezeOverridden(user, frozen.windows, reason.strip()[:OVERRIDE_REASON_MAX])
    ctx.tasks.spawn(steps.publishing.note(req, note), name=f"note {req.id}")


async def before_send(ctx: Context, req: StartRequest) -> str | None:
    """Why a start must not be sent now (a window holds its moment that nobody overrode on the
    record), or None."""
    block = await holding(ctx, req, start_moment(req.start_time_ms, ctx.clock()))
    if block is None:
        return None
    return block_text(block, req.project, None)


async def for_asker(
    ctx: Context, reading: Reading, user: str, channel: str
) -> list[tuple[str, list[WindowState]]]:
    """``/startjobs freezes``: for each project ``user`` is a requester or approver of (the
    projects help shows them; no other), the windows applying to it now and next."""
    now, freezes = ctx.clock(), ctx.policy.freezes
    return [
        (m.project.name, await asyncio.to_thread(window_states, freezes, m.project.name, now))
        for m in await reading.memberships(user, channel)
    ]

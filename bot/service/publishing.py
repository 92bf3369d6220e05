"""Showing a request in its channel: posting its message once, keeping it up to date, notes
in its thread, and what to do when Slack refuses the channel for good."""

from __future__ import annotations

import logging

from bot.core.model import (
    DrsCallError,
)
from bot.core.request import (
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
)
from bot.service.context import Context
from bot.service.ports import (
    ChannelGone,
    ChannelLost,
    Note,
    NoteDirect,
    NotPosted,
    NotShown,
    RequestView,
    Verdict,
)
from bot.service.precheck_reads import read_prechecks, stored_prechecks
from bot.service.work import RetryLater

log = logging.getLogger(__name__)


class Publishing:
    """The request message and the notes about a request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
        if project is not None:
            await read_prechecks(ctx, req, project)
        prechecks, rule = await stored_prechecks(ctx, req)
        source = await self.request_source(request_id)
        view = RequestView(
            now=ctx.clock(),
            source=source,
            lookup_problem=lookup_problem,
            overlaps=await ctx.store.overlapping(request_id),
            prechecks=prechecks,
            precheck_rule=rule,
        )
        now = ctx.clock()
        turn = await ctx.store.begin_message_post(
            request_id, now, owner=ctx.owner, alive_until=now + 2 * ctx.tuning.lease_seconds / 3
        )
        if not turn.mine:
            return  # posted, or another live process is posting it: one message
        try:
            ts = await ctx.notifier.post_request(req, view, earlier=turn.earlier)
        except ChannelLost as exc:
            await self._cannot_post(req, exc.error)
            return
        await ctx.store.set_message_ts(request_id, ts)
        ctx.changed(request_id)
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
        ctx.changed(req.id)

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
        prechecks, rule = await stored_prechecks(ctx, req)
        view = RequestView(
            now=ctx.clock(),
            source=await self.request_source(request_id),
            overlaps=await ctx.store.overlapping(request_id) if req.state.is_open else None,
            prechecks=prechecks,
            precheck_rule=rule,
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
            ctx.changed(request_id)
            await self.refresh_message(request_id)

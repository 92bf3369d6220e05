"""Recovery and upkeep: what a crash, a failed call or another process left behind.

Run at start-up and then every few seconds (:meth:`Recovery.run`). Each piece of work is an
item of its own (:class:`bot.service.work.WorkItems`): one that fails is retried with backoff
and never stops the others. Safe to run in several processes at once: every step is claimed
by a conditional update; a sent start is reconciled only once its sender's lease expired,
other work (a request not yet posted, a start claimed but not yet sent, an outcome not yet
posted) once the process that began it is no longer alive, or once it is older than
``recovery_grace`` (work of an earlier version, which recorded no owner, or of a process stuck
on it). A running precheck of a pending request that nobody has read for
:data:`~bot.service.prechecking.UNWATCHED_AFTER` (its poller died) is polled again.

A process is alive while its ``replicas`` row is: :meth:`Recovery.keep_alive` renews it every
third of ``lease_seconds`` for two thirds of it, so a process killed is known gone at most
``2/3 * lease_seconds`` later, and its work is taken over by the next maintenance round: with
the defaults (15 s lease, rounds every 5 s) within 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from bot.core.request import Start, StartState
from bot.service.context import Context
from bot.service.followup import FollowUp
from bot.service.handoff import Note
from bot.service.prechecking import UNWATCHED_AFTER
from bot.service.steps import Steps
from bot.service.work import WorkItems, stop_if_cancelled

log = logging.getLogger(__name__)

Item = tuple[str, Callable[[], Awaitable[object]]]


class Recovery:
    def __init__(self, ctx: Context, steps: Steps, followup: FollowUp) -> None:
        self.ctx = ctx
        self.steps = steps
        self.followup = followup
        self.items = WorkItems(ctx.clock)
        self._woken = asyncio.Event()

    async def round(self) -> None:
        """One round: expire, publish, start, reconcile, post, refresh, follow up."""
        items = await self._work()
        self.items.keep_only(key for key, _ in items)
        for key, work in items:
            await self.items.run(key, work)

    async def _work(self) -> list[Item]:
        ctx, steps = self.ctx, self.steps
        store, now, grace = ctx.store, ctx.clock(), ctx.tuning.recovery_grace
        live = await store.live_owners(now) | {ctx.owner}

        def orphaned(start: Start) -> bool:
            if now - start.created_at >= grace:
                return True
            return start.lease_owner is not None and start.lease_owner not in live

        items: list[Item] = []
        for rid in await store.expired_pending(now):
            items.append((f"expiring {rid}", functools.partial(steps.publishing.expire, rid)))
        for rid in await store.unconfirmed(now - grace, now=now):
            items.append((f"publishing {rid}", functools.partial(steps.publish_and_run, rid)))
        for start in await store.starts_in(StartState.CLAIMED):
            if orphaned(start):
                key = f"starting {start.request_id}#{start.attempt}"
                items.append((key, functools.partial(self._resume_claimed, start)))
        for start in await store.starts_in(StartState.SENT):
            if (start.request_id, start.attempt) in ctx.working:
                continue
            if start.lease_until is not None and start.lease_until > now:
                continue  # its sender is alive and renewing
            key = f"reconciling {start.request_id}#{start.attempt}"
            items.append((key, functools.partial(steps.take_over, start)))
        for start in await store.starts_in(StartState.RECORDED):
            if (start.request_id, start.attempt) in ctx.working:
                continue
            if orphaned(start):
                key = f"posting the outcome of {start.request_id}#{start.attempt}"
                post = functools.partial(steps.post_outcome, start.request_id, start.attempt)
                items.append((key, post))
        for rid in await store.stale_messages():
            key = f"updating the message of {rid}"
            items.append((key, functools.partial(steps.publishing.refresh_stale, rid)))
        for rid in await store.due_followups(now):
            items.append((f"following up {rid}", functools.partial(self.followup.round, rid)))
        for rid in await store.unwatched_prechecks(now - UNWATCHED_AFTER):
            resume = functools.partial(steps.prechecking.resume, rid)  # if it claims the poll
            items.append((f"following the prechecks of {rid}", resume))
        return items

    async def _resume_claimed(self, start: Start) -> None:
        req = await self.ctx.store.get(start.request_id)
        if req is not None and req.message_ts is None:
            await self.steps.publishing.publish(start.request_id)
        await self.steps.run_start(start.request_id, start.attempt)

    def noted(self, text: str) -> None:
        """A note from an answering replica (:mod:`bot.service.handoff`): do what it names at
        once, as a task of its own, instead of at the next round. Every step claims its work
        by a conditional update, so a note that other replicas also act on, or that comes
        after the work was done, does nothing more."""
        note = Note.parse(text)
        ctx, steps = self.ctx, self.steps
        if note is None:
            log.warning("ignoring a note that is not one of ours: %r", text[:100])
            return
        rid = note.request_id
        if note.kind == "changed":
            ctx.changed(rid)
        elif note.kind == "publish":
            ctx.tasks.spawn(steps.publish_and_run(rid), name=f"publish {rid}")
        else:
            steps.spawn_start(rid, note.attempt)

    def wake(self) -> None:
        """Run the next round now rather than at its time (notes may have been missed)."""
        self._woken.set()

    async def keep_alive(self) -> None:
        """Keep this process's ``replicas`` row alive (a background task). A failed renewal
        is logged and tried again a third of a lease later; meanwhile other processes may
        take this one's unfinished work over, which the conditional updates make safe."""
        ctx = self.ctx
        every = ctx.tuning.lease_seconds / 3
        while True:
            now = ctx.clock()
            try:
                await ctx.store.keep_alive(ctx.owner, now=now, until=now + 2 * every)
            except Exception as exc:
                stop_if_cancelled(exc)
                log.warning("could not record this process as alive: %s", exc)
            await asyncio.sleep(every)

    async def run(self, every: float) -> None:
        """Run :meth:`round` forever, ``every`` seconds apart or sooner when woken
        (:meth:`wake`), as a background task. A round
        that cannot even list its work (the database down) is logged once with its traceback,
        then in one line a round until one succeeds."""
        failing = 0
        while True:
            stop_if_cancelled()  # a cancellation something below swallowed: stop all the same
            self._woken.clear()  # a wake-up during the round runs the next one at once
            try:
                await self.round()
            except Exception as exc:
                stop_if_cancelled(exc)
                failing += 1
                if failing == 1:
                    log.exception("maintenance round failed; next round in %.1f s", every)
                else:
                    log.warning("maintenance round failed again (%s: %s)", type(exc).__name__, exc)
            else:
                if failing:
                    log.info("maintenance rounds work again after %d failures", failing)
                failing = 0
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the wake-up
            # and drops a cancellation that comes with it, and the shutdown waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._woken.wait()

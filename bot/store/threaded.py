"""The store as the service sees it: every call awaited, none run on the event loop.

:class:`bot.store.sqlite.Store` is plain synchronous SQLite. A write waits for SQLite's lock
(another process, a checkpoint) and a commit waits for the disk; on the event loop either would
stall every Slack answer and ``/healthz`` with it. :class:`AsyncStore` runs each call in one
thread of its own (:class:`StoreThread`), so the connection is only ever used by that thread,
and the loop goes on answering while they wait.

The thread takes urgent calls first: those made while a person waits for Slack's answer
(:mod:`bot.service.urgency`) or with ``within``, before background calls queued ahead of them
(each kind in the order made). A burst of fifty form submissions otherwise waits behind the
hundreds of background calls the previous burst queued (posting, recording, Home tabs). In
paired runs of ``bench/ack_latency.py --concurrency 50``, the thread in arrival order missed
the goal (p99 within 1.5x of a stock Bolt app) with worst ratios 2.04 and 1.67, start-form
submissions at p99 162 and 169 ms; urgent first, 1.53 and 1.46, at 138 and 120 ms (tables in
bench/README.md).

A call made on a person's behalf (storing a new request, deciding one) passes ``within``: if
the thread cannot start it in that many seconds, or SQLite cannot take its lock in the time
left, it is not made at all and :class:`StoreUnavailable` is raised, so the person can be told
"nothing was stored, try again" within Slack's three seconds, and that is true.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Concatenate, ParamSpec, TypeVar

from bot.core.request import StartRequest
from bot.service.metrics import Metrics, NoMetrics, record_decision
from bot.service.ports import Decision, StoreUnavailable, Verdict
from bot.service.urgency import urgent
from bot.store.sqlite import Store

P = ParamSpec("P")
T = TypeVar("T")


def _off_loop(
    method: Callable[Concatenate[Store, P], T],
) -> Callable[Concatenate[AsyncStore, P], Coroutine[Any, Any, T]]:
    """``method`` of :class:`Store`, run in the store's thread and awaited."""

    async def call(self: AsyncStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.run(functools.partial(method, self.backend, *args, **kwargs))

    call.__doc__ = method.__doc__
    call.__name__ = method.__name__
    return call


URGENT, BACKGROUND, STOP = 0, 1, 2  # queue ranks: lower runs first


class StoreThread:
    """One thread running calls, urgent ones first, each rank in the order it was queued."""

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[
            tuple[int, int, Callable[[], Any] | None, Future[Any] | None]
        ] = queue.PriorityQueue()
        self._order = itertools.count()
        self._closing = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], T], *, rank: int) -> Future[T]:
        """Queue ``fn``; once :meth:`shutdown` has begun, refused with
        :class:`StoreUnavailable` (nothing would ever run it, and its caller would wait
        forever)."""
        future: Future[T] = Future()
        with self._closing:
            if self._closed:
                raise StoreUnavailable("the database is closed: the bot is shutting down")
            self._queue.put((rank, next(self._order), fn, future))
        return future

    def _serve(self) -> None:
        while True:
            _, _, fn, future = self._queue.get()
            if fn is None or future is None:
                return
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it began: not made
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, as an executor does
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Stop once every queued call has run (blocks until then: call it off the loop);
        calls submitted from now on are refused."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put((STOP, next(self._order), None, None))
        self._thread.join()


class AsyncStore:
    """:class:`Store`'s methods as coroutines, made one at a time in a dedicated thread: the
    service's :class:`bot.service.ports.Store`."""

    def __init__(self, backend: Store, *, metrics: Metrics | None = None) -> None:
        self.backend = backend
        self.metrics: Metrics = metrics or NoMetrics()
        self._thread = StoreThread("store")

    async def run(self, fn: Callable[[], T], *, within: float | None = None) -> T:
        """Run ``fn`` in the store's thread. With ``within``, it is made only if it can be
        made in that many seconds (see the module's docstring), else :class:`StoreUnavailable`
        is raised and nothing was made; SQLite's errors are raised as that too."""
        rank = URGENT if within is not None or urgent() else BACKGROUND
        try:
            if within is not None:
                fn = functools.partial(self._bounded, fn, time.monotonic() + within)
            return await asyncio.wrap_future(self._thread.submit(fn, rank=rank))
        except StoreUnavailable:
            self.metrics.database_error("unavailable")
            raise
        except sqlite3.Error:
            self.metrics.database_error("error")
            raise

    def _bounded(self, fn: Callable[[], T], deadline: float) -> T:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreUnavailable("the database was busy with earlier work")
        try:
            with self.backend.patience(left):
                return fn()
        except sqlite3.Error as exc:
            raise StoreUnavailable(_plain(exc)) from exc

    async def aclose(self) -> None:
        await self.run(self.backend.close)
        await asyncio.to_thread(self._thread.shutdown)

    async def probe(self, *, within: float) -> None:
        """Make a real write (a heartbeat row) and commit it: raises
        :class:`StoreUnavailable` if the bot could not store anything now."""
        await self.run(functools.partial(self.backend.heartbeat, time.time()), within=within)

    async def insert_request(
        self,
        req: StartRequest,
        *,
        actor: str,
        detail: dict[str, object],
        within: float | None = None,
        owner: str | None = None,
    ) -> None:
        """:meth:`Store.insert_request`; with ``within``, as :meth:`run` says."""
        write = functools.partial(
            self.backend.insert_request, req, actor=actor, detail=detail, owner=owner
        )
        await self.run(write, within=within)

    async def decide(self, verdict: Verdict, *, within: float | None = None) -> Decision:
        """:meth:`Store.decide`; with ``within``, as :meth:`run` says. A decision that won is
        counted (:func:`~bot.service.metrics.record_decision`)."""
        decision = await self.run(functools.partial(self.backend.decide, verdict), within=within)
        record_decision(self.metrics, verdict.target, decision.won, decision.request)
        return decision

    get = _off_loop(Store.get)
    recent = _off_loop(Store.recent)
    set_message_ts = _off_loop(Store.set_message_ts)
    set_jobs_info = _off_loop(Store.set_jobs_info)
    unconfirmed = _off_loop(Store.unconfirmed)
    overlapping = _off_loop(Store.overlapping)
    mark_message_stale = _off_loop(Store.mark_message_stale)
    stale_messages = _off_loop(Store.stale_messages)
    expired_pending = _off_loop(Store.expired_pending)
    claim_retry = _off_loop(Store.claim_retry)
    last_attempt = _off_loop(Store.last_attempt)
    start = _off_loop(Store.start)
    starts_in = _off_loop(Store.starts_in)
    mark_sent = _off_loop(Store.mark_sent)
    record_outcomes = _off_loop(Store.record_outcomes)
    mark_posted = _off_loop(Store.mark_posted)
    renew_lease = _off_loop(Store.renew_lease)
    take_over = _off_loop(Store.take_over)
    begin_outcome_post = _off_loop(Store.begin_outcome_post)
    begin_message_post = _off_loop(Store.begin_message_post)
    lose_channel = _off_loop(Store.lose_channel)
    fail_started = _off_loop(Store.fail_started)
    due_followups = _off_loop(Store.due_followups)
    claim_followup = _off_loop(Store.claim_followup)
    update_drs_statuses = _off_loop(Store.update_drs_statuses)
    confirm_outcomes = _off_loop(Store.confirm_outcomes)
    schedule_followup = _off_loop(Store.schedule_followup)
    followup_deadline = _off_loop(Store.followup_deadline)
    followup_changed_at = _off_loop(Store.followup_changed_at)
    claim_settled_notice = _off_loop(Store.claim_settled_notice)
    audit = _off_loop(Store.audit)
    events = _off_loop(Store.events)
    pending_in = _off_loop(Store.pending_in)
    requested_by = _off_loop(Store.requested_by)
    following = _off_loop(Store.following)
    home_page = _off_loop(Store.home_page)
    keep_home_page = _off_loop(Store.keep_home_page)
    save_prechecks = _off_loop(Store.save_prechecks)
    prechecks = _off_loop(Store.prechecks)
    unwatched_prechecks = _off_loop(Store.unwatched_prechecks)
    claim_precheck_poll = _off_loop(Store.claim_precheck_poll)
    keep_alive = _off_loop(Store.keep_alive)
    live_owners = _off_loop(Store.live_owners)


def _plain(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "the database is locked by another process"
    if "full" in text:
        return "the database's disk is full"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    return text

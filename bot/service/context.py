"""What every use case of one process shares: its ports, its policy and knobs, its identity
as a lease owner, and the background tasks it has running."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.core.policy import Policy
from bot.service.handoff import HandOff
from bot.service.metrics import Metrics, NoMetrics
from bot.service.model import Tuning
from bot.service.ports import Clock, Directory, DrsFor, Notifier, Store
from bot.service.urgency import background

log = logging.getLogger(__name__)


def process_owner() -> str:
    """Who holds this process's leases: host, process and a random part (a restarted process
    with the same pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Tasks:
    """Work that outlives a person's answer (publish, start, refresh), as asyncio tasks.

    A task that fails is logged with its traceback; maintenance finds what it left undone in
    the store and does it again, so nothing depends on the task finishing."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[None]:
        # Not urgent, even when spawned while answering a person (bot.service.urgency).
        task = asyncio.create_task(self._guard(coro, name), name=name, context=background())
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, object], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s failed; maintenance will retry it", name)

    async def drain(self, limit: float = 30.0) -> None:
        """Wait for the running tasks (tests, shutdown), at most ``limit`` seconds."""
        deadline = asyncio.get_running_loop().time() + limit
        while self._running:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(set(self._running), timeout=remaining)


@dataclass
class Context:
    """The ports and settings of one process's use cases."""

    store: Store
    notifier: Notifier
    directory: Directory
    policy: Policy
    drs_for: DrsFor
    tuning: Tuning
    clock: Clock
    owner: str = field(default_factory=process_owner)
    tasks: Tasks = field(default_factory=Tasks)
    # (request, attempt) this process is working on now; attempt 0 is the request message.
    # Maintenance leaves them alone: leases and the recovery grace protect other processes'.
    working: set[tuple[str, int]] = field(default_factory=set)
    # What operators count (bot.slack.metrics in production).
    metrics: Metrics = field(default_factory=NoMetrics)
    # Told the id of each request whose state changed (the App Home refreshes who sees it);
    # each listener only takes note, it never blocks.
    on_change: list[Callable[[str], None]] = field(default_factory=list)
    # Set in a replica that only answers (STARTJOBS_ROLE=answer): the work after an answer is
    # left to the working replicas, woken through it (bot.service.handoff).
    handoff: HandOff | None = None

    def changed(self, request_id: str) -> None:
        """A request changed state (made, decided, started, recorded, settled)."""
        for listener in self.on_change:
            listener(request_id)

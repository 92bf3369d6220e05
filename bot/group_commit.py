"""New requests made at the same moment are stored with one commit.

A request is stored before its form is acknowledged, so the commit is on the answer's path.
Most of an insert's cost is its commit (the write-ahead log is appended once per commit), and
requests come in bursts (a team filing its migration windows at once), so the inserts
queued during one turn of the event loop are written together at the start of the next
(:meth:`bot.store.Store.insert_requests`): one commit for the lot, each in a savepoint of its
own. Each caller returns only once its request is committed, as with a single insert.
"""

from __future__ import annotations

import asyncio

from bot.core.request import StartRequest
from bot.store import NewRequest, Store


class GroupCommit:
    """Inserts requests for many callers, one transaction per turn of the event loop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queued: list[tuple[NewRequest, asyncio.Future[None]]] = []

    async def insert(self, req: StartRequest, *, actor: str, detail: dict[str, object]) -> None:
        """Store ``req``; raises what storing it raised (its id taken, the disk full...)."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._commit)
        self._queued.append((NewRequest(req, actor, detail), stored))
        await stored

    def _commit(self) -> None:
        queued, self._queued = self._queued, []
        failures: list[Exception | None]
        try:
            failures = list(self.store.insert_requests([item for item, _ in queued]))
        except Exception as exc:
            failures = [exc for _ in queued]  # the transaction failed: none is stored
        for (_, stored), failure in zip(queued, failures, strict=True):
            if stored.done():  # its caller was cancelled; the request is stored all the same
                continue
            if failure is None:
                stored.set_result(None)
            else:
                stored.set_exception(failure)

"""Writes made at the same moment are committed together.

A new request is stored, and an approval (or a rejection, a cancellation) decided, before the
form or button is acknowledged, so the commit is on the answer's path. Most of a small write's
cost is its commit (the write-ahead log is appended once per commit), and requests come in
bursts (a team filing its migration windows at once, leads approving them one after another),
so the writes queued during one turn of the event loop are made together at the start of the
next (:meth:`bot.store.Store.write`): one commit for the lot, each in a savepoint of its own.
Each caller returns only once its write is committed, as with a write of its own, and gets
what its write gave or raised.
"""

from __future__ import annotations

import asyncio

from bot.core.request import StartRequest
from bot.store import Decision, Store, Verdict, Write


class GroupCommit:
    """Makes many callers' writes, one transaction per turn of the event loop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queued: list[tuple[Write, asyncio.Future[object]]] = []

    async def insert(self, req: StartRequest, *, actor: str, detail: dict[str, object]) -> None:
        """Store ``req``; raises what storing it raised (its id taken, the disk full...)."""
        await self.run(self.store.inserting(req, actor=actor, detail=detail))

    async def decide(self, verdict: Verdict) -> Decision:
        """:meth:`bot.store.Store.decide`, committed with the writes made at the same moment."""
        return self.store.decision(verdict, await self.run(self.store.deciding(verdict)))

    async def run(self, write: Write) -> object:
        """Make ``write`` in the next group; what it gave, or raise what it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._commit)
        self._queued.append((write, done))
        return await done

    def _commit(self) -> None:
        queued, self._queued = self._queued, []
        results: list[object]
        try:
            results = self.store.write([write for write, _ in queued])
        except Exception as exc:
            results = [exc for _ in queued]  # the transaction failed: none was made
        for (_, done), result in zip(queued, results, strict=True):
            if done.done():  # its caller was cancelled; the write is made all the same
                continue
            if isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(result)

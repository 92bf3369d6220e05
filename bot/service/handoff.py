"""Answering replicas: the work they leave, and the notes that wake the replicas doing it.

An answering replica (``STARTJOBS_ROLE=answer``) stores what it answers as any replica does (a
request, a decision and the start it claims) and runs no background work. It never records
itself alive (the ``replicas`` table), so what it leaves is at once another process's to take
over (:mod:`bot.service.recovery`: a request not yet posted, a claimed start, whose maker is
not alive): the working replicas' next maintenance round finds it. So that they do it at once
instead, the answering replica sends a :class:`Note` per piece of work through the database
(PostgreSQL's NOTIFY), the notes of one turn of the event loop in one call
(:class:`HandOff`); every working replica that listens runs what a note names as a task of its
own (:meth:`bot.service.recovery.Recovery.noted`).

A note lost (the database down, nobody listening) costs time only: the tables stay the truth.
Two working replicas acting on one note start nothing twice: each step is claimed by a
conditional update (``claimed -> sent`` for a start, the message post's turn for a post).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Kind = Literal["start", "publish", "changed"]
_NOTE = re.compile(r"(start|publish|changed) ([A-Za-z0-9-]{1,64}) ([0-9]{1,6})")
MAX_NOTE = 96  # characters; PostgreSQL takes payloads under 8,000 bytes


@dataclass(frozen=True, slots=True)
class Note:
    """What a working replica is asked to do: ``start`` attempt ``attempt`` of a request
    (claimed), ``publish`` a request (stored, not yet posted), or show that one ``changed``
    (the Home tabs of the people who see it)."""

    kind: Kind
    request_id: str
    attempt: int = 0

    def text(self) -> str:
        return f"{self.kind} {self.request_id} {self.attempt}"

    @classmethod
    def parse(cls, text: str) -> Note | None:
        """The note ``text`` carries; None for anything else (logged by the caller)."""
        found = _NOTE.fullmatch(text) if len(text) <= MAX_NOTE else None
        if found is None:
            return None
        kind: Any = found[1]
        return cls(kind, found[2], int(found[3]))


Send = Callable[[Sequence[str]], Awaitable[None]]
Spawn = Callable[..., object]


class HandOff:
    """An answering replica's notes to the working ones: taken without waiting, sent in the
    background, those of one turn of the event loop in one call; a call that fails is logged
    in one line and not repeated (the work is found by the next maintenance round)."""

    def __init__(self, send: Send, spawn: Spawn) -> None:
        self._send = send
        self._spawn = spawn
        self._pending: dict[str, None] = {}  # note texts in order, each once
        self._sending = False
        self.sent = 0  # notes sent so far

    def start(self, request_id: str, attempt: int) -> None:
        self._note(Note("start", request_id, attempt))

    def publish(self, request_id: str) -> None:
        self._note(Note("publish", request_id))

    def changed(self, request_id: str) -> None:
        self._note(Note("changed", request_id))

    def _note(self, note: Note) -> None:
        self._pending[note.text()] = None
        if not self._sending:
            self._sending = True
            self._spawn(self._flush(), name="notes to the working replicas")

    async def _flush(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # the notes of this turn go together
                batch = list(self._pending)
                self._pending.clear()
                try:
                    await self._send(batch)
                except Exception as exc:  # the tables stay the truth
                    log.warning(
                        "could not wake the working replicas for %d note(s) (%s: %s); their "
                        "next maintenance round finds the work",
                        len(batch),
                        type(exc).__name__,
                        exc,
                    )
                else:
                    self.sent += len(batch)
        finally:
            self._sending = False

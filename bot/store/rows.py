"""What the row modules share: the connection, one write transaction, and a few writes
every part of the store makes (the audit trail, a request's state from its jobs)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence

from bot.core.request import AuditKind, RequestState, StartState, comes_from
from bot.store.records import audit_json, request_state_from


class Rows:
    """A connection and its write transactions (one per method of the store)."""

    _db: sqlite3.Connection

    def _ids(self, sql: str, params: Sequence[object] = ()) -> list[str]:
        return [r[0] for r in self._db.execute(sql, params)]

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with the write lock up front (BEGIN IMMEDIATE)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # some errors (a full disk) end it themselves
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def alive_row(db: sqlite3.Connection, owner: str, until: float) -> None:
    """Record that process ``owner`` is alive until ``until`` (its ``replicas`` row)."""
    db.execute("INSERT OR REPLACE INTO replicas (owner, alive_until) VALUES (?, ?)", (owner, until))


def audit_row(
    db: sqlite3.Connection,
    request_id: str,
    at: float,
    actor: str | None,
    kind: AuditKind,
    detail: dict[str, object],
) -> None:
    db.execute(
        "INSERT INTO audit (request_id, at, actor, kind, detail) VALUES (?,?,?,?,?)",
        (request_id, at, actor, kind.value, audit_json(detail)),
    )


def restate(db: sqlite3.Connection, request_id: str) -> RequestState:
    """Set the request's state from its jobs' outcomes, where :mod:`bot.core.request`'s table
    allows the move; the state they give."""
    outcomes = [
        row[0]
        for row in db.execute(
            "SELECT outcome FROM request_jobs WHERE request_id = ?", (request_id,)
        )
    ]
    state = request_state_from(outcomes)
    sources = comes_from(state)
    marks = ",".join("?" for _ in sources)
    db.execute(
        f"UPDATE requests SET state = ? WHERE id = ? AND state IN ({marks})",  # noqa: S608
        (state, request_id, *sources),
    )
    return state


def insert_start(
    db: sqlite3.Connection,
    request_id: str,
    attempt: int,
    job_ids: Sequence[str],
    actor: str | None,
    now: float,
    owner: str | None = None,
) -> None:
    """A claimed attempt; ``owner``, the process that will send it, is its lease owner (no
    expiry until it is sent: while the owner is alive, see ``replicas``)."""
    db.execute(
        """INSERT INTO starts (request_id, attempt, state, job_ids, actor, created_at,
        lease_owner) VALUES (?,?,?,?,?,?,?)""",
        (request_id, attempt, StartState.CLAIMED, json.dumps(list(job_ids)), actor, now, owner),
    )

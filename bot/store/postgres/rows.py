"""What the PostgreSQL row modules share: the database, the lock that orders a request's
writes, and a few writes every part of the store makes (the audit trail, a request's state
from its jobs, a new start).

Locking. A state change is a conditional update, as in SQLite: of two transactions making
the same move, one updates the row and the other, once the first commits, finds the row no
longer in the state its ``WHERE`` names and updates nothing. SQLite also runs one write
transaction at a time, so a transaction that reads and then writes (the next attempt number,
a request's state from all its jobs) sees everything committed before it. PostgreSQL runs
them side by side; so every write transaction that reads before it writes, or touches a
request's jobs, first locks the request's row (:func:`lock_request`, ``FOR NO KEY UPDATE``,
the lock an ``UPDATE`` takes), which orders the writes of one request and no others. Locks
are taken in one order, the request, then its starts, then its jobs, so two transactions
never wait for each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from bot.core.request import AuditKind, RequestState, StartState, comes_from
from bot.store.postgres.connection import Conn, Database
from bot.store.records import audit_json, request_state_from


class PgRows:
    """The database the row mixins share; :meth:`ready` opens it on first use."""

    db: Database

    async def ready(self, within: float | None = None) -> Database:
        """The database, open (in ``within`` seconds, else :class:`StoreUnavailable`)."""
        raise NotImplementedError


async def lock_request(conn: Conn, request_id: str) -> bool:
    """Lock the request's row for the rest of the transaction; False if there is none."""
    cur = await conn.execute(
        "SELECT 1 FROM requests WHERE id = %s FOR NO KEY UPDATE", (request_id,)
    )
    return await cur.fetchone() is not None


async def alive_row(conn: Conn, owner: str, until: float) -> None:
    """Record that process ``owner`` is alive until ``until`` (its ``replicas`` row)."""
    await conn.execute(
        """INSERT INTO replicas (owner, alive_until) VALUES (%s, %s)
        ON CONFLICT (owner) DO UPDATE SET alive_until = EXCLUDED.alive_until""",
        (owner, until),
    )


async def audit_row(
    conn: Conn,
    request_id: str,
    at: float,
    actor: str | None,
    kind: AuditKind,
    detail: dict[str, object],
) -> None:
    await conn.execute(
        "INSERT INTO audit (request_id, at, actor, kind, detail) VALUES (%s, %s, %s, %s, %s)",
        (request_id, at, actor, kind.value, Jsonb(detail, dumps=audit_json)),
    )


async def restate(conn: Conn, request_id: str) -> RequestState:
    """Set the request's state from its jobs' outcomes, where :mod:`bot.core.request`'s table
    allows the move; the state they give. The caller holds the request's lock."""
    cur = await conn.execute(
        "SELECT outcome FROM request_jobs WHERE request_id = %s", (request_id,)
    )
    state = request_state_from([row["outcome"] for row in await cur.fetchall()])
    await conn.execute(
        "UPDATE requests SET state = %s WHERE id = %s AND state = ANY(%s)",
        (state.value, request_id, [s.value for s in comes_from(state)]),
    )
    return state


async def insert_start(
    conn: Conn,
    request_id: str,
    attempt: int,
    job_ids: Sequence[str],
    actor: str | None,
    now: float,
    owner: str | None = None,
) -> None:
    """A claimed attempt; ``owner``, the process that will send it, is its lease owner."""
    await conn.execute(
        """INSERT INTO starts (request_id, attempt, state, job_ids, actor, created_at,
        lease_owner) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (request_id, attempt, StartState.CLAIMED.value, Jsonb(list(job_ids)), actor, now, owner),
    )


async def mark_stale(conn: Conn, request_id: str) -> None:
    """The request's channel message no longer shows what is stored: refresh it."""
    await conn.execute("UPDATE requests SET message_stale = TRUE WHERE id = %s", (request_id,))

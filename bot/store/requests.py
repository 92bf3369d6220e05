"""Requests: storing one, reading it back, deciding it, its message and its audit trail."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
    comes_from,
)
from bot.service.ports import Decision, PostTurn, Verdict
from bot.store.records import (
    DECIDED,
    OPEN_STATES,
    PRECHECKS_PASSED,
    clears_start_time,
    decision_detail,
    event_from_row,
    job_info_params,
    job_params,
    may_post,
    request_from_row,
    request_params,
)
from bot.store.rows import Rows, alive_row, audit_row, insert_start


class RequestRows(Rows):
    """The requests table, its jobs and its audit trail."""

    def insert_request(
        self,
        req: StartRequest,
        *,
        actor: str,
        detail: dict[str, object],
        owner: str | None = None,
    ) -> None:
        """Store a new request with its jobs and a ``requested`` audit event, atomically;
        raises what storing it raised (its id taken...). ``owner``: the process that will post
        it (another takes it over once that process is no longer alive)."""
        with self._tx() as db:
            _insert_request(db, req=req, actor=actor, detail=detail)
            if owner is not None:
                db.execute("UPDATE requests SET owner = ? WHERE id = ?", (owner, req.id))

    def get(self, request_id: str) -> StartRequest | None:
        row = self._db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        return self._hydrate(row)

    def _hydrate(self, row: sqlite3.Row) -> StartRequest:
        jobs = self._db.execute(
            "SELECT * FROM request_jobs WHERE request_id = ? ORDER BY seq", (row["id"],)
        )
        return request_from_row(row, jobs)

    def recent(self, channel_id: str, *, limit: int = 10) -> list[StartRequest]:
        ids = self._ids(
            "SELECT id FROM requests WHERE channel_id = ? ORDER BY created_at DESC, id LIMIT ?",
            (channel_id, limit),
        )
        return [r for r in (self.get(i) for i in ids) if r is not None]

    def set_message_ts(self, request_id: str, ts: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET message_ts = ? WHERE id = ? AND message_ts IS NULL",
                (ts, request_id),
            )

    def set_jobs_info(self, request_id: str, jobs: Sequence[RequestJob]) -> None:
        """Replace what DRS said about the jobs at request time (names, statuses, prepaid)."""
        with self._tx() as db:
            db.executemany(
                """UPDATE request_jobs SET name = ?2, status_at_request = ?3, prepaid = ?4,
                error_code = ?5, error_msg = ?6 WHERE request_id = ?7 AND job_id = ?1""",
                [(*job_info_params(j), request_id) for j in jobs],
            )

    def overlapping(self, request_id: str) -> dict[str, int]:
        """Other open requests (pending, approved, starting) holding some of this request's
        jobs: request id -> how many."""
        rows = self._db.execute(
            """SELECT other.request_id, COUNT(*) FROM request_jobs mine
            JOIN request_jobs other ON other.job_id = mine.job_id
                AND other.request_id != mine.request_id
            JOIN requests r ON r.id = other.request_id
            WHERE mine.request_id = ? AND r.state IN (?, ?, ?)
            GROUP BY other.request_id""",
            (request_id, *OPEN_STATES),
        )
        return {str(rid): int(n) for rid, n in rows}

    def unconfirmed(self, created_before: float, *, now: float | None = None) -> list[str]:
        """Pending requests left half-way by a crash: never posted, or (approval "none")
        posted but not yet confirmed; made before ``created_before`` or, with ``now``, by a
        process not alive at ``now``."""
        return self._ids(
            """SELECT id FROM requests WHERE state = ?
            AND (message_ts IS NULL OR approval = ?)
            AND (created_at <= ? OR (? IS NOT NULL AND owner IS NOT NULL
                AND owner NOT IN (SELECT owner FROM replicas WHERE alive_until > ?)))""",
            (RequestState.PENDING, Approval.NONE, created_before, now, now),
        )

    def mark_message_stale(self, request_id: str, stale: bool) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET message_stale = ? WHERE id = ?", (int(stale), request_id)
            )

    def stale_messages(self) -> list[str]:
        return self._ids(
            "SELECT id FROM requests WHERE message_stale = 1 AND message_ts IS NOT NULL"
        )

    def begin_message_post(
        self, request_id: str, now: float, *, owner: str, alive_until: float
    ) -> PostTurn:
        """Claim the post of the request message for process ``owner`` (alive, in the same
        transaction, until ``alive_until``): refused while another live process holds it or
        once it is posted. ``earlier``: as :meth:`begin_outcome_post`."""
        with self._tx() as db:
            alive_row(db, owner, alive_until)
            row = db.execute(
                """SELECT message_posting_at, message_ts, owner,
                (SELECT alive_until FROM replicas WHERE replicas.owner = requests.owner)
                FROM requests WHERE id = ?""",
                (request_id,),
            ).fetchone()
            if row is None or row[1] is not None:
                return PostTurn(False, row[0] if row else None)
            if not may_post(row[2], row[3], owner, now):
                return PostTurn(False, row[0])
            db.execute(
                """UPDATE requests SET message_posting_at = COALESCE(message_posting_at, ?),
                owner = ? WHERE id = ?""",
                (now, owner, request_id),
            )
        return PostTurn(True, row[0])

    def lose_channel(self, request_id: str, error: str, *, now: float) -> bool:
        """Record, once, that Slack refuses posts in the request's channel for good
        (``error``); True for the caller that recorded it (it tells the requester)."""
        with self._tx() as db:
            won = (
                db.execute(
                    """UPDATE requests SET channel_problem = ?, message_stale = 0
                    WHERE id = ? AND channel_problem IS NULL""",
                    (error, request_id),
                ).rowcount
                == 1
            )
            if won:
                audit_row(db, request_id, now, None, AuditKind.CHANNEL_LOST, {"error": error})
            return won

    def decide(self, verdict: Verdict) -> Decision:
        """Make ``verdict`` if and only if its request is still pending.

        Approving also claims attempt 1 of its start (all its jobs) in the same transaction,
        so the start is recorded as owed before anyone can see the approval.
        """
        with self._tx() as db:
            won = _decide(db, verdict=verdict)
        return Decision(won=won, request=self.get(verdict.request_id))

    def expired_pending(self, now: float) -> list[str]:
        return self._ids(
            "SELECT id FROM requests WHERE state = ? AND expires_at <= ?",
            (RequestState.PENDING, now),
        )

    def audit(
        self,
        request_id: str,
        kind: AuditKind,
        *,
        actor: str | None,
        now: float,
        detail: dict[str, object] | None = None,
    ) -> None:
        with self._tx() as db:
            audit_row(db, request_id, now, actor, kind, detail or {})

    def events(self, request_id: str) -> list[AuditEvent]:
        rows = self._db.execute(
            "SELECT * FROM audit WHERE request_id = ? ORDER BY id", (request_id,)
        )
        return [event_from_row(r, json.loads(r["detail"])) for r in rows]


def _decide(db: sqlite3.Connection, *, verdict: Verdict) -> bool:
    v = verdict
    sql = """UPDATE requests SET state = ?, decided_by = ?, decided_at = ?,
        decision_comment = ?, message_stale = 1 WHERE id = ? AND state = ?"""
    (state,) = comes_from(v.target)  # a decision is taken on a pending request only
    params: list[object] = [v.target.value, v.actor, v.now, v.comment, v.request_id, state]
    if v.require_unexpired:
        sql += " AND expires_at > ?"
        params.append(v.now)
    if v.require_prechecks:
        sql += " AND " + PRECHECKS_PASSED
    won = db.execute(sql, params).rowcount == 1
    if won:
        scheduled = None
        if clears_start_time(v):
            (scheduled,) = db.execute(
                "SELECT start_time_ms FROM requests WHERE id = ?", (v.request_id,)
            ).fetchone()
            db.execute("UPDATE requests SET start_time_ms = NULL WHERE id = ?", (v.request_id,))
        detail = decision_detail(v, scheduled)
        audit_row(db, v.request_id, v.now, v.actor, DECIDED[v.target], detail)
        if v.target is RequestState.APPROVED:
            job_ids = [
                r[0]
                for r in db.execute(
                    "SELECT job_id FROM request_jobs WHERE request_id = ? ORDER BY seq",
                    (v.request_id,),
                )
            ]
            insert_start(db, v.request_id, 1, job_ids, v.actor, v.now, v.owner)
    return won


def _insert_request(
    db: sqlite3.Connection, *, req: StartRequest, actor: str, detail: dict[str, object]
) -> None:
    db.execute(
        """INSERT INTO requests (id, team_id, channel_id, requester_id, project, region,
        approval, start_time_ms, reason, language, state, created_at, expires_at,
        message_ts, outcome_ts, decided_by, decided_at, decision_comment)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        request_params(req),
    )
    db.executemany(
        """INSERT INTO request_jobs (request_id, seq, job_id, name, status_at_request,
        prepaid, outcome, error_code, error_msg, order_id, drs_status, attempts)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
        [(req.id, i, *job_params(j)) for i, j in enumerate(req.jobs)],
    )
    audit_row(db, req.id, req.created_at, actor, AuditKind.REQUESTED, detail)

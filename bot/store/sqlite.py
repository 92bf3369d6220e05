"""Durable state in SQLite: requests, their jobs, the batch-start attempts and the audit trail.

Every state change is a conditional update inside one short transaction (``BEGIN IMMEDIATE``),
so two clicks, two bot processes sharing the file, or a retry after a crash cannot both win:
the loser sees ``False`` and can say who won. WAL mode lets readers proceed during a write.

The database file is created readable and writable by its owner only (0600); SQLite gives its
``-wal`` and ``-shm`` files the same permissions.

The states of requests and of their starts, and which moves between them are allowed, are
:mod:`bot.core.request`'s tables; every conditional update here takes its ``WHERE state``
from them (:func:`bot.core.request.comes_from`, :func:`bot.core.request.start_comes_from`).
The tables themselves are in ``schema.sql`` beside this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from bot.core.model import JobResult, Outcome
from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    Start,
    StartRequest,
    StartState,
    comes_from,
    start_comes_from,
)
from bot.service.ports import Decision, Recorded, Verdict

SCHEMA_VERSION = 2
DEFAULT_BUSY_SECONDS = 10.0  # how long a write waits for another process's lock by default


def _schema() -> str:
    return resources.files("bot.store").joinpath("schema.sql").read_text(encoding="utf-8")


# Columns added after version 1, as (table, column, declaration): a database written by an
# earlier version gains them in place when it is opened (:func:`_migrate`).
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("requests", "channel_problem", "TEXT"),
    ("requests", "message_posting_at", "REAL"),
    ("starts", "lease_owner", "TEXT"),
    ("starts", "lease_until", "REAL"),
    ("starts", "outcome_posting_at", "REAL"),
)


class Store:
    """SQLite-backed storage. One instance per process; methods are short transactions."""

    def __init__(self, path: str | Path, *, autocheckpoint: bool = True) -> None:
        """``autocheckpoint=False``: commits never copy the write-ahead log into the database
        (SQLite does that in the commit that fills the log past 1,000 pages, with an fsync,
        stalling that commit for milliseconds, more on slow disks); whoever opens the store
        so must call :meth:`checkpoint` regularly, off the event loop."""
        self.path = str(path)
        if self.path != ":memory:":
            _create_private(Path(self.path))
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(DEFAULT_BUSY_SECONDS * 1000)}")
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
            if not autocheckpoint:
                self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_schema())
        _migrate(self._db)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """Within the block, a write waits at most ``seconds`` for another process's lock
        (then fails with "database is locked") instead of the default."""
        self._db.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {int(DEFAULT_BUSY_SECONDS * 1000)}")

    def heartbeat(self, now: float) -> None:
        """A real write, committed: raises if the database cannot store anything now."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (now,))

    def close(self) -> None:
        self._db.close()

    def checkpoint(self) -> tuple[int, int]:
        """Copy the committed write-ahead log into the database, without waiting for or
        blocking writers (a passive checkpoint); on a connection of its own, so it can run in
        a thread while the event loop goes on committing. Pages in the log and pages copied.
        """
        if self.path == ":memory:":
            return (0, 0)
        with contextlib.closing(sqlite3.connect(self.path, timeout=10.0)) as db:
            _, in_log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return (int(in_log), int(copied))

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

    # -- requests ---------------------------------------------------------------------------

    def insert_request(self, req: StartRequest, *, actor: str, detail: dict[str, object]) -> None:
        """Store a new request with its jobs and a ``requested`` audit event, atomically;
        raises what storing it raised (its id taken...)."""
        with self._tx() as db:
            _insert_request(db, req=req, actor=actor, detail=detail)

    def get(self, request_id: str) -> StartRequest | None:
        row = self._db.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        return self._hydrate(row)

    def _hydrate(self, row: sqlite3.Row) -> StartRequest:
        jobs = tuple(
            RequestJob(
                job_id=j["job_id"],
                name=j["name"],
                status_at_request=j["status_at_request"],
                prepaid=bool(j["prepaid"]),
                outcome=Outcome(j["outcome"]) if j["outcome"] else None,
                error_code=j["error_code"],
                error_msg=j["error_msg"],
                order_id=j["order_id"],
                drs_status=j["drs_status"],
                attempts=j["attempts"],
            )
            for j in self._db.execute(
                "SELECT * FROM request_jobs WHERE request_id = ? ORDER BY seq", (row["id"],)
            )
        )
        return StartRequest(
            id=row["id"],
            team_id=row["team_id"],
            channel_id=row["channel_id"],
            requester_id=row["requester_id"],
            project=row["project"],
            region=row["region"],
            approval=Approval(row["approval"]),
            jobs=jobs,
            start_time_ms=row["start_time_ms"],
            reason=row["reason"],
            language=row["language"],
            state=RequestState(row["state"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            message_ts=row["message_ts"],
            outcome_ts=row["outcome_ts"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            decision_comment=row["decision_comment"],
            followup_done=bool(row["followup_done"]),
            channel_problem=row["channel_problem"],
            message_posting_at=row["message_posting_at"],
        )

    def _ids(self, sql: str, params: Sequence[object] = ()) -> list[str]:
        return [r[0] for r in self._db.execute(sql, params)]

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
                """UPDATE request_jobs SET name = ?, status_at_request = ?, prepaid = ?,
                error_code = ?, error_msg = ? WHERE request_id = ? AND job_id = ?""",
                [
                    (
                        j.name,
                        j.status_at_request,
                        int(j.prepaid),
                        j.error_code,
                        j.error_msg,
                        request_id,
                        j.job_id,
                    )
                    for j in jobs
                ],
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
            (request_id, RequestState.PENDING, RequestState.APPROVED, RequestState.STARTING),
        )
        return {str(rid): int(n) for rid, n in rows}

    def unconfirmed(self, created_before: float) -> list[str]:
        """Pending requests left half-way by a crash: never posted, or (approval "none")
        posted but not yet confirmed."""
        return self._ids(
            """SELECT id FROM requests WHERE state = ? AND created_at <= ?
            AND (message_ts IS NULL OR approval = ?)""",
            (RequestState.PENDING, created_before, Approval.NONE),
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

    # -- decisions ----------------------------------------------------------------------------

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

    # -- starts -------------------------------------------------------------------------------

    def claim_retry(
        self, request_id: str, job_ids: Sequence[str], *, actor: str, now: float
    ) -> Start | None:
        """Claim a new attempt for ``job_ids`` unless another attempt is still in flight."""
        with self._tx() as db:
            busy = db.execute(
                "SELECT 1 FROM starts WHERE request_id = ? AND state IN (?, ?)",
                (request_id, StartState.CLAIMED, StartState.SENT),
            ).fetchone()
            if busy:
                return None
            (last,) = db.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM starts WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            _insert_start(db, request_id, last + 1, list(job_ids), actor, now)
            _audit(db, request_id, now, actor, AuditKind.RETRY, {"jobs": len(job_ids)})
        return self.start(request_id, last + 1)

    def last_attempt(self, request_id: str) -> int:
        row = self._db.execute(
            "SELECT COALESCE(MAX(attempt), 0) FROM starts WHERE request_id = ?", (request_id,)
        ).fetchone()
        return int(row[0])

    def start(self, request_id: str, attempt: int) -> Start | None:
        row = self._db.execute(
            "SELECT * FROM starts WHERE request_id = ? AND attempt = ?", (request_id, attempt)
        ).fetchone()
        return _start_from_row(row) if row else None

    def starts_in(self, *states: StartState) -> list[Start]:
        marks = ",".join("?" for _ in states)
        rows = self._db.execute(
            f"SELECT * FROM starts WHERE state IN ({marks}) ORDER BY created_at",  # noqa: S608
            [s.value for s in states],
        )
        return [_start_from_row(r) for r in rows]

    def mark_sent(
        self, request_id: str, attempt: int, *, now: float, owner: str, lease: float
    ) -> bool:
        """claimed -> sent, committed before the DRS call, under a lease held by ``owner``
        until ``now + lease`` (renew it with :meth:`renew_lease` while the call lasts).
        False: someone else sent it."""
        with self._tx() as db:
            won = (
                db.execute(
                    """UPDATE starts SET state = ?, sent_at = ?, lease_owner = ?, lease_until = ?
                    WHERE request_id = ? AND attempt = ? AND state = ?""",
                    (
                        StartState.SENT,
                        now,
                        owner,
                        now + lease,
                        request_id,
                        attempt,
                        start_comes_from(StartState.SENT),
                    ),
                ).rowcount
                == 1
            )
            if won:
                db.execute(
                    "UPDATE requests SET state = ?, message_stale = 1 WHERE id = ? AND state = ?",
                    (RequestState.STARTING, request_id, *comes_from(RequestState.STARTING)),
                )
                job_ids = json.loads(
                    db.execute(
                        "SELECT job_ids FROM starts WHERE request_id = ? AND attempt = ?",
                        (request_id, attempt),
                    ).fetchone()[0]
                )
                db.executemany(
                    """UPDATE request_jobs SET attempts = attempts + 1
                    WHERE request_id = ? AND job_id = ?""",
                    [(request_id, j) for j in job_ids],
                )
        return won

    def renew_lease(self, request_id: str, attempt: int, *, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease on a sent attempt; False if it is no longer theirs."""
        with self._tx() as db:
            return (
                db.execute(
                    """UPDATE starts SET lease_until = ? WHERE request_id = ? AND attempt = ?
                    AND state = ? AND lease_owner = ?""",
                    (until, request_id, attempt, StartState.SENT, owner),
                ).rowcount
                == 1
            )

    def take_over(
        self, request_id: str, attempt: int, *, owner: str, now: float, lease: float
    ) -> bool:
        """Take a sent attempt whose owner's lease has expired (the owner died or lost the
        database), to reconcile it; False while the lease is live or someone else took it.
        An attempt sent by a version without leases counts as leased for ``lease`` seconds
        after it was sent."""
        with self._tx() as db:
            won = (
                db.execute(
                    """UPDATE starts SET lease_owner = ?, lease_until = ?
                    WHERE request_id = ? AND attempt = ? AND state = ?
                    AND COALESCE(lease_until, sent_at + ?) <= ?""",
                    (owner, now + lease, request_id, attempt, StartState.SENT, lease, now),
                ).rowcount
                == 1
            )
            if won:
                _audit(db, request_id, now, None, AuditKind.TAKEN_OVER, {"attempt": attempt})
            return won

    def record_outcomes(
        self,
        request_id: str,
        attempt: int,
        results: Iterable[JobResult],
        *,
        now: float,
        calls: Sequence[dict[str, object]],
        drs_statuses: dict[str, str | None] | None = None,
        followup_interval: float,
        followup_max: float,
        recovered: bool = False,
    ) -> Recorded:
        """sent -> recorded: store every job's outcome and the request's resulting state.

        ``recovered`` outcomes were read from batch-status after a takeover; the others are
        DRS's own answer to the start. When the attempt was already recorded (a takeover
        reconciled it while its owner was still waiting for DRS), DRS's own answer is merged
        in: it settles jobs recorded as unknown and adds what only it knows (order IDs), but
        never turns a seen success into a failure. A recovered reading of an attempt already
        recorded changes nothing.
        """
        with self._tx() as db:
            won = (
                db.execute(
                    """UPDATE starts SET state = ? WHERE request_id = ? AND attempt = ?
                    AND state = ?""",
                    (
                        StartState.RECORDED,
                        request_id,
                        attempt,
                        start_comes_from(StartState.RECORDED),
                    ),
                ).rowcount
                == 1
            )
            if not won:
                if recovered:
                    return Recorded.IGNORED
                return _merge_answer(db, request_id, attempt, list(results), calls, now)
            for call in calls:
                _audit(db, request_id, now, None, AuditKind.DRS_CALL, dict(call))
            statuses = drs_statuses or {}
            for r in results:
                db.execute(
                    """UPDATE request_jobs SET outcome = ?, error_code = ?, error_msg = ?,
                    order_id = COALESCE(?, order_id), drs_status = COALESCE(?, drs_status)
                    WHERE request_id = ? AND job_id = ?""",
                    (
                        r.outcome.value,
                        r.error_code,
                        r.error_msg,
                        r.order_id,
                        statuses.get(r.job_id),
                        request_id,
                        r.job_id,
                    ),
                )
            state = _restate(db, request_id)
            db.execute(
                """UPDATE requests SET message_stale = 1, followup_done = 0,
                followup_next_at = ?, followup_deadline = ? WHERE id = ?""",
                (now + followup_interval, now + followup_max, request_id),
            )
            _audit(
                db,
                request_id,
                now,
                None,
                AuditKind.RECOVERED if recovered else AuditKind.OUTCOME,
                {"attempt": attempt, "state": state},
            )
        return Recorded.RECORDED

    def begin_outcome_post(self, request_id: str, attempt: int, now: float) -> float | None:
        """Note that a post of this attempt's outcome begins; when an earlier post began and
        was never confirmed, its time (the message may exist: look for it first)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT outcome_posting_at FROM starts WHERE request_id = ? AND attempt = ?",
                (request_id, attempt),
            ).fetchone()
            db.execute(
                """UPDATE starts SET outcome_posting_at = COALESCE(outcome_posting_at, ?)
                WHERE request_id = ? AND attempt = ?""",
                (now, request_id, attempt),
            )
        return row[0] if row else None

    def begin_message_post(self, request_id: str, now: float) -> float | None:
        """As :meth:`begin_outcome_post`, for the request message in the channel."""
        with self._tx() as db:
            row = db.execute(
                "SELECT message_posting_at FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
            db.execute(
                """UPDATE requests SET message_posting_at = COALESCE(message_posting_at, ?)
                WHERE id = ?""",
                (now, request_id),
            )
        return row[0] if row else None

    def mark_posted(self, request_id: str, attempt: int, outcome_ts: str | None) -> bool:
        """recorded -> posted: the thread shows the outcome (``outcome_ts``), or it cannot
        (None: the channel is lost and the requester was told directly). False if another
        process posted it first."""
        with self._tx() as db:
            won = (
                db.execute(
                    """UPDATE starts SET state = ?, outcome_ts = ? WHERE request_id = ?
                    AND attempt = ? AND state = ?""",
                    (
                        StartState.POSTED,
                        outcome_ts,
                        request_id,
                        attempt,
                        start_comes_from(StartState.POSTED),
                    ),
                ).rowcount
                == 1
            )
            if won and outcome_ts is not None:
                db.execute(
                    "UPDATE requests SET outcome_ts = ? WHERE id = ?", (outcome_ts, request_id)
                )
        return won

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
                _audit(db, request_id, now, None, AuditKind.CHANNEL_LOST, {"error": error})
            return won

    # -- follow-up ----------------------------------------------------------------------------

    def due_followups(self, now: float) -> list[str]:
        return self._ids(
            """SELECT id FROM requests WHERE followup_done = 0 AND followup_next_at IS NOT NULL
            AND followup_next_at <= ? AND outcome_ts IS NOT NULL ORDER BY followup_next_at""",
            (now,),
        )

    def claim_followup(self, request_id: str, *, now: float, lease: float) -> bool:
        """Take the next follow-up round of a request (a lease: another process skips it)."""
        with self._tx() as db:
            return (
                db.execute(
                    """UPDATE requests SET followup_next_at = ? WHERE id = ?
                    AND followup_done = 0 AND followup_next_at <= ?""",
                    (now + lease, request_id, now),
                ).rowcount
                == 1
            )

    def update_drs_statuses(self, request_id: str, statuses: dict[str, str | None]) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE request_jobs SET drs_status = ? WHERE request_id = ? AND job_id = ?",
                [(s, request_id, j) for j, s in statuses.items() if s is not None],
            )

    def confirm_outcomes(self, request_id: str, confirmed: dict[str, Outcome]) -> None:
        """Settle ``unknown`` jobs from what batch-status shows (never overwrite a seen outcome).

        An ``unknown`` request whose jobs are now all known takes the state they give
        (``done``), and its channel message is marked for a refresh.
        """
        with self._tx() as db:
            db.executemany(
                """UPDATE request_jobs SET outcome = ? WHERE request_id = ? AND job_id = ?
                AND outcome = ?""",
                [(o.value, request_id, j, Outcome.UNKNOWN.value) for j, o in confirmed.items()],
            )
            if _restate(db, request_id) is not RequestState.UNKNOWN:
                db.execute("UPDATE requests SET message_stale = 1 WHERE id = ?", (request_id,))

    def fail_started(
        self,
        request_id: str,
        failures: dict[str, tuple[str, str | None]],
        *,
        now: float,
    ) -> list[str]:
        """Jobs started (or maybe started) whose DRS task then failed: outcome ``failed`` with
        ``(error_code, reason)``; the request's state follows. A job already failed is left
        as it is. The jobs that changed now, in request order."""
        with self._tx() as db:
            changed: list[str] = []
            for job_id, (code, reason) in failures.items():
                if db.execute(
                    """UPDATE request_jobs SET outcome = ?, error_code = ?, error_msg = ?
                    WHERE request_id = ? AND job_id = ? AND outcome IN (?, ?)""",
                    (
                        Outcome.FAILED.value,
                        code,
                        reason,
                        request_id,
                        job_id,
                        Outcome.SUCCESS.value,
                        Outcome.UNKNOWN.value,
                    ),
                ).rowcount:
                    changed.append(job_id)
            if changed:
                state = _restate(db, request_id)
                db.execute("UPDATE requests SET message_stale = 1 WHERE id = ?", (request_id,))
                _audit(
                    db,
                    request_id,
                    now,
                    None,
                    AuditKind.START_FAILED,
                    {"jobs": len(changed), "job_ids": changed, "state": state},
                )
            seq = dict(
                db.execute(
                    "SELECT job_id, seq FROM request_jobs WHERE request_id = ?", (request_id,)
                ).fetchall()
            )
        return sorted(changed, key=lambda job: seq.get(job, 0))

    def schedule_followup(
        self, request_id: str, *, next_at: float | None, deadline: float | None = None
    ) -> None:
        """Set the next round; ``next_at=None`` ends the follow-up."""
        with self._tx() as db:
            if next_at is None:
                db.execute(
                    "UPDATE requests SET followup_done = 1, followup_next_at = NULL WHERE id = ?",
                    (request_id,),
                )
            else:
                db.execute(
                    """UPDATE requests SET followup_next_at = ?,
                    followup_deadline = COALESCE(?, followup_deadline) WHERE id = ?""",
                    (next_at, deadline, request_id),
                )

    def followup_deadline(self, request_id: str) -> float | None:
        row = self._db.execute(
            "SELECT followup_deadline FROM requests WHERE id = ?", (request_id,)
        ).fetchone()
        return row[0] if row else None

    def claim_settled_notice(self, request_id: str) -> bool:
        """True exactly once per request: the caller mentions the requester."""
        with self._tx() as db:
            return (
                db.execute(
                    """UPDATE requests SET settled_notified = 1
                    WHERE id = ? AND settled_notified = 0""",
                    (request_id,),
                ).rowcount
                == 1
            )

    # -- audit --------------------------------------------------------------------------------

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
            _audit(db, request_id, now, actor, kind, detail or {})

    def events(self, request_id: str) -> list[AuditEvent]:
        return [
            AuditEvent(
                request_id=r["request_id"],
                at=r["at"],
                actor=r["actor"],
                kind=AuditKind(r["kind"]),
                detail=json.loads(r["detail"]),
            )
            for r in self._db.execute(
                "SELECT * FROM audit WHERE request_id = ? ORDER BY id", (request_id,)
            )
        ]


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database written by an earlier version up to this one's columns, in place."""
    for table, column, declaration in _ADDED_COLUMNS:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (no window with wider rights)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)


def _decide(db: sqlite3.Connection, *, verdict: Verdict) -> bool:
    v = verdict
    sql = """UPDATE requests SET state = ?, decided_by = ?, decided_at = ?,
        decision_comment = ?, message_stale = 1 WHERE id = ? AND state = ?"""
    (state,) = comes_from(v.target)  # a decision is taken on a pending request only
    params: list[object] = [v.target.value, v.actor, v.now, v.comment, v.request_id, state]
    if v.require_unexpired:
        sql += " AND expires_at > ?"
        params.append(v.now)
    won = db.execute(sql, params).rowcount == 1
    if won:
        kind = {
            RequestState.APPROVED: AuditKind.APPROVED,
            RequestState.REJECTED: AuditKind.REJECTED,
            RequestState.CANCELLED: AuditKind.CANCELLED,
            RequestState.EXPIRED: AuditKind.EXPIRED,
        }[v.target]
        detail: dict[str, object] = {"comment": v.comment} if v.comment else {}
        if v.start_now and v.target is RequestState.APPROVED:
            (scheduled,) = db.execute(
                "SELECT start_time_ms FROM requests WHERE id = ?", (v.request_id,)
            ).fetchone()
            db.execute("UPDATE requests SET start_time_ms = NULL WHERE id = ?", (v.request_id,))
            detail.update(start_now_instead=True, scheduled_for_ms=scheduled)
        _audit(db, v.request_id, v.now, v.actor, kind, detail)
        if v.target is RequestState.APPROVED:
            job_ids = [
                r[0]
                for r in db.execute(
                    "SELECT job_id FROM request_jobs WHERE request_id = ? ORDER BY seq",
                    (v.request_id,),
                )
            ]
            _insert_start(db, v.request_id, 1, job_ids, v.actor, v.now)
    return won


def _insert_request(
    db: sqlite3.Connection, *, req: StartRequest, actor: str, detail: dict[str, object]
) -> None:
    db.execute(
        """INSERT INTO requests (id, team_id, channel_id, requester_id, project, region,
        approval, start_time_ms, reason, language, state, created_at, expires_at,
        message_ts, outcome_ts, decided_by, decided_at, decision_comment)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
        (
            req.id,
            req.team_id,
            req.channel_id,
            req.requester_id,
            req.project,
            req.region,
            req.approval.value,
            req.start_time_ms,
            req.reason,
            req.language,
            req.state.value,
            req.created_at,
            req.expires_at,
            req.message_ts,
            req.outcome_ts,
            req.decided_by,
            req.decided_at,
            req.decision_comment,
        ),
    )
    db.executemany(
        """INSERT INTO request_jobs (request_id, seq, job_id, name, status_at_request,
        prepaid, outcome, error_code, error_msg, order_id, drs_status, attempts)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
        [
            (
                req.id,
                i,
                j.job_id,
                j.name,
                j.status_at_request,
                int(j.prepaid),
                j.outcome.value if j.outcome else None,
                j.error_code,
                j.error_msg,
                j.order_id,
                j.drs_status,
                j.attempts,
            )
            for i, j in enumerate(req.jobs)
        ],
    )
    _audit(db, req.id, req.created_at, actor, AuditKind.REQUESTED, detail)


def _audit(
    db: sqlite3.Connection,
    request_id: str,
    at: float,
    actor: str | None,
    kind: AuditKind,
    detail: dict[str, object],
) -> None:
    db.execute(
        "INSERT INTO audit (request_id, at, actor, kind, detail) VALUES (?,?,?,?,?)",
        (request_id, at, actor, kind.value, json.dumps(detail, sort_keys=True, default=str)),
    )


def _insert_start(
    db: sqlite3.Connection,
    request_id: str,
    attempt: int,
    job_ids: Sequence[str],
    actor: str | None,
    now: float,
) -> None:
    db.execute(
        """INSERT INTO starts (request_id, attempt, state, job_ids, actor, created_at)
        VALUES (?,?,?,?,?,?)""",
        (request_id, attempt, StartState.CLAIMED, json.dumps(list(job_ids)), actor, now),
    )


def _start_from_row(row: sqlite3.Row) -> Start:
    return Start(
        request_id=row["request_id"],
        attempt=row["attempt"],
        state=StartState(row["state"]),
        job_ids=tuple(json.loads(row["job_ids"])),
        actor=row["actor"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        outcome_ts=row["outcome_ts"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        outcome_posting_at=row["outcome_posting_at"],
    )


def _merge_answer(
    db: sqlite3.Connection,
    request_id: str,
    attempt: int,
    results: Sequence[JobResult],
    calls: Sequence[dict[str, object]],
    now: float,
) -> Recorded:
    """DRS's own answer to an attempt that a takeover recorded already (see
    :meth:`Store.record_outcomes`)."""
    row = db.execute(
        "SELECT state FROM starts WHERE request_id = ? AND attempt = ?", (request_id, attempt)
    ).fetchone()
    if row is None or row[0] not in (StartState.RECORDED, StartState.POSTED):
        return Recorded.IGNORED
    for call in calls:
        _audit(db, request_id, now, None, AuditKind.DRS_CALL, dict(call))
    settled = 0
    for r in results:
        settled += db.execute(
            """UPDATE request_jobs SET outcome = ?, error_code = ?, error_msg = ?,
            order_id = COALESCE(?, order_id)
            WHERE request_id = ? AND job_id = ? AND (outcome IS NULL OR outcome = ?)
            AND ? != ?""",
            (
                r.outcome.value,
                r.error_code,
                r.error_msg,
                r.order_id,
                request_id,
                r.job_id,
                Outcome.UNKNOWN.value,
                r.outcome.value,
                Outcome.UNKNOWN.value,
            ),
        ).rowcount
        if r.order_id is not None:
            db.execute(
                """UPDATE request_jobs SET order_id = ? WHERE request_id = ? AND job_id = ?
                AND order_id IS NULL AND outcome = ?""",
                (r.order_id, request_id, r.job_id, Outcome.SUCCESS.value),
            )
    state = _restate(db, request_id)
    db.execute("UPDATE requests SET message_stale = 1 WHERE id = ?", (request_id,))
    _audit(
        db,
        request_id,
        now,
        None,
        AuditKind.MERGED,
        {"attempt": attempt, "settled": settled, "state": state},
    )
    return Recorded.MERGED


def _restate(db: sqlite3.Connection, request_id: str) -> RequestState:
    """Set the request's state from its jobs' outcomes, where :mod:`bot.core.request`'s table
    allows the move; the state they give."""
    outcomes = [
        row[0]
        for row in db.execute(
            "SELECT outcome FROM request_jobs WHERE request_id = ?", (request_id,)
        )
    ]
    state = _request_state_from(outcomes)
    sources = comes_from(state)
    marks = ",".join("?" for _ in sources)
    db.execute(
        f"UPDATE requests SET state = ? WHERE id = ? AND state IN ({marks})",  # noqa: S608
        (state, request_id, *sources),
    )
    return state


def _request_state_from(outcomes: Sequence[str | None]) -> RequestState:
    """done: every outcome seen; unknown: any unseen; failed: nothing started, all refused."""
    if any(o == Outcome.UNKNOWN or o is None for o in outcomes):
        return RequestState.UNKNOWN
    if outcomes and all(o == Outcome.FAILED for o in outcomes):
        return RequestState.FAILED
    return RequestState.DONE

"""Starts: the batch-start attempts of requests, their leases, and their outcomes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from bot.core.model import JobResult, Outcome
from bot.core.request import (
    AuditKind,
    RequestState,
    Start,
    StartState,
    comes_from,
    start_comes_from,
)
from bot.service.ports import PostTurn, Recorded
from bot.store.records import (
    ANSWERED,
    IN_FLIGHT,
    may_post,
    merge_adds_order,
    merge_settles,
    recorded_params,
    result_params,
    start_from_row,
)
from bot.store.rows import Rows, alive_row, audit_row, insert_start, restate


class StartRows(Rows):
    """The starts table: claimed, sent (under a lease), recorded, posted."""

    def claim_retry(
        self,
        request_id: str,
        job_ids: Sequence[str],
        *,
        actor: str,
        now: float,
        owner: str | None = None,
    ) -> Start | None:
        """Claim a new attempt for ``job_ids`` unless another attempt is still in flight."""
        with self._tx() as db:
            busy = db.execute(
                "SELECT 1 FROM starts WHERE request_id = ? AND state IN (?, ?)",
                (request_id, *IN_FLIGHT),
            ).fetchone()
            if busy:
                return None
            (last,) = db.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM starts WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            insert_start(db, request_id, last + 1, job_ids, actor, now, owner)
            audit_row(db, request_id, now, actor, AuditKind.RETRY, {"jobs": len(job_ids)})
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
        return start_from_row(row, json.loads(row["job_ids"])) if row else None

    def starts_in(self, *states: StartState) -> list[Start]:
        marks = ",".join("?" for _ in states)
        rows = self._db.execute(
            f"SELECT * FROM starts WHERE state IN ({marks}) ORDER BY created_at",  # noqa: S608
            [s.value for s in states],
        )
        return [start_from_row(r, json.loads(r["job_ids"])) for r in rows]

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
                audit_row(db, request_id, now, None, AuditKind.TAKEN_OVER, {"attempt": attempt})
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
                audit_row(db, request_id, now, None, AuditKind.DRS_CALL, dict(call))
            db.executemany(
                """UPDATE request_jobs SET outcome = ?2, error_code = ?3, error_msg = ?4,
                order_id = COALESCE(?5, order_id), drs_status = COALESCE(?6, drs_status)
                WHERE request_id = ?7 AND job_id = ?1""",
                [(*p, request_id) for p in recorded_params(results, drs_statuses)],
            )
            state = restate(db, request_id)
            db.execute(
                """UPDATE requests SET message_stale = 1, followup_done = 0,
                followup_next_at = ?, followup_deadline = ? WHERE id = ?""",
                (now + followup_interval, now + followup_max, request_id),
            )
            audit_row(
                db,
                request_id,
                now,
                None,
                AuditKind.RECOVERED if recovered else AuditKind.OUTCOME,
                {"attempt": attempt, "state": state},
            )
        return Recorded.RECORDED

    def begin_outcome_post(
        self, request_id: str, attempt: int, now: float, *, owner: str, alive_until: float
    ) -> PostTurn:
        """Claim the post of this attempt's outcome for process ``owner`` (alive, in the same
        transaction, until ``alive_until``): refused unless it is recorded and not posted,
        and while another live process holds it (the attempt's ``lease_owner``: its sender,
        or whoever took it up). ``earlier``: when an earlier post began and was never
        confirmed (the message may exist: look for it first)."""
        with self._tx() as db:
            alive_row(db, owner, alive_until)
            row = db.execute(
                """SELECT outcome_posting_at, state, lease_owner,
                (SELECT alive_until FROM replicas WHERE replicas.owner = starts.lease_owner)
                FROM starts WHERE request_id = ? AND attempt = ?""",
                (request_id, attempt),
            ).fetchone()
            if row is None or row[1] != StartState.RECORDED:
                return PostTurn(False, row[0] if row else None)
            if not may_post(row[2], row[3], owner, now):
                return PostTurn(False, row[0])
            db.execute(
                """UPDATE starts SET outcome_posting_at = COALESCE(outcome_posting_at, ?),
                lease_owner = ? WHERE request_id = ? AND attempt = ?""",
                (now, owner, request_id, attempt),
            )
        return PostTurn(True, row[0])

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
    if row is None or row[0] not in ANSWERED:
        return Recorded.IGNORED
    for call in calls:
        audit_row(db, request_id, now, None, AuditKind.DRS_CALL, dict(call))
    settled = 0
    for r in results:
        if merge_settles(r):
            settled += db.execute(
                """UPDATE request_jobs SET outcome = ?2, error_code = ?3, error_msg = ?4,
                order_id = COALESCE(?5, order_id)
                WHERE request_id = ?7 AND job_id = ?1 AND (outcome IS NULL OR outcome = ?8)""",
                (*result_params(r, None), request_id, Outcome.UNKNOWN.value),
            ).rowcount
        if merge_adds_order(r):
            db.execute(
                """UPDATE request_jobs SET order_id = ? WHERE request_id = ? AND job_id = ?
                AND order_id IS NULL AND outcome = ?""",
                (r.order_id, request_id, r.job_id, Outcome.SUCCESS.value),
            )
    state = restate(db, request_id)
    db.execute("UPDATE requests SET message_stale = 1 WHERE id = ?", (request_id,))
    audit_row(
        db,
        request_id,
        now,
        None,
        AuditKind.MERGED,
        {"attempt": attempt, "settled": settled, "state": state},
    )
    return Recorded.MERGED

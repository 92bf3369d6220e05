"""Follow-up: when each request is polled next, what DRS showed, and the settled notice."""

from __future__ import annotations

from bot.core.model import Outcome
from bot.core.request import (
    AuditKind,
    RequestState,
)
from bot.store.rows import Rows, audit_row, restate


class FollowUpRows(Rows):
    """The follow-up columns of the requests table and its jobs' DRS statuses."""

    def due_followups(self, now: float) -> list[str]:
        """Requests whose next round is due, once their outcome was shown (in the thread, or
        directly to the requester when the channel is lost)."""
        return self._ids(
            """SELECT id FROM requests WHERE followup_done = 0 AND followup_next_at IS NOT NULL
            AND followup_next_at <= ?
            AND (outcome_ts IS NOT NULL OR channel_problem IS NOT NULL)
            ORDER BY followup_next_at""",
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
            if restate(db, request_id) is not RequestState.UNKNOWN:
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
                state = restate(db, request_id)
                db.execute("UPDATE requests SET message_stale = 1 WHERE id = ?", (request_id,))
                audit_row(
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
        self,
        request_id: str,
        *,
        next_at: float | None,
        deadline: float | None = None,
        changed_at: float | None = None,
    ) -> None:
        """Set the next round; ``next_at=None`` ends the follow-up. ``changed_at``: when a
        round saw DRS move a job (kept for the pace of the rounds after it)."""
        with self._tx() as db:
            if next_at is None:
                db.execute(
                    "UPDATE requests SET followup_done = 1, followup_next_at = NULL WHERE id = ?",
                    (request_id,),
                )
            else:
                db.execute(
                    """UPDATE requests SET followup_next_at = ?,
                    followup_deadline = COALESCE(?, followup_deadline),
                    followup_changed_at = COALESCE(?, followup_changed_at) WHERE id = ?""",
                    (next_at, deadline, changed_at, request_id),
                )

    def followup_deadline(self, request_id: str) -> float | None:
        row = self._db.execute(
            "SELECT followup_deadline FROM requests WHERE id = ?", (request_id,)
        ).fetchone()
        return row[0] if row else None

    def followup_changed_at(self, request_id: str) -> float | None:
        """When a follow-up round last saw DRS move one of the request's jobs (None: never)."""
        row = self._db.execute(
            "SELECT followup_changed_at FROM requests WHERE id = ?", (request_id,)
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

"""Follow-up in PostgreSQL: when each request is polled next, what DRS showed, and the
settled notice (as :mod:`bot.store.followups` does in SQLite)."""

from __future__ import annotations

from bot.core.model import Outcome
from bot.core.request import AuditKind, RequestState
from bot.store.postgres.connection import ids
from bot.store.postgres.rows import PgRows, audit_row, lock_request, mark_stale, restate


class PgFollowUpRows(PgRows):
    """The follow-up columns of the requests table and its jobs' DRS statuses."""

    async def due_followups(self, now: float) -> list[str]:
        db = await self.ready()
        async with db.connection() as conn:
            return await ids(
                conn,
                """SELECT id FROM requests WHERE NOT followup_done
                AND followup_next_at IS NOT NULL AND followup_next_at <= %s
                AND (outcome_ts IS NOT NULL OR channel_problem IS NOT NULL)
                ORDER BY followup_next_at, id""",
                (now,),
            )

    async def claim_followup(self, request_id: str, *, now: float, lease: float) -> bool:
        """Take the next follow-up round of a request (a lease: another process skips it).
        A request another process is writing right now is skipped too, not waited for
        (``SKIP LOCKED``): it is due again next round."""
        db = await self.ready()
        async with db.tx() as conn:
            cur = await conn.execute(
                """UPDATE requests SET followup_next_at = %s WHERE id IN (
                    SELECT id FROM requests WHERE id = %s AND NOT followup_done
                    AND followup_next_at <= %s FOR NO KEY UPDATE SKIP LOCKED)""",
                (now + lease, request_id, now),
            )
            return cur.rowcount == 1

    async def update_drs_statuses(self, request_id: str, statuses: dict[str, str | None]) -> None:
        seen = {job: status for job, status in statuses.items() if status is not None}
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            await conn.execute(
                """UPDATE request_jobs j SET drs_status = r.status
                FROM unnest(%s::text[], %s::text[]) AS r(job_id, status)
                WHERE j.request_id = %s AND j.job_id = r.job_id""",
                (list(seen), list(seen.values()), request_id),
            )

    async def confirm_outcomes(self, request_id: str, confirmed: dict[str, Outcome]) -> None:
        """Settle ``unknown`` jobs from what batch-status shows (never overwrite a seen
        outcome); a request whose jobs are now all known takes the state they give, and its
        channel message is marked for a refresh."""
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            await conn.execute(
                """UPDATE request_jobs j SET outcome = r.outcome
                FROM unnest(%s::text[], %s::text[]) AS r(job_id, outcome)
                WHERE j.request_id = %s AND j.job_id = r.job_id AND j.outcome = %s""",
                (
                    list(confirmed),
                    [o.value for o in confirmed.values()],
                    request_id,
                    Outcome.UNKNOWN.value,
                ),
            )
            if await restate(conn, request_id) is not RequestState.UNKNOWN:
                await mark_stale(conn, request_id)

    async def fail_started(
        self,
        request_id: str,
        failures: dict[str, tuple[str, str | None]],
        *,
        now: float,
    ) -> list[str]:
        """Jobs started (or maybe started) whose DRS task then failed: outcome ``failed``
        with ``(error_code, reason)``; the request's state follows. A job already failed is
        left as it is. The jobs that changed now, in request order."""
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            cur = await conn.execute(
                """UPDATE request_jobs j SET outcome = %s, error_code = r.code,
                error_msg = r.msg
                FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(job_id, code, msg)
                WHERE j.request_id = %s AND j.job_id = r.job_id AND j.outcome = ANY(%s)
                RETURNING j.job_id, j.seq""",
                (
                    Outcome.FAILED.value,
                    list(failures),
                    [code for code, _ in failures.values()],
                    [reason for _, reason in failures.values()],
                    request_id,
                    [Outcome.SUCCESS.value, Outcome.UNKNOWN.value],
                ),
            )
            rows = sorted(await cur.fetchall(), key=lambda row: int(row["seq"]))
            changed = [str(row["job_id"]) for row in rows]
            if changed:
                state = await restate(conn, request_id)
                await mark_stale(conn, request_id)
                detail = {"jobs": len(changed), "job_ids": changed, "state": state}
                await audit_row(conn, request_id, now, None, AuditKind.START_FAILED, detail)
        return changed

    async def schedule_followup(
        self,
        request_id: str,
        *,
        next_at: float | None,
        deadline: float | None = None,
        changed_at: float | None = None,
    ) -> None:
        """Set the next round; ``next_at=None`` ends the follow-up. ``changed_at``: when a
        round saw DRS move a job (kept for the pace of the rounds after it)."""
        db = await self.ready()
        async with db.tx() as conn:
            if next_at is None:
                await conn.execute(
                    """UPDATE requests SET followup_done = TRUE, followup_next_at = NULL
                    WHERE id = %s""",
                    (request_id,),
                )
            else:
                await conn.execute(
                    """UPDATE requests SET followup_next_at = %s,
                    followup_deadline = COALESCE(%s, followup_deadline),
                    followup_changed_at = COALESCE(%s, followup_changed_at) WHERE id = %s""",
                    (next_at, deadline, changed_at, request_id),
                )

    async def followup_deadline(self, request_id: str) -> float | None:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                "SELECT followup_deadline FROM requests WHERE id = %s", (request_id,)
            )
            row = await cur.fetchone()
        return row["followup_deadline"] if row else None

    async def followup_changed_at(self, request_id: str) -> float | None:
        """When a follow-up round last saw DRS move one of the request's jobs (None: never)."""
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                "SELECT followup_changed_at FROM requests WHERE id = %s", (request_id,)
            )
            row = await cur.fetchone()
        return row["followup_changed_at"] if row else None

    async def claim_settled_notice(self, request_id: str) -> bool:
        """True exactly once per request: the caller mentions the requester."""
        db = await self.ready()
        async with db.tx() as conn:
            cur = await conn.execute(
                """UPDATE requests SET settled_notified = TRUE
                WHERE id = %s AND NOT settled_notified""",
                (request_id,),
            )
            return cur.rowcount == 1

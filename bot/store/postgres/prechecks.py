"""Each job's DRS precheck in PostgreSQL (``request_prechecks``, schema step 2), as
:mod:`bot.store.prechecks` keeps it in SQLite: a newer read replaces an older one, never the
reverse."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.precheck import JobPrecheck
from bot.store.postgres.rows import PgRows
from bot.store.prechecks import (
    CLAIM_POLL,
    FORGET_POLLS,
    LAPSED_LONG_AGO,
    UNWATCHED,
    from_row,
    unwatched_params,
    write_params,
)


class PgPrecheckRows(PgRows):
    """The ``request_prechecks`` table."""

    async def save_prechecks(self, request_id: str, prechecks: Sequence[JobPrecheck]) -> None:
        if not prechecks:
            return
        db = await self.ready()
        async with db.tx() as conn, conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO request_prechecks (request_id, job_id, state, passed_rate,
                failed_items, precheck_id, read_at, reason)
                VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s)
                ON CONFLICT (request_id, job_id) DO UPDATE SET state = excluded.state,
                passed_rate = excluded.passed_rate, failed_items = excluded.failed_items,
                precheck_id = excluded.precheck_id, read_at = excluded.read_at,
                reason = excluded.reason
                WHERE excluded.read_at >= request_prechecks.read_at""",
                [write_params(request_id, p) for p in prechecks],
            )

    async def prechecks(self, request_id: str) -> dict[str, JobPrecheck]:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM request_prechecks WHERE request_id = %s ORDER BY job_id",
                (request_id,),
            )
            rows = await cur.fetchall()
        return {r["job_id"]: from_row(r) for r in rows}

    async def unwatched_prechecks(self, read_before: float) -> list[str]:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(UNWATCHED, unwatched_params(read_before))
            return [r["request_id"] for r in await cur.fetchall()]

    async def claim_precheck_poll(
        self, request_id: str, *, owner: str, now: float, until: float
    ) -> bool:
        """As SQLite's: the claim is one statement, whose ``ON CONFLICT`` makes a second
        claimer at the same moment wait for the first and then find the lease held."""
        db = await self.ready()
        async with db.tx() as conn:
            await conn.execute(FORGET_POLLS, (now - LAPSED_LONG_AGO,))
            cur = await conn.execute(CLAIM_POLL, (request_id, owner, until, now))
            return cur.rowcount == 1

"""Starts in PostgreSQL: the batch-start attempts of requests, their leases, and their
outcomes (as :mod:`bot.store.starts` does in SQLite)."""

from __future__ import annotations

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
from bot.store.postgres.connection import Conn
from bot.store.postgres.rows import (
    PgRows,
    alive_row,
    audit_row,
    insert_start,
    lock_request,
    mark_stale,
    restate,
)
from bot.store.records import (
    ANSWERED,
    IN_FLIGHT,
    columns,
    may_post,
    merge_adds_order,
    merge_settles,
    recorded_params,
    result_params,
    start_from_row,
)


class PgStartRows(PgRows):
    """The starts table: claimed, sent (under a lease), recorded, posted."""

    async def claim_retry(
        self,
        request_id: str,
        job_ids: Sequence[str],
        *,
        actor: str,
        now: float,
        owner: str | None = None,
    ) -> Start | None:
        """Claim a new attempt for ``job_ids`` unless another attempt is still in flight."""
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            cur = await conn.execute(
                """SELECT COALESCE(MAX(attempt), 0) AS last,
                COUNT(*) FILTER (WHERE state = ANY(%s)) AS busy
                FROM starts WHERE request_id = %s""",
                ([s.value for s in IN_FLIGHT], request_id),
            )
            row = await cur.fetchone()
            assert row is not None
            if row["busy"]:
                return None
            attempt = int(row["last"]) + 1
            await insert_start(conn, request_id, attempt, job_ids, actor, now, owner)
            await audit_row(conn, request_id, now, actor, AuditKind.RETRY, {"jobs": len(job_ids)})
            return await _start(conn, request_id, attempt)

    async def last_attempt(self, request_id: str) -> int:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) AS last FROM starts WHERE request_id = %s",
                (request_id,),
            )
            row = await cur.fetchone()
        return int(row["last"]) if row else 0

    async def start(self, request_id: str, attempt: int) -> Start | None:
        db = await self.ready()
        async with db.connection() as conn:
            return await _start(conn, request_id, attempt)

    async def starts_in(self, *states: StartState) -> list[Start]:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                """SELECT * FROM starts WHERE state = ANY(%s)
                ORDER BY created_at, request_id, attempt""",
                ([s.value for s in states],),
            )
            return [start_from_row(r, r["job_ids"]) for r in await cur.fetchall()]

    async def mark_sent(
        self, request_id: str, attempt: int, *, now: float, owner: str, lease: float
    ) -> bool:
        """claimed -> sent, committed before the DRS call, under a lease held by ``owner``
        until ``now + lease``. False: someone else sent it."""
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            cur = await conn.execute(
                """UPDATE starts SET state = %s, sent_at = %s, lease_owner = %s,
                lease_until = %s WHERE request_id = %s AND attempt = %s AND state = %s
                RETURNING job_ids""",
                (
                    StartState.SENT.value,
                    now,
                    owner,
                    now + lease,
                    request_id,
                    attempt,
                    start_comes_from(StartState.SENT).value,
                ),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            await conn.execute(
                """UPDATE requests SET state = %s, message_stale = TRUE
                WHERE id = %s AND state = ANY(%s)""",
                (
                    RequestState.STARTING.value,
                    request_id,
                    [s.value for s in comes_from(RequestState.STARTING)],
                ),
            )
            await conn.execute(
                """UPDATE request_jobs SET attempts = attempts + 1
                WHERE request_id = %s AND job_id = ANY(%s)""",
                (request_id, list(row["job_ids"])),
            )
            return True

    async def renew_lease(self, request_id: str, attempt: int, *, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease on a sent attempt; False if it is no longer theirs."""
        db = await self.ready()
        async with db.tx() as conn:
            cur = await conn.execute(
                """UPDATE starts SET lease_until = %s WHERE request_id = %s AND attempt = %s
                AND state = %s AND lease_owner = %s""",
                (until, request_id, attempt, StartState.SENT.value, owner),
            )
            return cur.rowcount == 1

    async def take_over(
        self, request_id: str, attempt: int, *, owner: str, now: float, lease: float
    ) -> bool:
        """Take a sent attempt whose owner's lease has expired, to reconcile it; False while
        the lease is live, someone else took it, or another process is busy with the start
        right now (``SKIP LOCKED``: recovery never waits; it tries again next round)."""
        db = await self.ready()
        async with db.tx() as conn:
            cur = await conn.execute(
                """UPDATE starts SET lease_owner = %s, lease_until = %s
                WHERE (request_id, attempt) IN (
                    SELECT request_id, attempt FROM starts
                    WHERE request_id = %s AND attempt = %s AND state = %s
                    AND COALESCE(lease_until, sent_at + %s) <= %s
                    FOR NO KEY UPDATE SKIP LOCKED)""",
                (owner, now + lease, request_id, attempt, StartState.SENT.value, lease, now),
            )
            won = cur.rowcount == 1
            if won:
                await audit_row(
                    conn, request_id, now, None, AuditKind.TAKEN_OVER, {"attempt": attempt}
                )
            return won

    async def record_outcomes(
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
        """sent -> recorded: every job's outcome and the request's resulting state; DRS's
        own answer to an attempt a takeover recorded already is merged in (see
        :meth:`bot.store.sqlite.Store.record_outcomes`)."""
        results = list(results)
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            cur = await conn.execute(
                """UPDATE starts SET state = %s
                WHERE request_id = %s AND attempt = %s AND state = %s""",
                (
                    StartState.RECORDED.value,
                    request_id,
                    attempt,
                    start_comes_from(StartState.RECORDED).value,
                ),
            )
            if cur.rowcount != 1:
                if recovered:
                    return Recorded.IGNORED
                return await _merge_answer(conn, request_id, attempt, results, calls, now)
            for call in calls:
                await audit_row(conn, request_id, now, None, AuditKind.DRS_CALL, dict(call))
            recorded = recorded_params(results, drs_statuses)
            await conn.execute(
                """UPDATE request_jobs j SET outcome = r.outcome, error_code = r.code,
                error_msg = r.msg, order_id = COALESCE(r.order_id, j.order_id),
                drs_status = COALESCE(r.status, j.drs_status)
                FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                    %s::text[]) AS r(job_id, outcome, code, msg, order_id, status)
                WHERE j.request_id = %s AND j.job_id = r.job_id""",
                (*_result_columns(recorded), request_id),
            )
            state = await restate(conn, request_id)
            await conn.execute(
                """UPDATE requests SET message_stale = TRUE, followup_done = FALSE,
                followup_next_at = %s, followup_deadline = %s WHERE id = %s""",
                (now + followup_interval, now + followup_max, request_id),
            )
            kind = AuditKind.RECOVERED if recovered else AuditKind.OUTCOME
            await audit_row(conn, request_id, now, None, kind, {"attempt": attempt, "state": state})
        return Recorded.RECORDED

    async def begin_outcome_post(
        self, request_id: str, attempt: int, now: float, *, owner: str, alive_until: float
    ) -> PostTurn:
        """As SQLite's: the post of this attempt's outcome, for one live process at a time
        (its ``lease_owner``); the request's row lock orders rivals."""
        db = await self.ready()
        async with db.tx() as conn:
            await alive_row(conn, owner, alive_until)
            await lock_request(conn, request_id)
            cur = await conn.execute(
                """SELECT outcome_posting_at, state, lease_owner,
                (SELECT alive_until FROM replicas WHERE replicas.owner = starts.lease_owner)
                AS holder_alive
                FROM starts WHERE request_id = %s AND attempt = %s FOR NO KEY UPDATE""",
                (request_id, attempt),
            )
            row = await cur.fetchone()
            if row is None or row["state"] != StartState.RECORDED.value:
                return PostTurn(False, row["outcome_posting_at"] if row else None)
            if not may_post(row["lease_owner"], row["holder_alive"], owner, now):
                return PostTurn(False, row["outcome_posting_at"])
            await conn.execute(
                """UPDATE starts SET outcome_posting_at = COALESCE(outcome_posting_at, %s),
                lease_owner = %s WHERE request_id = %s AND attempt = %s""",
                (now, owner, request_id, attempt),
            )
        return PostTurn(True, row["outcome_posting_at"])

    async def mark_posted(self, request_id: str, attempt: int, outcome_ts: str | None) -> bool:
        """recorded -> posted: the thread shows the outcome (``outcome_ts``), or it cannot
        (None: the requester was told directly). False if another process posted it first."""
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            cur = await conn.execute(
                """UPDATE starts SET state = %s, outcome_ts = %s
                WHERE request_id = %s AND attempt = %s AND state = %s""",
                (
                    StartState.POSTED.value,
                    outcome_ts,
                    request_id,
                    attempt,
                    start_comes_from(StartState.POSTED).value,
                ),
            )
            won = cur.rowcount == 1
            if won and outcome_ts is not None:
                await conn.execute(
                    "UPDATE requests SET outcome_ts = %s WHERE id = %s", (outcome_ts, request_id)
                )
            return won


async def _merge_answer(
    conn: Conn,
    request_id: str,
    attempt: int,
    results: Sequence[JobResult],
    calls: Sequence[dict[str, object]],
    now: float,
) -> Recorded:
    """DRS's own answer to an attempt that a takeover recorded already: it settles jobs
    recorded as unknown, adds order IDs, never turns a seen outcome into another."""
    cur = await conn.execute(
        "SELECT state FROM starts WHERE request_id = %s AND attempt = %s", (request_id, attempt)
    )
    row = await cur.fetchone()
    if row is None or row["state"] not in ANSWERED:
        return Recorded.IGNORED
    for call in calls:
        await audit_row(conn, request_id, now, None, AuditKind.DRS_CALL, dict(call))
    settling = _result_columns([result_params(r, None) for r in results if merge_settles(r)])
    cur = await conn.execute(
        """UPDATE request_jobs j SET outcome = r.outcome, error_code = r.code,
        error_msg = r.msg, order_id = COALESCE(r.order_id, j.order_id)
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
            AS r(job_id, outcome, code, msg, order_id, status)
        WHERE j.request_id = %s AND j.job_id = r.job_id
        AND (j.outcome IS NULL OR j.outcome = %s)""",
        (*settling, request_id, Outcome.UNKNOWN.value),
    )
    settled = cur.rowcount
    ordering = _result_columns([result_params(r, None) for r in results if merge_adds_order(r)])
    await conn.execute(
        """UPDATE request_jobs j SET order_id = r.order_id
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])
            AS r(job_id, outcome, code, msg, order_id, status)
        WHERE j.request_id = %s AND j.job_id = r.job_id
        AND j.order_id IS NULL AND j.outcome = %s""",
        (*ordering, request_id, Outcome.SUCCESS.value),
    )
    state = await restate(conn, request_id)
    await mark_stale(conn, request_id)
    detail = {"attempt": attempt, "settled": settled, "state": state}
    await audit_row(conn, request_id, now, None, AuditKind.MERGED, detail)
    return Recorded.MERGED


async def _start(conn: Conn, request_id: str, attempt: int) -> Start | None:
    cur = await conn.execute(
        "SELECT * FROM starts WHERE request_id = %s AND attempt = %s", (request_id, attempt)
    )
    row = await cur.fetchone()
    return start_from_row(row, row["job_ids"]) if row else None


def _result_columns(params: Sequence[tuple[object, ...]]) -> list[list[object]]:
    """:func:`result_params` rows as the columns of the ``unnest`` above."""
    return columns(params, 6)

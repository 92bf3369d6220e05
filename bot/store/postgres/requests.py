"""Requests in PostgreSQL: storing one, reading it back, deciding it, its message and its
audit trail (as :mod:`bot.store.requests` does in SQLite)."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
    StartState,
    comes_from,
)
from bot.service.ports import Decision, PostTurn, Verdict
from bot.store.postgres.connection import Conn, ids
from bot.store.postgres.rows import (
    PgRows,
    alive_row,
    audit_row,
    lock_request,
)
from bot.store.postgres.together import Together
from bot.store.records import (
    DECIDED,
    OPEN_STATES,
    REQUEST_COLUMNS,
    audit_json,
    clears_start_time,
    columns,
    decision_detail,
    event_from_row,
    job_info_params,
    job_params,
    may_post,
    request_from_row,
    request_params,
)


class PgRequestRows(PgRows):
    """The requests table, its jobs and its audit trail."""

    decisions: Together[Verdict, Decision]  # made with _decide_all
    insertions: Together[dict[str, object], None]  # made with _insert_all

    async def insert_request(
        self,
        req: StartRequest,
        *,
        actor: str,
        detail: dict[str, object],
        within: float | None = None,
        owner: str | None = None,
    ) -> None:
        """Store a new request with its jobs and a ``requested`` audit event, atomically;
        ``owner``: the process that will post it. With ``within``, made in that many seconds
        or not at all, and answered in time. Requests stored at the same moment are stored in
        one statement (:mod:`.together`)."""
        await self.insertions(_insert_item(req, actor, detail, owner), within)

    async def _insert_all(self, items: Sequence[dict[str, object]], within: float) -> list[None]:
        """:class:`~bot.store.postgres.together.Together`'s write: the requests of ``items``
        (:func:`_insert_item`) stored in one statement."""
        db = await self.ready(within)
        async with db.bounded(within) as conn:
            await conn.execute(_INSERT_ALL, (Jsonb(list(items), dumps=audit_json),))
        return [None] * len(items)

    async def get(self, request_id: str) -> StartRequest | None:
        db = await self.ready()
        async with db.connection() as conn:
            return await hydrate(conn, request_id)

    async def recent(self, channel_id: str, *, limit: int = 10) -> list[StartRequest]:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(_RECENT, (channel_id, limit))
            return [from_row(row) for row in await cur.fetchall()]

    async def set_message_ts(self, request_id: str, ts: str) -> None:
        db = await self.ready()
        async with db.tx() as conn:
            await conn.execute(
                "UPDATE requests SET message_ts = %s WHERE id = %s AND message_ts IS NULL",
                (ts, request_id),
            )

    async def set_jobs_info(self, request_id: str, jobs: Sequence[RequestJob]) -> None:
        """Replace what DRS said about the jobs at request time (names, statuses, prepaid)."""
        db = await self.ready()
        async with db.tx() as conn:
            await lock_request(conn, request_id)
            await conn.execute(
                """UPDATE request_jobs j SET name = r.name, status_at_request = r.status,
                prepaid = r.prepaid, error_code = r.code, error_msg = r.msg
                FROM unnest(%s::text[], %s::text[], %s::text[], %s::bool[], %s::text[],
                    %s::text[]) AS r(job_id, name, status, prepaid, code, msg)
                WHERE j.request_id = %s AND j.job_id = r.job_id""",
                (*columns([job_info_params(j) for j in jobs], 6), request_id),
            )

    async def overlapping(self, request_id: str) -> dict[str, int]:
        """Other open requests (pending, approved, starting) holding some of this request's
        jobs: request id -> how many."""
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                """SELECT other.request_id AS rid, COUNT(*) AS n FROM request_jobs mine
                JOIN request_jobs other ON other.job_id = mine.job_id
                    AND other.request_id != mine.request_id
                JOIN requests r ON r.id = other.request_id
                WHERE mine.request_id = %s AND r.state = ANY(%s)
                GROUP BY other.request_id""",
                (request_id, [s.value for s in OPEN_STATES]),
            )
            return {str(row["rid"]): int(row["n"]) for row in await cur.fetchall()}

    async def unconfirmed(self, created_before: float, *, now: float | None = None) -> list[str]:
        """Pending requests left half-way by a crash: never posted, or (approval "none")
        posted but not yet confirmed; made before ``created_before`` or, with ``now``, by a
        process not alive at ``now``."""
        db = await self.ready()
        async with db.connection() as conn:
            return await ids(
                conn,
                """SELECT id FROM requests WHERE state = %s
                AND (message_ts IS NULL OR approval = %s)
                AND (created_at <= %s OR (%s::float8 IS NOT NULL AND owner IS NOT NULL
                    AND owner NOT IN (SELECT owner FROM replicas WHERE alive_until > %s)))
                ORDER BY created_at, id""",
                (RequestState.PENDING.value, Approval.NONE.value, created_before, now, now),
            )

    async def mark_message_stale(self, request_id: str, stale: bool) -> None:
        db = await self.ready()
        async with db.tx() as conn:
            await conn.execute(
                "UPDATE requests SET message_stale = %s WHERE id = %s", (stale, request_id)
            )

    async def stale_messages(self) -> list[str]:
        db = await self.ready()
        async with db.connection() as conn:
            return await ids(
                conn,
                """SELECT id FROM requests WHERE message_stale AND message_ts IS NOT NULL
                ORDER BY created_at, id""",
            )

    async def begin_message_post(
        self, request_id: str, now: float, *, owner: str, alive_until: float
    ) -> PostTurn:
        """Claim the post of the request message for process ``owner`` (alive, in the same
        transaction, until ``alive_until``): refused while another live process holds it or
        once it is posted; ``earlier``: when an earlier post began and was never confirmed
        (the message may exist: look for it first). The request's row lock orders rivals."""
        db = await self.ready()
        async with db.tx() as conn:
            await alive_row(conn, owner, alive_until)
            cur = await conn.execute(
                """SELECT message_posting_at, message_ts, owner,
                (SELECT alive_until FROM replicas WHERE replicas.owner = requests.owner)
                AS holder_alive
                FROM requests WHERE id = %s FOR NO KEY UPDATE""",
                (request_id,),
            )
            row = await cur.fetchone()
            if row is None or row["message_ts"] is not None:
                return PostTurn(False, row["message_posting_at"] if row else None)
            if not may_post(row["owner"], row["holder_alive"], owner, now):
                return PostTurn(False, row["message_posting_at"])
            await conn.execute(
                """UPDATE requests SET message_posting_at = COALESCE(message_posting_at, %s),
                owner = %s WHERE id = %s""",
                (now, owner, request_id),
            )
        return PostTurn(True, row["message_posting_at"])

    async def lose_channel(self, request_id: str, error: str, *, now: float) -> bool:
        """Record, once, that Slack refuses posts in the request's channel for good
        (``error``); True for the caller that recorded it (it tells the requester)."""
        db = await self.ready()
        async with db.tx() as conn:
            cur = await conn.execute(
                """UPDATE requests SET channel_problem = %s, message_stale = FALSE
                WHERE id = %s AND channel_problem IS NULL""",
                (error, request_id),
            )
            won = cur.rowcount == 1
            if won:
                await audit_row(
                    conn, request_id, now, None, AuditKind.CHANNEL_LOST, {"error": error}
                )
            return won

    async def decide(self, verdict: Verdict, *, within: float | None = None) -> Decision:
        """Make ``verdict`` if and only if its request is still pending.

        Approving also claims attempt 1 of its start (all its jobs) in the same statement,
        so the start is recorded as owed before anyone can see the approval. With ``within``,
        made in that many seconds or not at all, and answered in time. Decisions that come
        together are made in one statement (:mod:`.together`).
        """
        return await self.decisions(verdict, within)

    async def _decide_all(self, verdicts: Sequence[Verdict], within: float) -> list[Decision]:
        """:class:`~bot.store.postgres.together.Together`'s write: ``verdicts`` made in one
        statement, in the order of their requests' ids (so two replicas' statements lock
        rows in one order), each as ``startjobs_decide`` makes it alone; one that decided
        nothing gets its request as it is now, read by a statement of its own (a rival's
        decision committed after the first statement began is seen too)."""
        order = sorted(range(len(verdicts)), key=lambda i: verdicts[i].request_id)
        items = [_decide_item(verdicts[i]) for i in order]
        db = await self.ready(within)
        async with db.bounded(within) as conn:
            cur = await conn.execute(_DECIDE_ALL, (Jsonb(items, dumps=audit_json),))
            rows = await cur.fetchall()
            lost = [str(i["id"]) for i, row in zip(items, rows, strict=True) if not row["id"]]
            now: dict[str, StartRequest] = {}
            if lost:
                cur = await conn.execute(_SOME, (sorted(set(lost)),))
                now = {str(row["id"]): from_row(row) for row in await cur.fetchall()}
        row_of = dict(zip(order, rows, strict=True))  # each verdict's row, by its index
        return [
            Decision(won=True, request=from_row(row))
            if (row := row_of[i])["id"] is not None
            else Decision(won=False, request=now.get(v.request_id))
            for i, v in enumerate(verdicts)
        ]

    async def expired_pending(self, now: float) -> list[str]:
        db = await self.ready()
        async with db.connection() as conn:
            return await ids(
                conn,
                "SELECT id FROM requests WHERE state = %s AND expires_at <= %s ORDER BY id",
                (RequestState.PENDING.value, now),
            )

    async def audit(
        self,
        request_id: str,
        kind: AuditKind,
        *,
        actor: str | None,
        now: float,
        detail: dict[str, object] | None = None,
    ) -> None:
        db = await self.ready()
        async with db.tx() as conn:
            await audit_row(conn, request_id, now, actor, kind, detail or {})

    async def events(self, request_id: str) -> list[AuditEvent]:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM audit WHERE request_id = %s ORDER BY id", (request_id,)
            )
            rows = await cur.fetchall()
        return [event_from_row(r, dict(r["detail"])) for r in rows]


# A request's row with its jobs' rows, in order, as one JSON array (``job_rows``): a
# request, or a page of them, is read in one statement.
WITH_JOBS = sql.SQL("""r.*, (SELECT json_agg(j ORDER BY j.seq) FROM request_jobs j
    WHERE j.request_id = r.id) AS job_rows""")
_ONE = sql.SQL("SELECT {} FROM requests r WHERE r.id = %s").format(WITH_JOBS)
_RECENT = sql.SQL(
    "SELECT {} FROM requests r WHERE channel_id = %s ORDER BY created_at DESC, id LIMIT %s"
).format(WITH_JOBS)


def from_row(row: DictRow) -> StartRequest:
    """The request of a row read with :data:`WITH_JOBS`."""
    return request_from_row(row, row["job_rows"] or ())


async def hydrate(conn: Conn, request_id: str) -> StartRequest | None:
    """The request as stored, with its jobs in order; None when there is no such request."""
    cur = await conn.execute(_ONE, (request_id,))
    row = await cur.fetchone()
    return None if row is None else from_row(row)


# Requests stored in one statement (each its row, its jobs, its audit event), and decisions
# made in one: a statement is a transaction of its own, all or nothing, and one wait on the
# event loop where a transaction of separate statements is one per statement (BEGIN, each
# statement, COMMIT). Under a burst of Slack requests each wait comes after everything else
# the loop has ready, so the waits, not the work, made most of an answer's time (figures in
# bench/README.md). The constraints are checked at the end of the statement, so the jobs'
# and the audit event's rows may be made in the same statement as their request's. Each item
# of the array is a request (:func:`_insert_item`): its row's columns by name, its jobs as
# rows of :func:`job_params`'s values.
_INSERT_ALL = """WITH x AS MATERIALIZED (
    SELECT v, n FROM jsonb_array_elements(%s) WITH ORDINALITY x(v, n)
), req AS (
    INSERT INTO requests (id, team_id, channel_id, requester_id, project, region, approval,
        start_time_ms, reason, language, state, created_at, expires_at, message_ts,
        outcome_ts, decided_by, decided_at, decision_comment, owner)
    SELECT r.id, r.team_id, r.channel_id, r.requester_id, r.project, r.region, r.approval,
        r.start_time_ms, r.reason, r.language, r.state, r.created_at, r.expires_at,
        r.message_ts, r.outcome_ts, r.decided_by, r.decided_at, r.decision_comment, r.owner
    FROM x, jsonb_populate_record(NULL::requests, x.v->'request') r ORDER BY x.n
), jobs AS (
    INSERT INTO request_jobs (request_id, seq, job_id, name, status_at_request, prepaid,
        outcome, error_code, error_msg, order_id, drs_status, attempts)
    SELECT x.v->'request'->>'id', j.seq - 1, j.a->>0, j.a->>1, j.a->>2, (j.a->>3)::boolean,
        j.a->>4, j.a->>5, j.a->>6, j.a->>7, j.a->>8, (j.a->>9)::integer
    FROM x, jsonb_array_elements(x.v->'jobs') WITH ORDINALITY j(a, seq)
)
INSERT INTO audit (request_id, at, actor, kind, detail)
SELECT x.v->'request'->>'id', (x.v->>'at')::float8, x.v->>'actor', x.v->>'kind', x.v->'detail'
FROM x ORDER BY x.n"""


def _insert_item(
    req: StartRequest, actor: str, detail: dict[str, object], owner: str | None
) -> dict[str, object]:
    """One item of :data:`_INSERT_ALL`'s array."""
    row = dict(zip(REQUEST_COLUMNS, request_params(req), strict=True))
    return {
        "request": {**row, "owner": owner},
        "jobs": [job_params(j) for j in req.jobs],
        "at": req.created_at,
        "actor": actor,
        "kind": AuditKind.REQUESTED.value,
        "detail": detail,
    }


# The decision's audit detail is :func:`decision_detail`'s, with the start time the request
# had (``scheduled_for_ms``, when the approval drops it) read under the row's lock; an
# approval claims attempt 1 of its start. Each decision is made by the server's function
# ``startjobs_decide`` (migration 7, planned once per server connection), with the same
# condition on the row as SQLite's (PRECHECKS_PASSED for ``require_prechecks``), for each
# item of a JSON array, in the array's order, by ``startjobs_decide_all`` (migration 12,
# which waits 200 ms at most for a row's lock); a row for each: the decided request with its
# jobs, or nulls when nothing was decided.
_DECIDE_ALL = """SELECT b.n, (b.request).*, b.scheduled_for_ms, b.job_rows
FROM startjobs_decide_all(%s) b"""
_SOME = sql.SQL("SELECT {} FROM requests r WHERE r.id = ANY(%s)").format(WITH_JOBS)


def _decide_item(v: Verdict) -> dict[str, object]:
    """One item of :data:`_DECIDE_ALL`'s array."""
    (state,) = comes_from(v.target)  # a decision is taken on a pending request only
    return {
        "id": v.request_id,
        "from": state.value,
        "unexpired": v.require_unexpired,
        "prechecks": v.require_prechecks,
        "now": v.now,
        "target": v.target.value,
        "actor": v.actor,
        "comment": v.comment,
        "clear": clears_start_time(v),
        "kind": DECIDED[v.target].value,
        "detail": decision_detail(v, None),
        "claimed": StartState.CLAIMED.value,
        "owner": v.owner,
        "approved": v.target is RequestState.APPROVED,
    }

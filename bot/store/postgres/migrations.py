"""The PostgreSQL schema, as numbered steps applied once each.

:data:`MIGRATIONS` lists every step, in version order; a database records the steps it has had
in ``schema_migrations``. :func:`migrate` applies the missing ones in order, in one transaction
that first takes a transaction-level advisory lock (``pg_advisory_xact_lock``): replicas
starting at once queue on the lock, and each after the first finds nothing left to do. The lock
ends with the transaction, so it is safe behind PgBouncer's transaction pooling (a
session-level lock could be left on a server connection the pooler hands to someone else).

A step is never edited once released: a change to the schema is a new step, and one that a
running older version can live with (add a column or an index, not drop or rename one), so
replicas can be upgraded one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

# Any 64-bit number no other user of the database locks with: "startjob" in ASCII.
ADVISORY_LOCK_KEY = 0x73746172746A6F62


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


# Step 7's decision function, as released (step 11 replaces it with another precheck rule).
_DECIDE_7 = """
CREATE FUNCTION startjobs_decide(
    p_id TEXT, p_from TEXT, p_unexpired BOOLEAN, p_prechecks BOOLEAN,
    p_now DOUBLE PRECISION, p_target TEXT, p_actor TEXT, p_comment TEXT, p_clear BOOLEAN,
    p_kind TEXT, p_detail JSONB, p_claimed TEXT, p_owner TEXT, p_approved BOOLEAN
) RETURNS TABLE (request requests, scheduled_for_ms BIGINT, job_rows JSON)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY WITH old AS (
        SELECT id, start_time_ms FROM requests
        WHERE id = p_id AND state = p_from AND (NOT p_unexpired OR expires_at > p_now)
            AND (NOT p_prechecks OR NOT EXISTS (SELECT 1 FROM request_jobs j
                WHERE j.request_id = requests.id AND NOT EXISTS (SELECT 1
                FROM request_prechecks p WHERE p.request_id = j.request_id
                AND p.job_id = j.job_id AND p.state = 'passed')))
        FOR NO KEY UPDATE
    ), won AS (
        UPDATE requests r SET state = p_target, decided_by = p_actor, decided_at = p_now,
            decision_comment = p_comment, message_stale = TRUE,
            start_time_ms = CASE WHEN p_clear THEN NULL ELSE r.start_time_ms END
        FROM old WHERE r.id = old.id
        RETURNING r AS request, r.id AS id, old.start_time_ms AS scheduled_for_ms
    ), audited AS (
        INSERT INTO audit (request_id, at, actor, kind, detail)
        SELECT id, p_now, p_actor, p_kind, p_detail || CASE WHEN p_clear
            THEN jsonb_build_object('scheduled_for_ms', scheduled_for_ms) ELSE '{}' END
        FROM won
    ), claimed AS (
        INSERT INTO starts (request_id, attempt, state, job_ids, actor, created_at, lease_owner)
        SELECT id, 1, p_claimed, (SELECT COALESCE(jsonb_agg(j.job_id ORDER BY j.seq), '[]')
            FROM request_jobs j WHERE j.request_id = won.id), p_actor, p_now, p_owner
        FROM won WHERE p_approved
    )
    SELECT won.request, won.scheduled_for_ms, (SELECT json_agg(j ORDER BY j.seq)
        FROM request_jobs j WHERE j.request_id = won.id)
    FROM won;
END
$$;
"""


def _replaced(sql: str, old: str, new: str) -> str:
    """``sql`` with its one ``old`` made ``new`` (a step derived from an earlier one)."""
    assert sql.count(old) == 1, old
    return sql.replace(old, new)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "requests, their jobs, starts, audit trail, health",
        """
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    project TEXT NOT NULL,
    region TEXT NOT NULL,
    approval TEXT NOT NULL,
    start_time_ms BIGINT,
    reason TEXT NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    message_ts TEXT,
    outcome_ts TEXT,
    decided_by TEXT,
    decided_at DOUBLE PRECISION,
    decision_comment TEXT,
    followup_done BOOLEAN NOT NULL DEFAULT FALSE,
    followup_next_at DOUBLE PRECISION,
    followup_deadline DOUBLE PRECISION,
    settled_notified BOOLEAN NOT NULL DEFAULT FALSE,
    message_stale BOOLEAN NOT NULL DEFAULT FALSE,
    channel_problem TEXT,
    message_posting_at DOUBLE PRECISION
);
CREATE INDEX requests_channel ON requests (channel_id, created_at);
CREATE INDEX requests_state ON requests (state);
CREATE INDEX requests_followup ON requests (followup_next_at) WHERE NOT followup_done;
CREATE INDEX requests_stale ON requests (id) WHERE message_stale;

CREATE TABLE request_jobs (
    request_id TEXT NOT NULL REFERENCES requests (id),
    seq INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    name TEXT,
    status_at_request TEXT,
    prepaid BOOLEAN NOT NULL DEFAULT FALSE,
    outcome TEXT,
    error_code TEXT,
    error_msg TEXT,
    order_id TEXT,
    drs_status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (request_id, seq)
);
CREATE INDEX request_jobs_job ON request_jobs (job_id);
CREATE INDEX request_jobs_request_job ON request_jobs (request_id, job_id);

CREATE TABLE starts (
    request_id TEXT NOT NULL REFERENCES requests (id),
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    job_ids JSONB NOT NULL,
    actor TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    sent_at DOUBLE PRECISION,
    outcome_ts TEXT,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION,
    outcome_posting_at DOUBLE PRECISION,
    PRIMARY KEY (request_id, attempt)
);
CREATE INDEX starts_state ON starts (state);

CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT,
    kind TEXT NOT NULL,
    detail JSONB NOT NULL
);
CREATE INDEX audit_request ON audit (request_id, id);

CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at DOUBLE PRECISION NOT NULL
);
""",
    ),
    Migration(
        2,
        "each job's DRS precheck with its request",
        """
CREATE TABLE request_prechecks (
    request_id TEXT NOT NULL REFERENCES requests (id),
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    passed_rate TEXT,
    failed_items JSONB NOT NULL DEFAULT '[]',
    precheck_id TEXT,
    read_at DOUBLE PRECISION NOT NULL,
    reason TEXT,
    PRIMARY KEY (request_id, job_id)
);
""",
    ),
    Migration(
        3,
        "the App Home's index of each person's requests",
        """
CREATE INDEX requests_requester ON requests (requester_id, created_at);
""",
    ),
    Migration(
        4,
        "when the follow-up last saw DRS move a job",
        """
ALTER TABLE requests ADD COLUMN followup_changed_at DOUBLE PRECISION;
""",
    ),
    Migration(
        6,
        "replicas alive and who owns a request's posting",
        """
CREATE TABLE replicas (
    owner TEXT PRIMARY KEY,
    alive_until DOUBLE PRECISION NOT NULL
);
ALTER TABLE requests ADD COLUMN owner TEXT;
""",
    ),
    Migration(
        7,
        "a decision as a function, planned once per server connection",
        # The server keeps a PL/pgSQL function's plans per connection: the decision (a
        # statement whose planning cost as much as its execution) is planned once, without
        # prepared statements, which a transaction pooler may not carry from one
        # transaction to the next. Its result is the decided request, the start time it had
        # and its jobs; no row when nothing was decided (PgRequestRows.decide).
        _DECIDE_7,
    ),
    Migration(
        8,
        "the running prechecks, which maintenance looks through every round",
        """
CREATE INDEX request_prechecks_running ON request_prechecks (request_id)
    WHERE state = 'running';
""",
    ),
    Migration(
        9,
        "who polls the running prechecks nobody was reading, until when",
        """
CREATE TABLE precheck_polls (
    request_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until DOUBLE PRECISION NOT NULL
);
""",
    ),
    Migration(
        10,
        "where each person's App Home is paged to, for every replica's publishes",
        """
CREATE TABLE home_pages (
    user_id TEXT PRIMARY KEY,
    page TEXT NOT NULL,
    until DOUBLE PRECISION NOT NULL
);
""",
    ),
    Migration(
        11,
        "the decision's precheck rule as a lookup of each job's precheck by its key",
        # Step 7's function with the rule of bot.store.records.PRECHECKS_PASSED as it is now
        # (the rule written as NOT EXISTS was planned, for a big request, as a join of every
        # job with every precheck: 0.8 s at 5,000 jobs).
        _replaced(
            _DECIDE_7.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
            """NOT EXISTS (SELECT 1 FROM request_jobs j
                WHERE j.request_id = requests.id AND NOT EXISTS (SELECT 1
                FROM request_prechecks p WHERE p.request_id = j.request_id
                AND p.job_id = j.job_id AND p.state = 'passed'))""",
            """NOT EXISTS (SELECT 1 FROM request_jobs j WHERE j.request_id = requests.id
    AND COALESCE((SELECT p.state FROM request_prechecks p WHERE p.request_id = j.request_id
        AND p.job_id = j.job_id), '') <> 'passed')""",
        ),
    ),
    Migration(
        12,
        "decisions that come together, made in one statement",
        # Each item of the array decided as startjobs_decide decides it alone, in the array's
        # order (the caller sorts it by request id, so two replicas lock rows in one order).
        # A row lock is waited for 200 ms at most: one decision waiting on a lock another
        # process holds (a transaction of a replica cut off from the network) must not hold
        # up the decisions made with it, which are then made again one by one
        # (bot/store/postgres/together.py).
        """
CREATE FUNCTION startjobs_decide_all(p_items JSONB)
RETURNS TABLE (n BIGINT, request requests, scheduled_for_ms BIGINT, job_rows JSON)
LANGUAGE plpgsql VOLATILE SET lock_timeout = '200ms' AS $$
BEGIN
    RETURN QUERY SELECT x.n, d.request, d.scheduled_for_ms, d.job_rows
    FROM jsonb_array_elements(p_items) WITH ORDINALITY x(v, n)
    LEFT JOIN LATERAL startjobs_decide(x.v->>'id', x.v->>'from', (x.v->>'unexpired')::boolean,
        (x.v->>'prechecks')::boolean, (x.v->>'now')::float8, x.v->>'target', x.v->>'actor',
        x.v->>'comment', (x.v->>'clear')::boolean, x.v->>'kind', x.v->'detail',
        x.v->>'claimed', x.v->>'owner', (x.v->>'approved')::boolean) d ON TRUE
    ORDER BY x.n;
END
$$;
""",
    ),
)

SCHEMA_VERSION = max(m.version for m in MIGRATIONS)

_TRACKING = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Which steps a database has had, against the ones this version knows."""

    applied: tuple[int, ...]

    @property
    def missing(self) -> tuple[int, ...]:
        return tuple(m.version for m in MIGRATIONS if m.version not in self.applied)

    @property
    def unknown(self) -> tuple[int, ...]:
        """Steps applied by a newer version of the bot."""
        known = {m.version for m in MIGRATIONS}
        return tuple(v for v in self.applied if v not in known)

    @property
    def current(self) -> bool:
        return not self.missing

    @property
    def version(self) -> int:
        return max(self.applied, default=0)


async def status(conn: AsyncConnection[Any]) -> SchemaStatus:
    """The steps the database has had (none when it has no ``schema_migrations`` table)."""
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not _first(row):
        return SchemaStatus(())
    cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    return SchemaStatus(tuple(int(_first(r)) for r in await cur.fetchall()))


async def migrate(conn: AsyncConnection[Any]) -> list[int]:
    """Apply the missing steps, in order, once across replicas; the versions applied now.
    ``conn`` must be in autocommit mode (it is the transaction this opens)."""
    if (await status(conn)).current:
        return []  # the usual start: no lock, no DDL (the bot's user may not be allowed any)
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        await conn.execute(_TRACKING)
        done = (await status(conn)).applied
        for step in sorted(MIGRATIONS, key=lambda m: m.version):
            if step.version in done:
                continue
            await conn.execute(step.sql.encode())  # several statements, no parameters
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (step.version, step.name),
            )
            applied.append(step.version)
    return applied


def _first(row: Any) -> Any:
    """The first column of a row, whatever the connection's row factory made of it."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]

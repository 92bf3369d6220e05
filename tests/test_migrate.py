"""``startjobs migrate [--check]`` for both databases, migrations applied once by replicas
starting together, and the bot choosing PostgreSQL when its URL is set."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.bootstrap import new_store
from bot.check import migrate as migrate_cli
from bot.config import AkSk, ConfigError, DatabaseSettings, Settings, load_config
from bot.core.precheck import JobPrecheck, PrecheckState
from bot.core.request import RequestState
from bot.core.secret import Secret
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.store import SCHEMA_VERSION, AsyncStore, Store, Verdict
from bot.store.postgres import MIGRATIONS, PostgresStore
from bot.store.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from bot.store.postgres import migrate as apply_migrations
from bot.store.records import PRECHECKS_PASSED
from tests.e2e.harness import ALICE, Harness
from tests.pg_support import PASSWORD, PgCluster, free_port
from tests.test_store import V1_SCHEMA
from tests.test_store_contract import RID, make_request


def run(env: dict[str, str], *, check: bool) -> tuple[int, str]:
    return migrate_cli.run(env, check=check)


# -- SQLite ---------------------------------------------------------------------------------


def test_sqlite_check_migrate_check(tmp_path: Path) -> None:
    path = tmp_path / "data" / "startjobs.db"
    env = {"STARTJOBS_DB": str(path)}
    code, line = run(env, check=True)
    assert code == 1 and "no database at" in line and "startjobs migrate" in line
    assert not path.exists()  # a check creates nothing
    code, line = run(env, check=False)
    assert code == 0 and f"schema version {SCHEMA_VERSION}" in line, line
    code, line = run(env, check=True)
    assert (code, line) == (
        0,
        f"the database is current: SQLite {path}, schema version {SCHEMA_VERSION}",
    )


def test_a_version_1_sqlite_database_is_not_current_until_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    env = {"STARTJOBS_DB": str(path)}
    code, line = run(env, check=True)
    assert code == 1, line
    assert "schema version 1, lacks requests.channel_problem" in line
    assert "starts.lease_owner" in line and "table health" in line
    assert run(env, check=False)[0] == 0
    assert run(env, check=True)[0] == 0


def test_the_command_says_one_line_and_exits_with_the_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("STARTJOBS_DATABASE_URL", raising=False)
    monkeypatch.setenv("STARTJOBS_DB", str(tmp_path / "s.db"))
    from bot.cli import main

    assert main(["migrate", "--check"]) == 1
    assert main(["migrate"]) == 0
    assert main(["migrate", "--check"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 and len(err.splitlines()) == 1
    monkeypatch.setenv("STARTJOBS_DATABASE_URL", f"mysql://u:{PASSWORD}@h/db")
    assert main(["migrate", "--check"]) == 2
    out, err = capsys.readouterr()
    assert "STARTJOBS_DATABASE_URL" in err and PASSWORD not in err + out
    assert main(["migrate", "--bogus"]) == 2


# -- PostgreSQL -----------------------------------------------------------------------------


def test_postgres_check_migrate_check(pg_url: str) -> None:
    env = {"STARTJOBS_DATABASE_URL": pg_url, "STARTJOBS_DB": "/nonexistent/never.db"}
    code, line = run(env, check=True)
    assert code == 1 and "schema version 0" in line and "run startjobs migrate" in line, line
    assert PASSWORD not in line and ":***@127.0.0.1" in line
    code, line = run(env, check=False)
    assert code == 0 and "migrated" in line and PASSWORD not in line, line
    code, line = run(env, check=True)
    assert code == 0 and line.startswith("the database is current: PostgreSQL"), line
    assert f"schema version {PG_SCHEMA_VERSION}" in line
    # Steps of a newer version: still current for this one, and said.
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'later')")
    code, line = run(env, check=True)
    assert code == 0 and "[999] of a newer version" in line, line


def test_an_unreachable_postgres_fails_the_check_without_the_password() -> None:
    url = f"postgresql://someone:{PASSWORD}@127.0.0.1:{free_port()}/db"
    env = {"STARTJOBS_DATABASE_URL": url, "STARTJOBS_DB_CONNECT_TIMEOUT": "1"}
    code, line = run(env, check=True)
    assert code == 1 and "cannot be reached" in line and PASSWORD not in line, line


async def test_replicas_starting_together_migrate_once(pg_cluster: PgCluster, pg_url: str) -> None:
    async def one() -> list[int]:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            return await apply_migrations(conn)

    applied = await asyncio.gather(*(one() for _ in range(6)))
    everything = sorted(m.version for m in MIGRATIONS)
    assert len(set(everything)) == len(everything), "two steps share a version"
    assert sorted(applied, key=len) == [[]] * 5 + [everything]
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in await cur.fetchall()] == everything
    # Stores opening at once on a new database, as replicas do at start-up.
    fresh = pg_cluster.create_database()
    stores = [PostgresStore(pg_cluster.url(fresh), pool_min=1, pool_max=1) for _ in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        for s in stores:
            assert (await s.schema()).applied == tuple(everything)
    finally:
        for s in stores:
            await s.aclose()
        pg_cluster.drop_database(fresh)


async def test_a_user_allowed_only_to_read_and_write_rows_runs_a_migrated_database(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """Migrated by its owner (``startjobs migrate`` as a release step), the database is used
    by a role that may not create anything, only read and write rows (the README's grants):
    starting finds the schema current and runs no DDL, and the bot's writes, answers' and
    background work's, are allowed."""
    owner = PostgresStore(pg_url)
    await owner.open()  # migrates
    await owner.aclose()
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("CREATE ROLE startjobs_rw LOGIN PASSWORD 'rw-secret'")
        db.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO startjobs_rw"
        )
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    dbname = pg_url.rsplit("/", 1)[1]
    store = PostgresStore(
        f"postgresql://startjobs_rw:rw-secret@127.0.0.1:{pg_cluster.port}/{dbname}"
    )
    try:
        await store.open()
        await store.probe(within=2.0)
        await store.insert_request(make_request(), actor="U1", detail={}, within=2.0)
        approval = Verdict(RID, RequestState.APPROVED, "U2", 1_100.0, owner="o")
        assert (await store.decide(approval)).won  # the decision's function, as this role
        kinds = [e.kind.value for e in await store.events(RID)]
        assert kinds == ["requested", "approved"]
        # The background writes too: a replica's row renewed (and lapsed ones forgotten),
        # a precheck poll claimed.
        await store.keep_alive("proc-A", now=5_000.0, until=5_010.0)
        assert await store.live_owners(5_001.0) == frozenset({"proc-A"})
        assert await store.claim_precheck_poll(RID, owner="proc-A", now=5_000.0, until=5_090.0)
    finally:
        await store.aclose()
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("DROP OWNED BY startjobs_rw")
            db.execute("DROP ROLE startjobs_rw")


async def test_a_database_of_the_previous_version_gets_the_decision_function(
    pg_url: str,
) -> None:
    """A database at step 6 with a pending request: the bot's start adds step 7 (the decision
    as a server function) and the request is decided through it, its record intact."""
    store = PostgresStore(pg_url)
    await store.open()
    await store.insert_request(make_request(), actor="U1", detail={}, within=2.0)
    await store.aclose()
    with psycopg.connect(pg_url, autocommit=True) as db:  # as the previous version left it
        db.execute("DROP FUNCTION startjobs_decide")
        db.execute("DELETE FROM schema_migrations WHERE version = 7")
    store = PostgresStore(pg_url)
    try:
        await store.open()
        assert 7 in (await store.schema()).applied
        decided = await store.decide(Verdict(RID, RequestState.APPROVED, "U2", 1_100.0, owner="o"))
        assert decided.won and decided.request.state is RequestState.APPROVED
        assert decided.request.job_ids == make_request().job_ids
    finally:
        await store.aclose()


def test_both_stores_decide_on_the_same_precheck_rule() -> None:
    """The decision's function, as its latest step made it (7, then 11), carries the rule
    SQLite's decision uses, word for word: a change to the rule is a new step, never an edit
    of a released one."""
    steps = [m for m in MIGRATIONS if "FUNCTION startjobs_decide(" in m.sql]
    assert [m.version for m in steps] == [7, 11]
    words = " ".join(PRECHECKS_PASSED.split())
    assert words in " ".join(steps[-1].sql.split())
    assert words not in " ".join(steps[0].sql.split())  # step 7 stays as it was released


# -- choosing the store ---------------------------------------------------------------------


def _settings(tmp_path: Path, database: DatabaseSettings | None) -> Settings:
    return Settings(
        slack_bot_token=Secret("xoxb-1"),
        slack_signing_secret=Secret("s"),
        slack_app_token=None,
        slack_api_url="http://127.0.0.1:1/",
        port=0,
        config_path=tmp_path / "startjobs.toml",
        db_path=str(tmp_path / "startjobs.db"),
        credentials=AkSk(Secret("ak"), Secret("sk")),
        database=database,
    )


async def test_the_url_selects_postgres_and_sqlite_stays_the_default(tmp_path: Path) -> None:
    sqlite_store = new_store(_settings(tmp_path, None))
    assert isinstance(sqlite_store, AsyncStore)
    await sqlite_store.aclose()
    url = Secret(f"postgresql://u:{PASSWORD}@127.0.0.1:5432/db?sslmode=require")
    pg = new_store(_settings(tmp_path, DatabaseSettings(url=url, pool_min=2, pool_max=3)))
    assert isinstance(pg, PostgresStore)
    assert pg.shown == "postgresql://u:***@127.0.0.1:5432/db?sslmode=require"
    await pg.aclose()  # never opened: nothing to close


def test_database_settings_are_read_and_checked(tmp_path: Path) -> None:
    (tmp_path / "startjobs.toml").write_text("", encoding="utf-8")
    base = {
        "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "STARTJOBS_CONFIG": str(tmp_path / "startjobs.toml"),
        "STARTJOBS_DB": str(tmp_path),  # a directory: only a problem for SQLite
        "HUAWEICLOUD_SDK_AK": "AK",
        "HUAWEICLOUD_SDK_SK": "SK",
    }
    url = f"postgresql://bot:{PASSWORD}@db.internal:6432/startjobs?sslmode=verify-full"
    settings, _ = load_config({**base, "STARTJOBS_DATABASE_URL": url}, check_database=True)
    assert settings.database is not None and settings.database.url is not None
    assert settings.database.url.reveal() == url and PASSWORD not in repr(settings)
    assert (settings.database.pool_min, settings.database.pool_max) == (1, 10)
    assert settings.database.connect_timeout == 5.0
    bad = {
        **base,
        "STARTJOBS_DATABASE_URL": f"mysql://bot:{PASSWORD}@db/x",
        "STARTJOBS_DB_POOL_MIN": "5",
        "STARTJOBS_DB_POOL_MAX": "2",
        "STARTJOBS_DB_CONNECT_TIMEOUT": "soon",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    text = str(caught.value)
    assert PASSWORD not in text
    assert "STARTJOBS_DATABASE_URL='mysql://bot:***@db/x' must start with postgresql://" in text
    assert "STARTJOBS_DB_POOL_MAX=2 must be at least STARTJOBS_DB_POOL_MIN=5" in text
    assert "STARTJOBS_DB_CONNECT_TIMEOUT='soon' is not a number" in text


async def test_the_whole_bot_runs_on_postgres(tmp_path: Path, pg_url: str) -> None:
    """A request made, started and followed to its end with PostgreSQL as the database;
    the bot migrated it at start-up."""
    orders, customers = DEMO_JOBS[0][0], DEMO_JOBS[1][0]
    database = DatabaseSettings(url=Secret(pg_url), pool_min=1, pool_max=4)
    async with Harness(tmp_path, settings_changes={"database": database}) as h:
        assert isinstance(h.b.store, PostgresStore)
        assert not (tmp_path / "startjobs.db").exists()  # no SQLite file on the side
        h.sim.seed_demo()
        resp, msg = await h.request(ALICE, "dev", [orders, customers])
        assert resp.ok, resp
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        await h.settle()
        rid = h.request_id(msg)
        assert h.sim.start_calls_for(orders) == 1
    reader = PostgresStore(pg_url, migrate=False)
    try:
        assert (await reader.schema()).current
        req = await reader.get(rid)
        assert req is not None and req.state.value == "done" and req.outcome_ts is not None
        kinds = {e.kind.value for e in await reader.events(rid)}
        assert {"requested", "approved", "drs_call", "outcome"} <= kinds
    finally:
        await reader.aclose()


def test_sqlite_store_file_is_untouched_by_postgres_settings(tmp_path: Path) -> None:
    store = Store(tmp_path / "plain.db")
    store.close()
    assert run({"STARTJOBS_DB": str(tmp_path / "plain.db")}, check=True)[0] == 0


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def test_the_precheck_rule_looks_each_job_up_by_its_key(pg_url: str) -> None:
    """A big request just stored (the server has not read its statistics yet): the decision's
    precheck rule reads each job's precheck by its key, never compares every job with every
    precheck (the rule of step 7 did: 0.8 s at 5,000 jobs, an approval past its deadline);
    and the decision function carries that rule."""
    rid, jobs = "SJ-BIGRULE1", tuple(f"job-{i:05d}" for i in range(2000))
    store = PostgresStore(pg_url)
    await store.open()
    try:
        await store.insert_request(make_request(rid, jobs=jobs), actor="U1", detail={})
        passed = [JobPrecheck(j, PrecheckState.PASSED, "100%", (), "p1", 100.0, None) for j in jobs]
        await store.save_prechecks(rid, passed)
    finally:
        await store.aclose()
    explain = "EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1 FROM requests WHERE id = %s AND "
    query = explain + PRECHECKS_PASSED
    with psycopg.connect(pg_url, autocommit=True) as db:
        row = db.execute(query.encode(), (rid,)).fetchone()
        source = db.execute("SELECT prosrc FROM pg_proc WHERE proname = 'startjobs_decide'")
        (function,) = source.fetchone() or ("",)
    assert row is not None
    nodes = list(_nodes(row[0][0]["Plan"]))
    prechecks = [n for n in nodes if n.get("Relation Name") == "request_prechecks"]
    assert prechecks and all("job_id" in n.get("Index Cond", "") for n in prechecks), prechecks
    assert sum(n.get("Rows Removed by Join Filter", 0) for n in nodes) == 0
    assert " ".join(PRECHECKS_PASSED.split()) in " ".join(function.split())

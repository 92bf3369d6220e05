"""Which database the end-to-end bot runs on: SQLite (the default) or PostgreSQL.

``STARTJOBS_TEST_DATABASE=postgres`` runs every :class:`~tests.e2e.harness.Harness` and
:class:`~tests.e2e.process.ProcessHarness` on a database of its own on the session's throwaway
PostgreSQL server (:mod:`tests.pg_support`), started only in that mode;
``STARTJOBS_TEST_DATABASE=pgbouncer`` does the same with the bot reaching it through PgBouncer
in transaction pooling (the tests' own reads go to the server directly). A harness's database
stands for its SQLite file: two harnesses given the same ``db_path`` in one test share one
database, as they would share the file. Tests about SQLite itself are marked
``@pytest.mark.sqlite_only("why")`` and skipped in that mode.

:class:`BlockingStore` is what ``h.db`` is on PostgreSQL: the bot's own
:class:`~bot.store.PostgresStore`, its coroutines run to completion on an event loop of its own
thread, so a test reads the database with the same synchronous calls it makes on SQLite while
the in-process bot keeps its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bot.store import PostgresStore
from tests.pg_support import PgBouncer, PgCluster

VARIABLE = "STARTJOBS_TEST_DATABASE"
BACKENDS = ("sqlite", "postgres", "pgbouncer")
CALL_TIMEOUT = 30.0  # seconds a test waits for one store call


def backend() -> str:
    """One of :data:`BACKENDS`, from :data:`VARIABLE`; raises ValueError on anything else."""
    name = os.environ.get(VARIABLE, "").strip().lower() or "sqlite"
    if name not in BACKENDS:
        raise ValueError(f"{VARIABLE}={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def on_postgres() -> bool:
    """True when the bot runs on PostgreSQL (directly or behind PgBouncer)."""
    return backend() != "sqlite"


def behind_pgbouncer() -> bool:
    return backend() == "pgbouncer"


# -- one database per db_path, for the running test ---------------------------------------------

_cluster: PgCluster | None = None
_bouncer: PgBouncer | None = None
_databases: dict[str, str] = {}  # resolved db_path -> database name


@contextlib.contextmanager
def databases_on(cluster: PgCluster, bouncer: PgBouncer | None = None) -> Iterator[None]:
    """Harnesses made inside get their databases on ``cluster`` (the bot reaching them
    through ``bouncer`` when given); dropped on the way out."""
    global _cluster, _bouncer
    if not cluster.running:  # a test that stopped the server did not start it again
        cluster.start()
    _cluster, _bouncer = cluster, bouncer
    try:
        yield
    finally:
        _cluster = _bouncer = None
        made = list(_databases.values())
        _databases.clear()
        if not cluster.running:
            cluster.start()
        for name in made:
            cluster.drop_database(name)


def database_url(db_path: Path) -> str | None:
    """The URL of the PostgreSQL database standing for ``db_path`` (made on first use), or
    None on SQLite."""
    if not on_postgres():
        return None
    if _cluster is None:
        raise RuntimeError(f"{VARIABLE}={backend()}, but this test has no PostgreSQL server")
    key = str(db_path.resolve())
    if key not in _databases:
        _databases[key] = _cluster.create_database()
    return _cluster.url(_databases[key])


def bot_database_url(db_path: Path) -> str | None:
    """The URL the bot is given for ``db_path``'s database: :func:`database_url`, through
    PgBouncer when the tests run behind it."""
    url = database_url(db_path)
    if url is None or _bouncer is None:
        return url
    return _bouncer.url(url.rsplit("/", 1)[1])


def database_env(db_path: Path) -> dict[str, str]:
    """A ``python -m bot`` child's database settings: ``STARTJOBS_DB`` (always, as the bot
    reads it), and ``STARTJOBS_DATABASE_URL`` on PostgreSQL."""
    env = {"STARTJOBS_DB": str(db_path)}
    url = bot_database_url(db_path)
    if url is not None:
        env["STARTJOBS_DATABASE_URL"] = url
    return env


# -- reading it -----------------------------------------------------------------------------


class BlockingStore:
    """A :class:`~bot.store.PostgresStore` with blocking methods: each coroutine method of the
    store, called here, runs on this object's own thread and loop and its result is returned
    (or its exception raised). ``close`` closes the store and ends the thread."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="e2e-pg-store", daemon=True
        )
        self._thread.start()

        async def make() -> PostgresStore:  # its lock and pool belong to that loop
            return PostgresStore(url, pool_min=1, pool_max=2)

        self._store = self._run(make())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._run(attr(*args, **kwargs))

        return blocking

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._run(self._store.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT)
            self._loop.close()


def query_postgres(url: str, sql: str, params: tuple[object, ...]) -> list[dict[str, Any]]:
    """Rows of ``sql`` written for SQLite (``?`` placeholders), as dicts."""
    translated = sql.replace("%", "%%").replace("?", "%s")
    with psycopg.connect(url, row_factory=dict_row, connect_timeout=5, autocommit=True) as db:
        return db.execute(translated, params).fetchall()  # type: ignore[arg-type]

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
import os
import sqlite3
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from bot.store.followups import FollowUpRows
from bot.store.home import HomeRows
from bot.store.prechecks import PrecheckRows
from bot.store.requests import RequestRows
from bot.store.rows import alive_row
from bot.store.starts import StartRows

SCHEMA_VERSION = 4  # 3: precheck_polls; 4: home_pages
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
    ("requests", "followup_changed_at", "REAL"),
    ("requests", "owner", "TEXT"),
)


class Store(RequestRows, StartRows, FollowUpRows, PrecheckRows, HomeRows):
    """SQLite-backed storage. One instance per process; each method is one short
    transaction."""

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

    def keep_alive(self, owner: str, *, now: float, until: float) -> None:
        """Record that process ``owner`` is alive until ``until``; forget processes whose
        rows lapsed long ago (an hour), so the table stays as small as the fleet."""
        with self._tx() as db:
            alive_row(db, owner, until)
            db.execute("DELETE FROM replicas WHERE alive_until < ?", (now - 3600,))

    def live_owners(self, now: float) -> frozenset[str]:
        """The processes alive at ``now``."""
        rows = self._db.execute("SELECT owner FROM replicas WHERE alive_until > ?", (now,))
        return frozenset(row[0] for row in rows)

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

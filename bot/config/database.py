"""Where the bot keeps its records: PostgreSQL when ``STARTJOBS_DATABASE_URL`` is set, else
SQLite at ``STARTJOBS_DB``; and whether that SQLite file can be used."""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config.values import number_setting
from bot.core.secret import Secret

DEFAULT_DB_PATH = "startjobs.db"
# PostgreSQL: connections kept per process, at least and at most; seconds to open one.
DEFAULT_DB_POOL_MIN, DEFAULT_DB_POOL_MAX, DEFAULT_DB_CONNECT_TIMEOUT = 1, 10, 5.0


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """PostgreSQL at ``url`` (``STARTJOBS_DATABASE_URL``) when set, else SQLite at ``path``."""

    path: str = DEFAULT_DB_PATH
    url: Secret | None = None  # a libpq URL; its password is secret
    pool_min: int = DEFAULT_DB_POOL_MIN
    pool_max: int = DEFAULT_DB_POOL_MAX
    connect_timeout: float = DEFAULT_DB_CONNECT_TIMEOUT
    # Where replicas listen for each other's wake-ups (LISTEN): a direct connection to the
    # server, for when ``url`` goes through a pooler in transaction mode (None: ``url``).
    listen_url: Secret | None = None


def masked_url(url: str) -> str:
    """``url`` with its password (``user:password@host`` or ``password=``) shown as ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc, cut, tail = (*re.split(r"([/?#])", rest, maxsplit=1), "", "")[:3]
    user, colon, _ = netloc.rpartition("@")[0].partition(":")
    if colon:
        netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
    tail = re.sub(r"(?i)((?:^|[?&])password=)[^&#]*", r"\1***", tail)
    return f"{scheme}{sep}{netloc}{cut}{tail}"


def database_settings(env: Mapping[str, str], problems: list[str]) -> DatabaseSettings:
    number = functools.partial(number_setting, env, problems)
    url = env.get("STARTJOBS_DATABASE_URL", "").strip() or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        problems.append(
            f"STARTJOBS_DATABASE_URL={masked_url(url)!r} must start with postgresql:// (as in "
            "postgresql://user:password@host:5432/dbname); unset, SQLite at STARTJOBS_DB is used"
        )
    listen_url = env.get("STARTJOBS_DATABASE_LISTEN_URL", "").strip() or None
    if listen_url is not None and not listen_url.startswith(("postgresql://", "postgres://")):
        problems.append(
            f"STARTJOBS_DATABASE_LISTEN_URL={masked_url(listen_url)!r} must start with "
            "postgresql://: a direct connection to the server STARTJOBS_DATABASE_URL reaches"
        )
    pool_min = number("STARTJOBS_DB_POOL_MIN", DEFAULT_DB_POOL_MIN, int, 0)
    pool_max = number("STARTJOBS_DB_POOL_MAX", DEFAULT_DB_POOL_MAX, int, 1)
    if pool_max < pool_min:
        problems.append(
            f"STARTJOBS_DB_POOL_MAX={pool_max} must be at least STARTJOBS_DB_POOL_MIN={pool_min}"
        )
    timeout = number("STARTJOBS_DB_CONNECT_TIMEOUT", DEFAULT_DB_CONNECT_TIMEOUT, float, 1)
    listen = listen_url and Secret(listen_url)
    return DatabaseSettings(db_path(env), url and Secret(url), pool_min, pool_max, timeout, listen)


def db_path(env: Mapping[str, str]) -> str:
    return env.get("STARTJOBS_DB", "").strip() or DEFAULT_DB_PATH


def database_problems(path: str) -> list[str]:
    """Why the bot could not keep its database at ``path`` (``STARTJOBS_DB``), with what to fix;
    empty when it can.

    An existing file is opened and written to in a transaction that is rolled back (a file that
    is not a database, or that it or its directory is read-only, fails here, not at the first
    request); for a file yet to be created, the nearest existing directory must take a new
    file. A database locked by another replica counts as usable: it will be free in a moment.
    """
    if path == ":memory:":
        return []
    name = f"STARTJOBS_DB={path}"
    fix = "point it at a file path the bot can create and write"
    target = Path(path)
    try:
        if target.is_dir():
            return [f"{name}: is a directory; {fix}"]
        if not target.exists():
            return _directory_problems(name, target, fix)
    except OSError as exc:  # a directory on the way that the bot may not enter
        return [f"{name}: cannot be reached ({exc.strerror or exc}); {fix}"]
    try:
        db = sqlite3.connect(
            f"{target.resolve().as_uri()}?mode=rw", uri=True, timeout=10.0, isolation_level=None
        )
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE startjobs_write_check (x)")
            db.execute("ROLLBACK")
        finally:
            db.close()
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return []
        if code == "SQLITE_NOTADB":
            return [
                f"{name}: is not a SQLite database ({exc}); point it at the bot's database, "
                "or at a new file path the bot can create and write"
            ]
        if code.startswith("SQLITE_READONLY"):
            return [
                f"{name}: cannot be written ({exc}); make the file and its directory "
                f"{target.resolve().parent} writable by the bot's user (uid {os.geteuid()}), "
                f"or {fix}"
            ]
        return [f"{name}: cannot be opened and written ({exc}); {fix}"]
    return []


def _directory_problems(name: str, target: Path, fix: str) -> list[str]:
    """Problems creating ``target``: its nearest existing ancestor must take a new file (the
    store creates missing directories)."""
    ancestor = target.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return [f"{name}: {ancestor} is not a directory; {fix}"]
    try:
        fd, probe = tempfile.mkstemp(prefix=".startjobs-write-check-", dir=ancestor)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return [
            f"{name}: cannot create files in {ancestor} ({reason}); make it writable by the "
            f"bot's user (uid {os.geteuid()}), or {fix}"
        ]
    os.close(fd)
    os.unlink(probe)
    return []

"""``startjobs copy-db --from sqlite:///path/startjobs.db --to postgresql://…``: move a
deployment's history from its SQLite database to PostgreSQL.

Every row of ``requests``, ``request_jobs``, ``request_prechecks``, ``starts`` and ``audit``
is copied (the audit ids and their order kept, the audit id sequence set past them), in one
transaction on the
PostgreSQL side, after the target has been migrated to the current schema. The copy is
refused (exit 1, one line) when the target already holds rows in those tables, unless
``--replace`` is given, which empties them first in the same transaction; when the source is
not a startjobs SQLite database; or when its schema is older than this version's: the source
is never upgraded here (run ``startjobs migrate`` on it, or start the bot once on it, first).

The source is opened read-only (``file:…?mode=ro``, see :func:`_read_only`) and read in one
transaction, so the copy is a consistent snapshot even of a file another process is writing;
stop the bot first all the same, or what it writes afterwards is not copied. ``--to`` defaults to
``STARTJOBS_DATABASE_URL`` (from the environment or ``.env``), which keeps the password off
the command line. The URL's password is never printed.

Prints one line per table with the rows copied and a final line; exit 0. Exit 1 when the
copy is refused or fails (nothing is written then), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg

from bot.check import command
from bot.config import masked_url
from bot.service.ports import StoreUnavailable
from bot.store import SCHEMA_VERSION
from bot.store.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import Conn

# Parents before children, as the foreign keys need them.
TABLES = ("requests", "request_jobs", "request_prechecks", "starts", "audit")
# Seconds to wait for the target's tables (a bot still running on them holds them).
LOCK_WAIT = "10s"

Result = tuple[int, list[str]]  # exit status, the lines to print


class Refused(Exception):
    """The copy cannot be made; the message is the line to print."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startjobs copy-db",
        description="Copy a startjobs SQLite database's requests, jobs, starts and audit "
        "trail into PostgreSQL (stop the bot first).",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SQLITE",
        help="the SQLite database: sqlite:///path/to/startjobs.db or a plain path",
    )
    parser.add_argument(
        "--to",
        dest="target",
        metavar="POSTGRESQL_URL",
        help="postgresql://user:password@host/db (default: STARTJOBS_DATABASE_URL)",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="empty the target's tables first (in the same transaction) if they hold rows",
    )
    parser.add_argument("--env-file", default=".env", help="dotenv file to load (default .env)")
    return parser


def cli_main(argv: list[str]) -> int:
    return command.cli_main(
        _parser(),
        argv,
        lambda args: run(args.source, args.target, replace=args.replace, env=os.environ),
    )


def run(
    source: str,
    target: str | None,
    *,
    replace: bool = False,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Copy ``source`` (a SQLite path or ``sqlite:`` URL) into ``target`` (a PostgreSQL URL,
    else ``env``'s ``STARTJOBS_DATABASE_URL``): the exit status and the lines to say."""
    url = target or (env or {}).get("STARTJOBS_DATABASE_URL", "").strip()
    if not url.startswith(("postgresql://", "postgres://")):
        shown = masked_url(url) if url else "nothing (and STARTJOBS_DATABASE_URL is unset)"
        return 2, [f"startjobs copy-db: --to must be a postgresql:// URL, not {shown}"]
    path = sqlite_path(source)
    try:
        with _read_only(path) as db:
            _check_source(db, path)
            return asyncio.run(_copy(db, path, url, replace=replace))
    except Refused as exc:
        return 1, [f"startjobs copy-db: {exc}"]


def sqlite_path(source: str) -> Path:
    """The file ``source`` names: ``sqlite:///abs/path``, ``sqlite:rel/path`` or a path."""
    if source.startswith("sqlite://"):
        return Path(source.removeprefix("sqlite://"))
    return Path(source.removeprefix("sqlite:"))


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """``path`` opened read-only. With no ``-wal`` or ``-shm`` beside it (the bot stopped and
    closed it cleanly, so every commit is in the file itself) it is opened ``immutable``
    too, so that not even those two files are created beside it."""
    if not path.is_file():
        raise Refused(f"there is no SQLite database at {path}")
    quiet = not any(Path(f"{path}{end}").exists() for end in ("-wal", "-shm"))
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if quiet else "")
    try:
        db = sqlite3.connect(uri, uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise Refused(f"cannot open {path} read-only: {exc}") from exc
    try:
        db.execute("BEGIN")  # one snapshot for every table read
        yield db
    finally:
        db.close()


def _check_source(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a startjobs database, or one of another schema version."""
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        have = command.table_columns(db)
    except sqlite3.DatabaseError as exc:
        raise Refused(f"{path} is not a startjobs SQLite database ({exc})") from exc
    if not set(TABLES) & have.keys():
        raise Refused(f"{path} is not a startjobs SQLite database (it has no requests table)")
    missing = [
        f"{table}.{column}" if table in have else f"table {table}"
        for table in TABLES
        for column in command.schema_columns()[table]
        if column not in have.get(table, ())
    ]
    if version > SCHEMA_VERSION:
        raise Refused(
            f"{path} has schema version {version}, newer than this version's "
            f"{SCHEMA_VERSION}: copy it with the version of startjobs that wrote it"
        )
    if version < SCHEMA_VERSION or missing:
        lacks = f" and lacks {', '.join(dict.fromkeys(missing))}" if missing else ""
        raise Refused(
            f"{path} has the older schema version {version}{lacks}; it is not changed here: "
            f"stop the bot, run STARTJOBS_DB={path} startjobs migrate (or start the bot once "
            "on it), then copy again"
        )


async def _copy(source: sqlite3.Connection, path: Path, url: str, *, replace: bool) -> Result:
    shown = command.postgres_name(url)
    store = PostgresStore(url, pool_min=1, pool_max=1, migrate=True)
    try:
        await store.open()  # connects, and migrates the target to the current schema
        async with store.db.tx() as conn:
            await conn.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_WAIT,))
            await conn.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
            held = {t: await _count(conn, t) for t in TABLES}
            if any(held.values()) and not replace:
                rows = ", ".join(f"{n} {t}" for t, n in held.items() if n)
                raise Refused(
                    f"{shown} already holds rows ({rows}); nothing was copied. Pass --replace "
                    "to empty its tables first"
                )
            if replace:
                for table in reversed(TABLES):
                    await conn.execute(f"DELETE FROM {table}")  # noqa: S608
            copied = {t: await _copy_table(source, conn, t) for t in TABLES}
            for table, n in copied.items():
                if (found := await _count(conn, table)) != n:
                    raise Refused(f"{table}: {n} rows read but {found} in the target")
            cur = await conn.execute(
                """SELECT setval(pg_get_serial_sequence('audit', 'id'),
                    COALESCE(MAX(id), 0) + 1, false) FROM audit"""
            )
            row = await cur.fetchone()
            next_id = int(next(iter(row.values()))) if row else 1
    except Refused:
        raise
    except (StoreUnavailable, OSError) as exc:
        raise Refused(command.unreachable(store, exc)) from exc
    except psycopg.errors.LockNotAvailable as exc:
        raise Refused(
            f"{shown} is in use (is the bot still running on it? stop it first); nothing was copied"
        ) from exc
    except sqlite3.Error as exc:
        raise Refused(f"reading {path} failed, nothing was copied: {exc}") from exc
    except psycopg.Error as exc:
        raise Refused(f"the copy failed, nothing was copied: {store.db.plain(exc)}") from exc
    finally:
        await store.aclose()
    lines = [f"{t}: {n} rows copied" for t, n in copied.items()]
    emptied = " (its tables emptied first)" if replace and any(held.values()) else ""
    lines.append(
        f"copied SQLite {path} to {shown}{emptied}, schema version {PG_SCHEMA_VERSION}; "
        f"new audit ids start at {next_id}"
    )
    return 0, lines


async def _count(conn: Conn, table: str) -> int:
    cur = await conn.execute(f"SELECT count(*) AS n FROM {table}")  # noqa: S608
    row = await cur.fetchone()
    return int(str(row["n"])) if row else 0


async def _copy_table(source: sqlite3.Connection, conn: Conn, table: str) -> int:
    """Stream every row of ``table`` (its columns of this version) with COPY; the count.
    SQLite's 0/1 are PostgreSQL's booleans and its JSON text is read as JSONB by COPY's text
    format; COPY keeps the audit ids as given (an identity column takes them from COPY)."""
    columns = ", ".join(command.schema_columns()[table])
    rows = source.execute(f"SELECT {columns} FROM {table} ORDER BY rowid")  # noqa: S608
    n = 0
    async with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)
            n += 1
    return n


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))

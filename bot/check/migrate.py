"""``startjobs migrate``: bring the database's schema up to this version; ``--check``: only
say whether it is.

The database is whichever the settings select: PostgreSQL at ``STARTJOBS_DATABASE_URL``
when it is set, else SQLite at ``STARTJOBS_DB``. Only the database settings are read (no
Slack token or policy is needed); ``.env`` is loaded first, never overriding the environment.

PostgreSQL: the steps of :mod:`bot.store.postgres.migrations`, recorded in
``schema_migrations`` and applied under an advisory lock (the bot applies them at start-up
too, so running this first is optional). SQLite: ``PRAGMA user_version`` against
:data:`bot.store.SCHEMA_VERSION`, and every table and column of ``schema.sql``; migrating
opens the store, which creates or upgrades the file in place.

Prints one line; exit status 0 when the schema is current (or was made so), 1 when it is not
(or the database cannot be reached), 2 for bad arguments or settings. The URL's password is
never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.check import command
from bot.config import ConfigError, DatabaseSettings, load_database_settings
from bot.service.ports import StoreUnavailable
from bot.store import SCHEMA_VERSION, Store
from bot.store.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from bot.store.postgres import PostgresStore

Result = tuple[int, str]  # exit status, the line to print


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startjobs migrate",
        description="Bring the database's schema up to this version (PostgreSQL at "
        "STARTJOBS_DATABASE_URL if set, else SQLite at STARTJOBS_DB).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing: exit 0 if the schema is current, 1 if not",
    )
    parser.add_argument("--env-file", default=".env", help="dotenv file to load (default .env)")
    return parser


def cli_main(argv: list[str]) -> int:
    return command.cli_main(_parser(), argv, lambda args: _one(run(os.environ, check=args.check)))


def _one(result: Result) -> tuple[int, list[str]]:
    code, line = result
    return code, [line]


def run(env: Mapping[str, str], *, check: bool) -> Result:
    """Check or migrate the database ``env`` selects: the exit status and the line to say."""
    try:
        database = load_database_settings(env)
    except ConfigError as exc:
        return 2, "startjobs migrate: fix the settings: " + "; ".join(exc.problems)
    if database.url is not None:
        return asyncio.run(postgres(database, check=check))
    return sqlite(database.path, check=check)


async def postgres(database: DatabaseSettings, *, check: bool) -> Result:
    assert database.url is not None
    shown = command.postgres_name(database.url.reveal())
    store = PostgresStore(
        database.url.reveal(),
        pool_min=1,
        pool_max=1,
        connect_timeout=database.connect_timeout,
        migrate=not check,
    )
    try:
        before = await store.schema() if check else None
        if before is None:
            await store.open()
        after = before or await store.schema()
    except (StoreUnavailable, OSError) as exc:
        return 1, command.unreachable(store, exc)
    except Exception as exc:  # the server refused: permissions, a broken schema
        return 1, f"the database ({shown}) refused: {store.db.plain(exc)}"
    finally:
        await store.aclose()
    newer = f"; it also has steps {list(after.unknown)} of a newer version" if after.unknown else ""
    if after.current:
        if check:
            return 0, f"the database is current: {shown}, schema version {after.version}{newer}"
        return 0, f"the database is migrated: {shown}, schema version {after.version}{newer}"
    missing = ", ".join(map(str, after.missing))
    return 1, (
        f"the database is not current: {shown} has schema version {after.version}, this "
        f"version needs {PG_SCHEMA_VERSION} (missing step {missing}); run startjobs migrate"
    )


def sqlite(path: str, *, check: bool) -> Result:
    shown = f"SQLite {path}"
    if not check:
        try:
            Store(path).close()
        except (sqlite3.Error, OSError) as exc:
            return 1, f"cannot migrate the database ({shown}): {exc}"
    try:
        version, missing = _sqlite_schema(path)
    except FileNotFoundError:
        return 1, (
            f"the database is not current: there is no database at {path} yet; "
            "startjobs migrate (or the bot's start) creates it"
        )
    except (sqlite3.Error, OSError) as exc:
        return 1, f"cannot read the database ({shown}): {exc}"
    if version >= SCHEMA_VERSION and not missing:
        verb = "current" if check else "migrated"
        return 0, f"the database is {verb}: {shown}, schema version {version}"
    lacks = f", lacks {', '.join(missing)}" if missing else ""
    return 1, (
        f"the database is not current: {shown} has schema version {version}{lacks}; this "
        f"version needs {SCHEMA_VERSION}; run startjobs migrate"
    )


def _sqlite_schema(path: str) -> tuple[int, list[str]]:
    """The file's ``user_version`` and the tables and columns of ``schema.sql`` it lacks;
    reads only (the file is opened read-only and never created)."""
    if path == ":memory:" or not Path(path).is_file():
        raise FileNotFoundError(path)
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        have = command.table_columns(db)
    want = command.schema_columns()
    missing = (
        f"{table}.{column}" if table in have else f"table {table}"
        for table, columns in want.items()
        for column in sorted(columns)
        if table not in have or column not in have[table]
    )
    return int(version), list(dict.fromkeys(missing))


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))

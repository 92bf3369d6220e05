"""What ``startjobs migrate`` and ``startjobs copy-db`` share: reading the arguments and
``.env``, printing the result, and comparing a SQLite database with ``schema.sql``."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence
from importlib import resources

from dotenv import load_dotenv

from bot.cli import parse_or_status
from bot.config import masked_url
from bot.store.postgres import PostgresStore


def cli_main(
    parser: argparse.ArgumentParser,
    argv: list[str],
    run: Callable[[argparse.Namespace], tuple[int, Sequence[str]]],
) -> int:
    """Parse ``argv`` (exit 2 for bad arguments), load ``--env-file`` without overriding the
    environment, ``run`` the command and print its lines: to stdout when its status is 0,
    else to stderr. The status."""
    args = parse_or_status(parser, argv)
    if isinstance(args, int):
        return args
    load_dotenv(args.env_file, override=False)
    # The pool's own warnings (each failed connection attempt) would repeat the one line.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    code, lines = run(args)
    for line in lines:
        print(line, file=sys.stdout if code == 0 else sys.stderr)
    return code


def table_columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    """The columns of each of ``db``'s own tables."""
    tables = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: {r[1] for r in db.execute(f"PRAGMA table_info('{t}')")} for t in tables}


@functools.cache
def schema_columns() -> dict[str, list[str]]:
    """The columns of each table of this version's ``schema.sql``, in order."""
    schema = resources.files("bot.store").joinpath("schema.sql").read_text(encoding="utf-8")
    with contextlib.closing(sqlite3.connect(":memory:")) as model:
        model.executescript(schema)
        return {
            table: [r[1] for r in model.execute(f"PRAGMA table_info('{table}')")]
            for table in table_columns(model)
        }


def postgres_name(url: str) -> str:
    """How a PostgreSQL database is named in a line: its URL without the password."""
    return f"PostgreSQL {masked_url(url)}"


def unreachable(store: PostgresStore, exc: BaseException) -> str:
    """The line for a PostgreSQL database that cannot be reached, without the password."""
    return f"the database cannot be reached: {store.db.scrub(str(exc))}"

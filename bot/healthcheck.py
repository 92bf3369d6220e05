"""Container health check: ``python -m bot.healthcheck``.

In HTTP mode asks ``GET /healthz`` on ``PORT``; in Socket Mode (``SLACK_APP_TOKEN`` set) makes
a write to the database itself (PostgreSQL at ``STARTJOBS_DATABASE_URL`` if set, else SQLite at
``STARTJOBS_DB``), as ``/healthz`` does. Exit status 0 = healthy.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import urllib.request


def main() -> int:
    if os.environ.get("SLACK_APP_TOKEN") and os.environ.get("STARTJOBS_DATABASE_URL"):
        return _postgres(os.environ["STARTJOBS_DATABASE_URL"])
    if os.environ.get("SLACK_APP_TOKEN"):
        try:
            # A real write, committed, as /healthz makes: a full disk or a lock held for
            # seconds is unhealthy, not only a database that cannot be opened.
            db = sqlite3.connect(
                os.environ.get("STARTJOBS_DB", "startjobs.db"), timeout=3, isolation_level=None
            )
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (time.time(),))
                db.execute("COMMIT")
            finally:
                db.close()
        except sqlite3.Error as exc:
            print(f"unhealthy: database: {exc}", file=sys.stderr)
            return 1
        return 0
    url = f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


def _postgres(url: str) -> int:
    """The same heartbeat write on PostgreSQL, within a few seconds; the URL's password never
    appears in what is printed."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=False) as db:
            db.execute("SET LOCAL statement_timeout = 3000")
            db.execute(
                """INSERT INTO health (id, at) VALUES (1, %s)
                ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at""",
                (time.time(),),
            )
            db.commit()
    except psycopg.Error as exc:
        text = str(exc)
        try:
            password = conninfo_to_dict(url).get("password")
        except psycopg.Error:
            password = None
        if password:
            text = text.replace(str(password), "***")
        print(f"unhealthy: database: {text.strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

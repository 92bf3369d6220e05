"""Container health check: ``python -m bot.healthcheck``.

In HTTP mode asks ``GET /healthz`` on ``PORT``; in Socket Mode (``SLACK_APP_TOKEN`` set, nothing
listens) makes a write to the database, as ``/healthz`` does. Exit status 0 = healthy.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import urllib.request


def main() -> int:
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


if __name__ == "__main__":
    raise SystemExit(main())

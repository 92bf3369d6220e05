"""What the database holds now that operators watch (:class:`~bot.service.metrics.StoreGauges`),
read when Prometheus scrapes.

SQLite: on a read-only connection of its own, in a worker thread, so a scrape neither waits
for nor holds up the store's own thread (WAL lets it read while the store writes). PostgreSQL:
one read on a pooled connection. Each is two indexed counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from bot.core.request import RequestState
from bot.service.metrics import Metrics, StoreGauges
from bot.store.postgres import PostgresStore

_FOLLOWUPS = (
    "SELECT COUNT(*) AS n FROM requests WHERE followup_done = {false} "
    "AND followup_next_at IS NOT NULL"
)
_UNKNOWN = (
    "SELECT COUNT(*) AS n, MIN((SELECT MAX(s.sent_at) FROM starts s WHERE s.request_id = r.id))"
    " AS oldest FROM requests r WHERE r.state = {param}"
)


def _sqlite_gauges(path: str) -> StoreGauges:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=2.0)) as db:
        (followups,) = db.execute(_FOLLOWUPS.format(false="0")).fetchone()
        unknown, oldest = db.execute(_UNKNOWN.format(param="?"), (RequestState.UNKNOWN,)).fetchone()
    return StoreGauges(int(followups), int(unknown), float(oldest) if oldest else None)


async def sqlite_gauges(path: str, metrics: Metrics) -> StoreGauges:
    """The gauges of the SQLite database at ``path``."""
    try:
        return await asyncio.to_thread(_sqlite_gauges, path)
    except sqlite3.Error:
        metrics.database_error("error")
        raise


async def postgres_gauges(store: PostgresStore) -> StoreGauges:
    """The gauges of the PostgreSQL database behind ``store``."""
    db = await store.ready()
    async with db.connection() as conn:
        cur = await conn.execute(_FOLLOWUPS.format(false="false"))
        row = await cur.fetchone()
        followups = int(row["n"]) if row else 0
        cur = await conn.execute(_UNKNOWN.format(param="%s"), (RequestState.UNKNOWN.value,))
        row = await cur.fetchone()
    unknown = int(row["n"]) if row else 0
    oldest = row["oldest"] if row else None
    return StoreGauges(followups, unknown, float(oldest) if oldest is not None else None)

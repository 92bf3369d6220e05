"""Notes between replicas over PostgreSQL's NOTIFY and LISTEN (:mod:`bot.service.handoff`).

Only a wake-up: a note says which request has work waiting, the tables say what the work is.
Sent on a pooled connection (a NOTIFY is delivered when its transaction commits, which a pooler
in transaction mode passes on); heard on a connection of its own that stays open, which must
reach the server directly (``STARTJOBS_DATABASE_LISTEN_URL``) when the pooled ones go through
a pooler in transaction mode, where a LISTEN ends with the transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import psycopg

from bot.service.work import stop_if_cancelled
from bot.store.postgres.connection import Database, first_line, scrubbed, secrets_of

log = logging.getLogger(__name__)

CHANNEL = "startjobs_work"
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts to listen again, doubling


async def send(db: Database, notes: Sequence[str]) -> None:
    """Send ``notes`` to every listening replica, in one statement."""
    async with db.connection() as conn:
        await conn.execute(
            "SELECT pg_notify(%s, note) FROM unnest(%s::text[]) AS note", (CHANNEL, list(notes))
        )


async def listen(
    url: str,
    heard: Callable[[str], None],
    *,
    connected: Callable[[], None],
    connect_timeout: float,
) -> None:
    """Listen for notes forever (a background task), calling ``heard`` with each one and
    ``connected`` each time listening (re)starts: notes sent meanwhile were lost. A lost
    connection (the server restarting) is logged once and opened again after a pause."""
    hidden = secrets_of(url)
    pause = RETRY_FIRST
    failing = False
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                url,
                autocommit=True,
                connect_timeout=max(2, round(connect_timeout)),
                application_name="startjobs-listen",
            ) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                if failing:
                    log.info("listening for other replicas' notes again")
                failing, pause = False, RETRY_FIRST
                connected()
                async for notice in conn.notifies():
                    heard(notice.payload)
        except psycopg.Error as exc:
            stop_if_cancelled(exc)  # a cancellation psycopg turned into an error of its own
            if not failing:  # once until listening works again, never the password
                log.warning(
                    "cannot listen for other replicas' notes (%s); trying again in %.1f s, "
                    "and maintenance rounds find their work meanwhile",
                    scrubbed(first_line(exc), hidden),
                    pause,
                )
            failing = True
            await asyncio.sleep(pause)
            pause = min(RETRY_MAX, pause * 2)

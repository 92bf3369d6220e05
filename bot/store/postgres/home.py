"""The App Home's reads in PostgreSQL (as :mod:`bot.store.home` does in SQLite): requests
waiting in some projects, one person's requests, and requests still being followed up,
newest first, a page at a time below a ``(created_at, id)`` cursor. A page is one
statement, whatever its length (its requests with their jobs: ``WITH_JOBS``). Each person's
page is kept in ``home_pages`` with SQLite's statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from bot.core.request import RequestState, StartRequest
from bot.service.ports import Cursor
from bot.store.home import FORGET_PAGES, KEEP_PAGE, READ_PAGE
from bot.store.postgres.requests import WITH_JOBS, from_row
from bot.store.postgres.rows import PgRows

PAGE_MAX = 200  # most requests one call reads, whatever the caller asks

_PENDING = sql.SQL("""SELECT {} FROM requests r WHERE state = %s AND project = ANY(%s)
    AND (%s::double precision IS NULL OR created_at < %s OR (created_at = %s AND id < %s))
    ORDER BY created_at DESC, id DESC LIMIT %s""").format(WITH_JOBS)
_REQUESTED_BY = sql.SQL("""SELECT {} FROM requests r WHERE requester_id = %s
    AND (%s::double precision IS NULL OR created_at < %s OR (created_at = %s AND id < %s))
    ORDER BY created_at DESC, id DESC LIMIT %s""").format(WITH_JOBS)
_FOLLOWING = sql.SQL("""SELECT {} FROM requests r WHERE NOT followup_done
    AND followup_next_at IS NOT NULL AND (requester_id = %s OR project = ANY(%s))
    AND (%s::double precision IS NULL OR created_at < %s OR (created_at = %s AND id < %s))
    ORDER BY created_at DESC, id DESC LIMIT %s""").format(WITH_JOBS)


def _page(before: Cursor | None, limit: int) -> list[Any]:
    at, rid = before if before is not None else (None, None)
    return [at, at, at, rid, max(1, min(limit, PAGE_MAX))]


class PgHomeRows(PgRows):
    """Reads of the requests table for the App Home."""

    async def pending_in(
        self, projects: Sequence[str], *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]:
        """Pending requests of ``projects``, newest first, below ``before``."""
        params = [RequestState.PENDING.value, list(projects), *_page(before, limit)]
        return await self._hydrated(_PENDING, params)

    async def requested_by(
        self, user: str, *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]:
        """``user``'s own requests, in any state, newest first, below ``before``."""
        return await self._hydrated(_REQUESTED_BY, [user, *_page(before, limit)])

    async def following(
        self,
        projects: Sequence[str],
        *,
        requester: str,
        before: Cursor | None = None,
        limit: int = 20,
    ) -> list[StartRequest]:
        """Requests still being followed up (a next round is set) of ``projects`` or made by
        ``requester``, newest first, below ``before``."""
        params = [requester, list(projects), *_page(before, limit)]
        return await self._hydrated(_FOLLOWING, params)

    async def home_page(self, user: str, *, now: float) -> str | None:
        """Where ``user``'s Home is paged to, if kept past ``now`` (else None: the newest)."""
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(READ_PAGE, (user, now))
            row = await cur.fetchone()
        return str(row["page"]) if row is not None else None

    async def keep_home_page(
        self, user: str, page: str | None, *, now: float, until: float
    ) -> None:
        """As SQLite's; two replicas keeping one person's page at once: the upsert makes the
        second wait for the first, then replace it."""
        db = await self.ready()
        async with db.tx() as conn:
            await conn.execute(FORGET_PAGES, (now, user))
            if page:
                await conn.execute(KEEP_PAGE, (user, page, until))

    async def _hydrated(self, query: sql.Composed, params: list[Any]) -> list[StartRequest]:
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute(query, params)
            return [from_row(row) for row in await cur.fetchall()]

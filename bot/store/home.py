"""The App Home's reads in SQLite: requests waiting in some projects, one person's requests,
and requests still being followed up, newest first, a page at a time.

Pages are keyed by ``(created_at, id)`` (a :data:`~bot.service.ports.Cursor`): a page
starts below the last request of the page before, so requests made meanwhile never shift
what the next page shows. Each query is one fixed statement (the projects go in as one JSON
array parameter), served by the indexes on state, requester and follow-up.

Where each person's Home is paged to (``home_pages``: the text of the service's
:class:`~bot.service.home.HomePage`) is kept here too, so that whichever replica publishes
their Home next shows the page they turned to; :data:`KEEP_PAGE` is both stores'.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

from bot.core.request import RequestState, StartRequest
from bot.service.ports import Cursor
from bot.store.rows import Rows

PAGE_MAX = 200  # most requests one call reads, whatever the caller asks

_PENDING = """SELECT * FROM requests WHERE state = ?
    AND project IN (SELECT value FROM json_each(?))
    AND (? IS NULL OR created_at < ? OR (created_at = ? AND id < ?))
    ORDER BY created_at DESC, id DESC LIMIT ?"""
_REQUESTED_BY = """SELECT * FROM requests WHERE requester_id = ?
    AND (? IS NULL OR created_at < ? OR (created_at = ? AND id < ?))
    ORDER BY created_at DESC, id DESC LIMIT ?"""
_FOLLOWING = """SELECT * FROM requests WHERE followup_done = 0
    AND followup_next_at IS NOT NULL
    AND (requester_id = ? OR project IN (SELECT value FROM json_each(?)))
    AND (? IS NULL OR created_at < ? OR (created_at = ? AND id < ?))
    ORDER BY created_at DESC, id DESC LIMIT ?"""


KEEP_PAGE = """INSERT INTO home_pages (user_id, page, until) VALUES (%s, %s, %s)
ON CONFLICT (user_id) DO UPDATE SET page = excluded.page, until = excluded.until"""
"""Both stores' upsert of a person's page (user, its text, until)."""
FORGET_PAGES = "DELETE FROM home_pages WHERE until <= %s OR user_id = %s"
"""Pages no longer kept at ``now``, and the person's own (parameters: now, user)."""
READ_PAGE = "SELECT page FROM home_pages WHERE user_id = %s AND until > %s"


def _page(before: Cursor | None, limit: int) -> list[object]:
    at, rid = before if before is not None else (None, None)
    return [at, at, at, rid, max(1, min(limit, PAGE_MAX))]


class HomeRows(Rows):
    """Reads of the requests table for the App Home."""

    # A request with its jobs, from its row: the store has it from bot.store.requests.RequestRows.
    _hydrate: Callable[[sqlite3.Row], StartRequest]

    def pending_in(
        self, projects: Sequence[str], *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]:
        """Pending requests of ``projects``, newest first, below ``before``."""
        params = [RequestState.PENDING, json.dumps(list(projects)), *_page(before, limit)]
        return self._hydrated(self._db.execute(_PENDING, params))

    def requested_by(
        self, user: str, *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]:
        """``user``'s own requests, in any state, newest first, below ``before``."""
        return self._hydrated(self._db.execute(_REQUESTED_BY, [user, *_page(before, limit)]))

    def following(
        self,
        projects: Sequence[str],
        *,
        requester: str,
        before: Cursor | None = None,
        limit: int = 20,
    ) -> list[StartRequest]:
        """Requests still being followed up (a next round is set) of ``projects`` or made by
        ``requester``, newest first, below ``before``."""
        params = [requester, json.dumps(list(projects)), *_page(before, limit)]
        return self._hydrated(self._db.execute(_FOLLOWING, params))

    def home_page(self, user: str, *, now: float) -> str | None:
        """Where ``user``'s Home is paged to, if kept past ``now`` (else None: the newest)."""
        row = self._db.execute(READ_PAGE.replace("%s", "?"), (user, now)).fetchone()
        return str(row[0]) if row is not None else None

    def keep_home_page(self, user: str, page: str | None, *, now: float, until: float) -> None:
        """Keep ``user``'s ``page`` until ``until`` (None: forget theirs); pages no longer
        kept go with it."""
        with self._tx() as db:
            db.execute(FORGET_PAGES.replace("%s", "?"), (now, user))
            if page:
                db.execute(KEEP_PAGE.replace("%s", "?"), (user, page, until))

    def _hydrated(self, rows: sqlite3.Cursor) -> list[StartRequest]:
        return [self._hydrate(row) for row in rows.fetchall()]

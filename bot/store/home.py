"""The App Home's reads in SQLite: requests waiting in some projects, one person's requests,
and requests still being followed up, newest first, a page at a time.

Pages are keyed by ``(created_at, id)`` (a :data:`~bot.service.ports.Cursor`): a page
starts below the last request of the page before, so requests made meanwhile never shift
what the next page shows. Each query is one fixed statement (the projects go in as one JSON
array parameter), served by the indexes on state, requester and follow-up.
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

    def _hydrated(self, rows: sqlite3.Cursor) -> list[StartRequest]:
        return [self._hydrate(row) for row in rows.fetchall()]

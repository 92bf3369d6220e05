"""Each job's DRS precheck, stored with its request (``request_prechecks``), and the codec
both stores share for it.

A save is a conditional upsert: a read replaces the stored one only if it is not older
(``read_at``), so a slow poll that ends after a newer read never brings back an old state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.precheck import MAX_FAILED_ITEMS, FailedItem, JobPrecheck, PrecheckState
from bot.core.request import RequestState
from bot.store.rows import Rows

COLUMNS = ("job_id", "state", "passed_rate", "failed_items", "precheck_id", "read_at", "reason")

UNWATCHED = """SELECT p.request_id FROM request_prechecks p JOIN requests r ON r.id = p.request_id
WHERE p.state = 'running' AND r.state = %s
GROUP BY p.request_id HAVING MAX(p.read_at) < %s ORDER BY p.request_id"""
"""Both stores' query of :meth:`unwatched_prechecks` (``%s`` placeholders; SQLite's ``?``),
with :func:`unwatched_params`. The running state (``PrecheckState.RUNNING``) is in the text,
so the partial index of running prechecks (``request_prechecks_running``) serves it on either
store."""


def unwatched_params(read_before: float) -> tuple[object, ...]:
    return (RequestState.PENDING.value, read_before)


CLAIM_POLL = """INSERT INTO precheck_polls (request_id, owner, until) VALUES (%s, %s, %s)
ON CONFLICT (request_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
WHERE precheck_polls.until <= %s"""
"""Both stores' claim of a request's precheck poll (:meth:`PrecheckRows.claim_precheck_poll`):
taken when nobody holds it or its holder's lease has lapsed; one row changed means taken.
Parameters: request id, owner, until, now."""
FORGET_POLLS = "DELETE FROM precheck_polls WHERE until < %s"
"""Leases that lapsed long ago (an hour before ``now``), forgotten with each claim."""
LAPSED_LONG_AGO = 3600.0


def items_json(precheck: JobPrecheck) -> str:
    """The failed items as the JSON text both stores keep."""
    return json.dumps(
        [
            {"item": i.item, "result": i.result, "reason": i.reason}
            for i in precheck.failed_items[:MAX_FAILED_ITEMS]
        ],
        ensure_ascii=False,
    )


def write_params(request_id: str, p: JobPrecheck) -> tuple[object, ...]:
    """The parameters of one row, in the order of ``request_id`` then :data:`COLUMNS`."""
    return (
        request_id,
        p.job_id,
        p.state.value,
        p.passed_rate,
        items_json(p),
        p.precheck_id,
        p.read_at,
        p.reason,
    )


def from_row(row: Mapping[str, Any]) -> JobPrecheck:
    """A stored row as a value (``failed_items`` as JSON text, or already decoded)."""
    raw = row["failed_items"]
    items = json.loads(raw) if isinstance(raw, str | bytes) else (raw or [])
    return JobPrecheck(
        job_id=row["job_id"],
        state=PrecheckState(row["state"]),
        passed_rate=row["passed_rate"],
        failed_items=tuple(
            FailedItem(str(i.get("item")), str(i.get("result")), i.get("reason")) for i in items
        ),
        precheck_id=row["precheck_id"],
        read_at=float(row["read_at"]),
        reason=row["reason"],
    )


class PrecheckRows(Rows):
    """The ``request_prechecks`` table."""

    def save_prechecks(self, request_id: str, prechecks: Sequence[JobPrecheck]) -> None:
        """Store each job's precheck, unless the one stored was read later."""
        with self._tx() as db:
            db.executemany(
                """INSERT INTO request_prechecks (request_id, job_id, state, passed_rate,
                failed_items, precheck_id, read_at, reason) VALUES (?,?,?,?,?,?,?,?)
                ON CONFLICT (request_id, job_id) DO UPDATE SET state = excluded.state,
                passed_rate = excluded.passed_rate, failed_items = excluded.failed_items,
                precheck_id = excluded.precheck_id, read_at = excluded.read_at,
                reason = excluded.reason
                WHERE excluded.read_at >= request_prechecks.read_at""",
                [write_params(request_id, p) for p in prechecks],
            )

    def prechecks(self, request_id: str) -> dict[str, JobPrecheck]:
        rows = self._db.execute(
            "SELECT * FROM request_prechecks WHERE request_id = ? ORDER BY job_id",
            (request_id,),
        ).fetchall()
        return {r["job_id"]: from_row(r) for r in rows}

    def unwatched_prechecks(self, read_before: float) -> list[str]:
        rows = self._db.execute(
            UNWATCHED.replace("%s", "?"), unwatched_params(read_before)
        ).fetchall()
        return [r["request_id"] for r in rows]

    def claim_precheck_poll(self, request_id: str, *, owner: str, now: float, until: float) -> bool:
        """Take up the poll of ``request_id``'s prechecks until ``until``, unless another
        process holds it past ``now``; True if taken."""
        with self._tx() as db:
            db.execute(FORGET_POLLS.replace("%s", "?"), (now - LAPSED_LONG_AGO,))
            taken = db.execute(CLAIM_POLL.replace("%s", "?"), (request_id, owner, until, now))
            return taken.rowcount == 1

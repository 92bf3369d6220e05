"""What the stores give the metrics, on SQLite and PostgreSQL: the gauges read at scrape time,
decisions counted once where the conditional update wins, database errors counted."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from bot.core.model import JobResult, Outcome
from bot.core.request import RequestState
from bot.service.metrics import NoMetrics, StoreGauges
from bot.store import AsyncStore, PostgresStore, StoreUnavailable, Verdict
from bot.store.gauges import postgres_gauges, sqlite_gauges
from tests.test_store_contract import (  # noqa: F401  (fixtures)
    JOBS,
    KW,
    RID,
    Backend,
    approved,
    backend,
    make_request,
    store,
)


class Recording(NoMetrics):
    def __init__(self) -> None:
        self.decisions: list[str] = []
        self.finished: list[tuple[str, str]] = []
        self.db_errors: list[str] = []

    def decided(self, kind: str) -> None:
        self.decisions.append(kind)

    def request_finished(self, project: str, state: str) -> None:
        self.finished.append((project, state))

    def database_error(self, kind: str) -> None:
        self.db_errors.append(kind)


def counted(opened: AsyncStore | PostgresStore) -> Recording:
    metrics = Recording()
    if isinstance(opened, PostgresStore):
        opened.count_with(metrics)
    else:
        opened.metrics = metrics
    return metrics


async def gauges(where: Backend, opened: AsyncStore | PostgresStore) -> StoreGauges:
    if isinstance(opened, PostgresStore):
        return await postgres_gauges(opened)
    return await sqlite_gauges(where.target, NoMetrics())


async def test_gauges_show_followups_and_unknown_starts(
    backend: Backend,  # noqa: F811
    store: AsyncStore | PostgresStore,  # noqa: F811
) -> None:
    assert await gauges(backend, store) == StoreGauges(0, 0, None)
    await approved(store)
    assert await store.mark_sent(RID, 1, now=1_101.0, owner="A", lease=15)
    lost = [JobResult(j, Outcome.UNKNOWN, error_msg="answer lost") for j in JOBS]
    await store.record_outcomes(RID, 1, lost, **KW)
    assert (await store.get(RID)).state is RequestState.UNKNOWN  # type: ignore[union-attr]
    other = "SJ-CONTRACT2"
    await store.insert_request(make_request(other), actor="U1", detail={})
    got = await gauges(backend, store)
    assert got.unknown == 1
    assert got.oldest_unknown_sent_at == pytest.approx(1_101.0)
    assert got.followups == 1  # the unknown request is followed; the pending one is not
    await store.schedule_followup(RID, next_at=None)
    assert (await gauges(backend, store)).followups == 0


async def test_a_decision_is_counted_once_by_the_winner(
    store: AsyncStore | PostgresStore,  # noqa: F811
) -> None:
    metrics = counted(store)
    await store.insert_request(make_request(), actor="U1", detail={})
    rejected = Verdict(RID, target=RequestState.REJECTED, actor="U2", now=1_100.0)
    assert (await store.decide(rejected)).won
    late = Verdict(RID, target=RequestState.APPROVED, actor="U3", now=1_101.0)
    assert not (await store.decide(late)).won
    assert metrics.decisions == ["rejected"]
    assert metrics.finished == [("prod", "rejected")]


async def test_database_errors_are_counted(
    store: AsyncStore | PostgresStore,  # noqa: F811
) -> None:
    metrics = counted(store)
    if isinstance(store, PostgresStore):
        with pytest.raises(psycopg.Error):
            async with store.db.connection() as conn:
                await conn.execute("SELECT no_such_column FROM requests")
        assert metrics.db_errors == ["error"]
        return
    with pytest.raises(StoreUnavailable):
        await store.run(lambda: None, within=0.0)  # no time left: not made at all

    def broken() -> None:
        with sqlite3.connect(":memory:") as db:
            db.execute("SELECT no_such_column FROM nowhere")

    with pytest.raises(sqlite3.Error):
        await store.run(broken)
    assert metrics.db_errors == ["unavailable", "error"]

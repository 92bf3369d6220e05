"""Notes between replicas on a real PostgreSQL server (bot/store/postgres/notices.py): sent
in one statement, heard by every listening store, and heard again after the server dropped
the listening connection (a restart, a failover)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg
import pytest

from bot.store import PostgresStore
from bot.store.postgres import notices


class Ear:
    """A store listening in a task of its own, with what it heard."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.heard: list[str] = []
        self.connected = 0
        self._ready = asyncio.Event()
        self.task = asyncio.create_task(store.listen(self.heard.append, connected=self._on))

    def _on(self) -> None:
        self.connected += 1
        self._ready.set()

    async def ready(self) -> None:
        await asyncio.wait_for(self._ready.wait(), 10)
        self._ready.clear()

    async def hear(self, count: int) -> list[str]:
        async with asyncio.timeout(10):
            while len(self.heard) < count:
                await asyncio.sleep(0.01)
        return self.heard

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    sender, listener = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        yield sender, listener
    finally:
        await sender.aclose()
        await listener.aclose()


async def test_every_listening_store_hears_the_notes_of_one_call(
    stores: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    sender, listener = stores
    ears = [Ear(listener), Ear(PostgresStore(pg_url))]
    try:
        for ear in ears:
            await ear.ready()
        await sender.send_notes([f"start SJ-{n} 1" for n in range(50)])
        for ear in ears:
            assert await ear.hear(50) == [f"start SJ-{n} 1" for n in range(50)]
    finally:
        for ear in ears:
            await ear.stop()
        await ears[1].store.aclose()


async def test_a_dropped_listening_connection_is_opened_again(
    stores: tuple[PostgresStore, PostgresStore],
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(notices, "RETRY_FIRST", 0.05)
    sender, listener = stores
    ear = Ear(listener)
    try:
        await ear.ready()
        with caplog.at_level(logging.INFO):
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                cur = await admin.execute(
                    """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE application_name = 'startjobs-listen'"""
                )
                row = await cur.fetchone()
                assert row is not None and row[0] == 1
            await ear.ready()  # listening again: ``connected`` told the owner to catch up
        assert ear.connected == 2
        assert "cannot listen for other replicas' notes" in caplog.text
        await sender.send_notes(["publish SJ-A 0"])
        assert await ear.hear(1) == ["publish SJ-A 0"]
    finally:
        await ear.stop()


async def test_a_server_not_there_is_tried_again_without_the_password_in_the_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notices, "RETRY_FIRST", 0.05)
    store = PostgresStore("postgresql://bot:s3cret-pw@127.0.0.1:1/startjobs", connect_timeout=1)
    with caplog.at_level(logging.WARNING):
        ear = Ear(store)
        await asyncio.sleep(0.5)
        await ear.stop()
    assert ear.connected == 0
    assert caplog.text.count("cannot listen for other replicas' notes") == 1  # once, not a loop
    assert "s3cret-pw" not in caplog.text

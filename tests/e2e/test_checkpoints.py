"""The running bot copies its write-ahead log into the database in a thread of its own, so no
commit on the way to an answer does it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.devkit.sim.drs_jobs import DEMO_JOBS
from tests.e2e.harness import ALICE, Harness

ORDERS = DEMO_JOBS[0][0]


@pytest.mark.sqlite_only("SQLite's write-ahead log checkpoints")
async def test_the_running_bot_checkpoints_its_database_in_the_background(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        await h.request(ALICE, "dev", [ORDERS])
        assert h.b.store.backend._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        task = asyncio.create_task(h.b._checkpoints(0.05))
        try:
            await h.wait(lambda: h.b.last_checkpoint is not None, timeout=5.0)
        finally:
            task.cancel()
        assert h.b.last_checkpoint is not None
        in_log, copied = h.b.last_checkpoint
        assert in_log == copied > 0

"""The database misbehaves: another process holds its lock, or its disk is full.

The bot must go on answering everyone (no database call on the event loop), tell a person
whose request could not be stored so in the form (never Slack's generic error), store nothing
half-way, and say so in ``/healthz`` until it can write again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.slack.ui.ids import BlockId
from tests.e2e.harness import ALICE, CHANNEL, Harness


async def _health(h: Harness) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{h.url}/healthz", timeout=10)
    return resp.status_code, loop.time() - began


@pytest.mark.sqlite_only("another process holds the SQLite file's write lock")
async def test_a_lock_held_elsewhere_stalls_no_answer(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        job = h.sim.add_job(name="mig-locked")
        view = await h.open_modal(ALICE)
        assert await _health(h) == (200, pytest.approx(0, abs=2))
        other = sqlite3.connect(h.db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process takes the write lock and keeps it
        try:
            submitting = asyncio.create_task(
                h.submit_start(ALICE, view, project="prod", job_ids=[job])
            )
            await asyncio.sleep(0.1)
            help_answer = await h.d.slash(ALICE, CHANNEL, "help")
            resp = await submitting
            status, took = await _health(h)
        finally:
            other.execute("ROLLBACK")
            other.close()
        # Another user's command is answered while the write waits for the lock.
        assert help_answer.ok and help_answer.elapsed < 1.0, help_answer
        # The submission is answered in time, in the form, with what happened.
        assert resp.ok and not resp.late, resp
        assert resp.json is not None and resp.json["response_action"] == "errors"
        error = resp.json["errors"][BlockId.PROJECT.value]
        assert "nothing was stored" in error and "locked" in error
        assert status == 503 and took < 3.0
        assert h.db.recent(CHANNEL) == []  # nothing half-stored
        assert (await _health(h))[0] == 200  # back once the lock is gone
        resp = await h.submit_start(ALICE, view, project="prod", job_ids=[job])
        assert resp.ok and resp.json is None
        await h.wait(lambda: len(h.db.recent(CHANNEL)) == 1)


@contextlib.contextmanager
def _small_disk(path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem of its own (tmpfs), so a test can fill it."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.sqlite_only("the SQLite file's own disk fills up")
async def test_a_full_disk_is_reported_and_nothing_is_half_stored(tmp_path: Path) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        async with Harness(tmp_path, db_path=disk / "startjobs.db") as h:
            job = h.sim.add_job(name="mig-full")
            view = await h.open_modal(ALICE)
            assert (await _health(h))[0] == 200
            _fill(disk / "filler")
            resp = await h.submit_start(ALICE, view, project="prod", job_ids=[job])
            assert resp.ok and not resp.late, resp
            assert resp.json is not None and resp.json["response_action"] == "errors"
            error = resp.json["errors"][BlockId.PROJECT.value]
            assert "nothing was stored" in error and "full" in error
            assert (await _health(h))[0] == 503
            (disk / "filler").unlink()
            assert (await _health(h))[0] == 200
            assert h.db.recent(CHANNEL) == []
            resp = await h.submit_start(ALICE, view, project="prod", job_ids=[job])
            assert resp.ok and resp.json is None
            await h.wait(lambda: len(h.db.recent(CHANNEL)) == 1)

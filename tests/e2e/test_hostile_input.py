"""Hostile input typed into Slack, against the real bot over loopback: it is answered at once,
and nobody else waits for it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.slack.ui.ids import ActionId, BlockId, When
from tests.e2e.harness import ALICE, CHANNEL, DAVE, Harness
from tests.e2e.process import ProcessHarness

# 26 characters: compiled to a regular expression, it backtracked for hours against names like
# these, on the event loop.
WORST_PATTERN = "*?*?*?*?*?*?*?*?*?*?*?*?*Z"
ORDERS = DEMO_JOBS[0][0]
NAMES = [f"mig-shop-orders-to-rds-cutover-wave-{i:04d}" for i in range(1, 41)]


async def test_a_worst_case_name_pattern_is_answered_at_once_and_others_are_served(
    tmp_path: Path,
) -> None:
    # The bot runs as its own process: were it to hang, this test would see the time out
    # instead of hanging with it.
    async with ProcessHarness(tmp_path) as h:
        assert all(len(n) == 40 for n in NAMES)
        for name in NAMES:
            h.sim.add_job(name=name)
        view_id = await h.open_modal(ALICE, f"prod --name '{WORST_PATTERN}'")
        values = {
            BlockId.PROJECT.value: {ActionId.PROJECT.value: "prod"},
            BlockId.NAME_PATTERN.value: {ActionId.NAME_PATTERN.value: WORST_PATTERN},
            BlockId.WHEN.value: {ActionId.WHEN.value: When.NOW.value},
            BlockId.REASON.value: {ActionId.REASON.value: "CHG-9"},
        }

        async def healthz() -> float:
            started = time.monotonic()
            async with httpx.AsyncClient() as client:
                resp = await client.get(f"{h.url}/healthz", timeout=10)
            assert resp.status_code == 200
            return time.monotonic() - started

        submitted, other, health = await asyncio.gather(
            h.d.submit_view(ALICE, view_id, values),
            h.d.slash(DAVE, CHANNEL, "help"),
            healthz(),
        )
        assert submitted.ok and submitted.elapsed < 1.0, submitted
        assert submitted.json is not None and submitted.json["response_action"] == "errors"
        error = submitted.json["errors"][BlockId.NAME_PATTERN.value]
        assert "No job in prod matches" in error, error
        assert other.ok and other.elapsed < 1.0, other
        assert health < 1.0
        assert not [c for c in h.sim.calls if c.endpoint == "batch-starting"]


async def test_a_forged_date_gets_an_error_on_its_field(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        for forged in (10**12, -(10**12), 2**63):
            view_id = await h.open_modal(ALICE)
            resp = await h.submit_start(
                ALICE, view_id, project="prod", job_ids=[ORDERS], start_at=forged
            )
            assert resp.ok and not resp.late, resp
            assert resp.json is not None and resp.json["response_action"] == "errors", resp
            errors = resp.json["errors"]
            assert list(errors) == [BlockId.START_AT.value]
            assert "between 1970 and 9999" in errors[BlockId.START_AT.value]
        await h.settle()
        assert h.slack.messages(CHANNEL) == []  # no request was made

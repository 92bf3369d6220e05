from __future__ import annotations

from pathlib import Path

from bot.devkit.sim.drs_jobs import DEMO_JOBS
from tests.e2e.harness import ALICE, CHANNEL, Harness

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]


async def test_no_approval_project_starts_on_submit(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        resp, msg = await h.request(ALICE, "dev", [ORDERS, CUSTOMERS])
        assert resp.ok and not resp.late, resp
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        await h.settle()
        thread = h.thread(msg)
        assert "2" in thread[0].text
        assert h.sim.start_calls_for(ORDERS) == 1
        assert h.sim.job(ORDERS).status in {"STARTJOBING", "FULL_TRANSFER_STARTED"}
        final = h.slack.messages(CHANNEL)[-1]
        assert not any(b.get("type") == "actions" for b in final.blocks)

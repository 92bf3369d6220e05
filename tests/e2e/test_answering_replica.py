"""A replica that only answers (``STARTJOBS_ROLE=answer``) beside one that works, both
``python -m bot`` on one PostgreSQL database: every Slack request goes to the answering one;
the working one, whose maintenance rounds are a minute apart, is woken by its notes and posts
the request, starts it (once per job) and posts the outcome within seconds.

Run by the PostgreSQL end-to-end runs (``STARTJOBS_TEST_DATABASE=postgres`` or ``pgbouncer``;
behind PgBouncer the working replica listens on a direct connection,
``STARTJOBS_DATABASE_LISTEN_URL``), skipped in the default one.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.stack import free_port
from bot.devkit.sim.driver import SlackDriver
from tests.e2e.harness import ALICE, SIGNING_SECRET
from tests.e2e.process import BotProcess, ProcessHarness, approve, outcome_replies
from tests.pg_support import PgCluster

pytestmark = pytest.mark.postgres_e2e("an answering and a working replica on PostgreSQL")

ENV = {
    # A minute between rounds and a ten-minute grace: only the notes can make it prompt.
    "STARTJOBS_MAINTENANCE_INTERVAL": "60",
    "STARTJOBS_RECOVERY_GRACE": "600",
    "STARTJOBS_USER_REQUESTS_PER_MINUTE": "1000",
    "STARTJOBS_DB_CONNECT_TIMEOUT": "1",
}


async def test_an_answering_replica_leaves_its_work_to_a_working_one_woken_at_once(
    tmp_path: Path, pg_url: str, pg_cluster: PgCluster
) -> None:
    direct = pg_cluster.url(pg_url.rsplit("/", 1)[1])  # pg_url may go through PgBouncer
    env = {**ENV, "STARTJOBS_DATABASE_LISTEN_URL": direct}
    async with ProcessHarness(tmp_path, STARTJOBS_DATABASE_URL=pg_url, **env) as h:
        working = h.p
        answering = BotProcess(
            {**h.env(), "PORT": str(free_port()), "STARTJOBS_ROLE": "answer"},
            tmp_path / "answering.log",
        )
        driver = None
        try:
            await answering.wait_healthy()
            driver = SlackDriver(
                events_url=f"{answering.url}/slack/events",
                signing_secret=SIGNING_SECRET,
                fake=h.slack,
            )
            h.driver, working_driver = driver, h.driver  # every request to the answering one
            jobs = [h.sim.add_job(name=f"handoff-{i}") for i in range(3)]

            began = time.monotonic()
            resp, message = await h.request(ALICE, "prod", jobs, within=5.0)
            posted = time.monotonic() - began
            assert resp.ok and resp.json is None, resp
            rid = h.request_id(message)

            began = time.monotonic()
            answer = await approve(h, rid, message)
            assert answer is not None and answer.ok and answer.json is None, answer
            await h.wait(lambda: len(outcome_replies(h, message)) >= 1, 10.0)
            started = time.monotonic() - began
            print(f"\nanswering replica: posted in {posted:.2f} s, outcome in {started:.2f} s")

            for job in jobs:
                calls = [
                    c for c in h.sim.calls if c.endpoint == "batch-starting" and job in c.job_ids
                ]
                assert len(calls) == 1, job
            # The working replica sent it; the answering one never recorded itself alive.
            rows = h.query("SELECT lease_owner FROM starts WHERE request_id = ?", rid)
            assert [str(r["lease_owner"]).split(":")[1] for r in rows] == [str(working.pid)]
            alive = [str(r["owner"]).split(":")[1] for r in h.query("SELECT owner FROM replicas")]
            assert str(answering.pid) not in alive
            assert str(working.pid) in alive
            assert "answering only" in answering.log_tail(200)
            h.driver = working_driver
        finally:
            if driver is not None:
                await driver.aclose()
            await answering.kill()

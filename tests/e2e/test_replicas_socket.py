"""Three ``python -m bot`` replicas on one PostgreSQL database in Socket Mode: each holds one
connection to the fake Slack, which hands every payload to one of them in turn, as Slack
does with an app's connections.

* Fifty approvals of one request at once, spread over the three connections: one wins, DRS is
  asked to start each job once, the other 49 are told it was already approved.
* The replica whose connection took the approval is killed (SIGKILL) while DRS takes 3 s to
  answer its batch-starting call: another replica takes the start over, asks DRS instead of
  sending again, and makes the thread true; the time from the kill is printed.

Skipped, with the reason, when no PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench.stack import free_port
from bot.devkit.sim.drs_faults import Fault
from bot.devkit.sim.socket_driver import SocketModeDriver
from tests.e2e.harness import BOB
from tests.e2e.process import BotProcess, ProcessHarness, outcome_replies
from tests.e2e.test_replicas import (
    COMMENT,
    ENV,
    LEASE,
    Replicas,
    fifty_approvals_start_once,
    message_of,
    open_approve_form,
    request_message,
)

TOKENS = [f"xapp-1-A0STARTJOBS-{i}-replica{i}secret" for i in range(3)]


@contextlib.asynccontextmanager
async def three_socket_replicas(tmp_path: Path, pg_url: str, **env: str) -> AsyncIterator[Replicas]:
    """Replica ``i`` connects with app token ``TOKENS[i]``; ``r.d(i)`` sends into its
    connection, and ``r.h.d`` into whichever connection is next in turn."""
    base = {**ENV, **env, "STARTJOBS_DATABASE_URL": pg_url}
    async with ProcessHarness(tmp_path, SLACK_APP_TOKEN=TOKENS[0], **base) as h:
        hub = h.slack.socket
        await hub.wait_connected(1)
        others = [
            BotProcess(
                {**h.env(), "SLACK_APP_TOKEN": TOKENS[i], "PORT": str(free_port())},
                tmp_path / f"replica{i}.log",
            )
            for i in (1, 2)
        ]
        r = Replicas(h, pg_url, [h.p, *others])
        spread = SocketModeDriver(fake=h.slack)
        try:
            await asyncio.gather(*(p.wait_healthy() for p in others))
            await hub.wait_connected(3)
            assert sorted(hub.app_tokens()) == sorted(TOKENS)
            r.drivers = [SocketModeDriver(fake=h.slack, app_token=t) for t in TOKENS]
            h.driver = spread  # the harness's own requests go wherever Slack sends them
            yield r
        finally:
            for p in others:
                await p.kill()


async def test_fifty_approvals_over_three_connections_start_once(
    tmp_path: Path, pg_url: str
) -> None:
    async with three_socket_replicas(tmp_path, pg_url) as r:
        await fifty_approvals_start_once(r, "mig-socket")
        # Every connection took a third of the submissions, and acknowledged each.
        took = [d.app_token for d in r.h.slack.socket.delivered[-50:]]
        assert {t: took.count(t) for t in TOKENS} == {TOKENS[0]: 17, TOKENS[1]: 17, TOKENS[2]: 16}
        assert all(d.acked for d in r.h.slack.socket.delivered)


async def test_the_replica_that_took_an_approval_killed_mid_start(
    tmp_path: Path, pg_url: str
) -> None:
    async with three_socket_replicas(tmp_path, pg_url, STARTJOBS_SEND_SETTLE="0") as r:
        h = r.h
        jobs = [h.sim.add_job(name=f"mig-socket-killed-{i}") for i in range(3)]
        rid = await request_message(r, jobs)
        message = message_of(r, rid)
        h.sim.add_fault(
            Fault("batch-starting", "hang", count=1, params={"seconds": 3.0, "processed": True})
        )
        sender = 2  # the approval comes over replica 2's connection
        form = await open_approve_form(r, sender, BOB, rid, message)
        assert form is not None
        answer = await r.d(sender).submit_view(BOB, form, COMMENT)
        assert answer.ok and answer.json is None, answer
        await r.until(lambda: r.start_states(rid) == ["sent"], 10.0, "start sent")
        await asyncio.sleep(0.3)  # the call is in flight
        killed_at = time.monotonic()
        assert await r.procs[sender].kill() == -9
        await h.wait(lambda: len(outcome_replies(h, message)) >= 1, 20.0)
        took = time.monotonic() - killed_at
        print(f"\nSocket Mode: kill of the sender -> outcome in the thread {took:.2f} s")
        await r.until(lambda: r.start_states(rid) == ["posted"], 10.0, "start posted")
        await h.slack.socket.wait_connected(2)
        assert TOKENS[sender] not in h.slack.socket.app_tokens()
        for job in jobs:
            calls = [c for c in h.sim.calls if c.endpoint == "batch-starting" and job in c.job_ids]
            assert [c.fault for c in calls] in ([], ["hang"]), calls
            assert h.sim.job(job).status != "CONFIGURATION", job
        rows = r.rows("SELECT outcome FROM request_jobs WHERE request_id = %s", rid)
        assert [x["outcome"] for x in rows] == ["success"] * 3
        assert r.audit_kinds(rid).count("taken_over") == 1
        (reply,) = outcome_replies(h, message)
        assert "did not start" not in json.dumps(reply.blocks)
        assert took < LEASE + 4.0, took

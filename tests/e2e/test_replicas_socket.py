"""Three ``python -m bot`` replicas on one PostgreSQL database in Socket Mode: each holds one
connection to the fake Slack, which hands every payload to one of them in turn, as Slack
does with an app's connections.

* Fifty approvals of one request at once, spread over the three connections: one wins, DRS is
  asked to start each job once, the other 49 are told it was already approved.
* The replica whose connection took the approval is killed (SIGKILL) while DRS takes 3 s to
  answer its batch-starting call: another replica takes the start over, asks DRS instead of
  sending again, and makes the thread true; the time from the kill is printed.

Run by the PostgreSQL end-to-end runs (``STARTJOBS_TEST_DATABASE=postgres`` or ``pgbouncer``;
CI runs both), skipped in the default one; skipped, with the reason, when no PostgreSQL server
binaries are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.stack import free_port
from bot.devkit.sim.socket_driver import SocketModeDriver
from tests.e2e.process import BotProcess, ProcessHarness
from tests.e2e.test_replicas import (
    ENV,
    Replicas,
    fifty_approvals_start_once,
    killed_sender_is_taken_over,
)

# Run by the PostgreSQL end-to-end runs (directly and behind PgBouncer), not the default one.
pytestmark = pytest.mark.postgres_e2e("three Socket Mode replicas on one PostgreSQL database")

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
        sender = 2  # the approval comes over replica 2's connection
        await killed_sender_is_taken_over(r, sender, "mig-socket-killed")
        await r.h.slack.socket.wait_connected(2)
        assert TOKENS[sender] not in r.h.slack.socket.app_tokens()

"""Promises kept by the real ``python -m bot`` process when the world misbehaves.

* A channel Slack refuses for good (the bot was removed, the channel archived) stops nothing
  else: another channel's outcome and follow-up go on, the refusal is recorded once, and the
  requester is told directly.
* Two processes on one database, and a start slowed by DRS's throttling: the process that sent
  it keeps it (a lease it renews), the other never sends it again, and the outcome keeps what
  DRS answered (its order IDs).
* The sender killed mid-call: the other process takes the start over once the lease expired,
  asks DRS instead of sending again, and every job is started once.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bench.stack import free_port
from bot.devkit.sim.drs_faults import Fault
from bot.devkit.sim.slack_model import FakeChannel
from bot.slack.ui.ids import ActionId, BlockId, CallbackId
from tests.e2e.harness import ALICE, BOB, CHANNEL, OTHER_CHANNEL
from tests.e2e.process import (
    BotProcess,
    ProcessHarness,
    approve,
    mentions,
    open_view,
    outcome_replies,
)


def _both_channels(projects: dict[str, Any]) -> None:
    for project in projects.values():
        project["channels"] = [CHANNEL, OTHER_CHANNEL]


async def _request_in(h: ProcessHarness, channel: str, project: str, jobs: list[str]) -> str:
    """A request made in ``channel``; its request id, once its message is stored."""
    before = len(h.slack.messages(channel))
    view = await h.open_modal(ALICE, channel=channel)
    resp = await h.submit_start(ALICE, view, project=project, job_ids=jobs)
    assert resp.ok and resp.json is None, resp
    await h.wait(lambda: len(h.slack.messages(channel)) > before)
    message = h.slack.messages(channel)[-1]
    await h.wait(lambda: bool(h.query("SELECT id FROM requests WHERE message_ts = ?", message.ts)))
    rows = h.query("SELECT id FROM requests WHERE message_ts = ?", message.ts)
    return str(rows[0]["id"])


def _posts_to(h: ProcessHarness, channel: str) -> int:
    return sum(1 for c in h.slack.calls_to("chat.postMessage") if c.args.get("channel") == channel)


async def test_a_lost_channel_stops_no_other_channels_work(tmp_path: Path) -> None:
    async with ProcessHarness(tmp_path, projects=_both_channels) as h:
        bot = h.slack.bot_user_id
        for channel, name in ((CHANNEL, "ops"), (OTHER_CHANNEL, "random")):
            h.slack.set_channel(channel, FakeChannel(name=name, members=[bot, ALICE, BOB]))
        lost_job = h.sim.add_job(name="mig-lost-channel")
        rid_lost = await _request_in(h, OTHER_CHANNEL, "prod", [lost_job])
        lost_message = h.slack.messages(OTHER_CHANNEL)[-1]
        # The channel is archived after the request was posted: nothing can be posted there.
        h.slack.set_channel(
            OTHER_CHANNEL, FakeChannel(name="random", members=[bot], is_archived=True)
        )
        clicked = await h.d.click(
            BOB,
            action_id=ActionId.APPROVE.value,
            value=rid_lost,
            channel=OTHER_CHANNEL,
            message_ts=lost_message.ts,
        )
        assert clicked.ok
        await h.wait(lambda: open_view(h, BOB, CallbackId.APPROVE) is not None)
        view_id = open_view(h, BOB, CallbackId.APPROVE)
        assert view_id is not None
        values = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "ok"}}
        await h.d.submit_view(BOB, view_id, values)
        # The start went out, and the outcome reached the requester directly.
        await h.wait(lambda: any(rid_lost in m.text for m in h.slack.messages(ALICE)), 15.0)
        await h.wait(lambda: h.sim.job(lost_job).status != "CONFIGURATION")

        # Meanwhile a request in a healthy channel is started, reported and followed up.
        ok_job = h.sim.add_job(name="mig-healthy-channel")
        rid_ok = await _request_in(h, CHANNEL, "dev", [ok_job])
        ok_message = h.slack.messages(CHANNEL)[-1]
        await h.wait(lambda: len(outcome_replies(h, ok_message)) >= 1, 15.0)
        await h.wait(lambda: len(mentions(h, ok_message)) >= 1, 15.0)  # settled notice
        assert rid_ok != rid_lost

        # The refusal is recorded once, in the request's audit trail.
        lost = h.query(
            # The detail as JSON text whatever the column's type (jsonb on PostgreSQL).
            "SELECT kind, CAST(detail AS TEXT) AS detail FROM audit"
            " WHERE request_id = ? AND kind = 'channel_lost'",
            rid_lost,
        )
        assert len(lost) == 1 and json.loads(lost[0]["detail"])["error"] == "is_archived"
        assert h.request_row(rid_lost)["channel_problem"] == "is_archived"
        # Several maintenance rounds later, the bot has not kept knocking at the lost channel.
        posts = _posts_to(h, OTHER_CHANNEL)
        await h.wait(lambda: _posts_to(h, CHANNEL) >= 3)
        await asyncio.sleep(1.5)
        assert _posts_to(h, OTHER_CHANNEL) == posts <= 2
        log = h.p.log_tail(100_000)
        assert "Traceback" not in log, log


def _accepted_starts(h: ProcessHarness, job: str) -> int:
    """batch-starting calls that DRS processed and that named ``job``."""
    return sum(
        1
        for c in h.sim.calls
        if c.endpoint == "batch-starting" and c.status == 202 and job in c.job_ids
    )


async def test_a_throttled_start_is_its_senders_and_sent_once(tmp_path: Path) -> None:
    env = {"STARTJOBS_LEASE_SECONDS": "1.5", "STARTJOBS_RECOVERY_GRACE": "0.5"}
    async with ProcessHarness(tmp_path, **env) as h:
        other = BotProcess({**h.env(), "PORT": str(free_port())}, tmp_path / "other.log")
        try:
            await other.wait_healthy()
            jobs = [h.sim.add_job(name=f"mig-paid-{i}", prepaid=True) for i in range(3)]
            _, message = await h.request(ALICE, "prod", jobs)
            rid = h.request_id(message)
            await h.wait(lambda: h.request_row(rid)["message_ts"] == message.ts)
            # DRS throttles the start three times, 2 s each: the send lasts about 6 s, four
            # leases' worth, while the other process runs maintenance every 0.2 s.
            h.sim.add_fault(
                Fault("batch-starting", "status_429", count=3, params={"retry_after": 2})
            )
            await approve(h, rid, message)
            await h.wait(lambda: len(outcome_replies(h, message)) >= 1, 20.0)
            await h.wait(lambda: h.start_states(rid) == ["posted"], 10.0)
            for job in jobs:
                assert _accepted_starts(h, job) == 1, job
            rows = h.query(
                "SELECT job_id, outcome, order_id FROM request_jobs WHERE request_id = ?", rid
            )
            assert {r["outcome"] for r in rows} == {"success"}
            assert all(r["order_id"] for r in rows), [dict(r) for r in rows]
            kinds = [r["kind"] for r in h.query("SELECT kind FROM audit WHERE request_id = ?", rid)]
            assert "taken_over" not in kinds and "recovered" not in kinds
            (reply,) = outcome_replies(h, message)
            assert "Retry" not in json.dumps(reply.blocks)
        finally:
            await other.kill()


async def test_a_sender_killed_mid_call_is_taken_over_without_a_second_send(
    tmp_path: Path,
) -> None:
    env = {"STARTJOBS_LEASE_SECONDS": "1.5", "STARTJOBS_SEND_SETTLE": "0"}
    async with ProcessHarness(tmp_path, **env) as h:
        other = BotProcess({**h.env(), "PORT": str(free_port())}, tmp_path / "other.log")
        try:
            await other.wait_healthy()
            jobs = [h.sim.add_job(name=f"mig-killed-{i}") for i in range(3)]
            _, message = await h.request(ALICE, "prod", jobs)
            rid = h.request_id(message)
            await h.wait(lambda: h.request_row(rid)["message_ts"] == message.ts)
            # DRS starts the jobs but takes 3 s to answer: the sender is killed meanwhile.
            slow = {"seconds": 3.0, "processed": True}
            h.sim.add_fault(Fault("batch-starting", "hang", count=1, params=slow))
            task = asyncio.create_task(approve(h, rid, message))
            await h.wait(lambda: h.start_states(rid) == ["sent"], 10.0)
            await asyncio.sleep(0.3)
            killed_at = asyncio.get_running_loop().time()
            await h.p.kill()
            await task
            await h.wait(lambda: h.start_states(rid) == ["posted"], 20.0)
            took = asyncio.get_running_loop().time() - killed_at
            for job in jobs:
                # The killed sender's call (held by the fault) is the only one: no second send.
                others = [
                    c
                    for c in h.sim.calls
                    if c.endpoint == "batch-starting" and job in c.job_ids and c.fault != "hang"
                ]
                assert others == [], job
                assert h.sim.job(job).status != "CONFIGURATION", job
            rows = h.query("SELECT outcome FROM request_jobs WHERE request_id = ?", rid)
            assert [r["outcome"] for r in rows] == ["success"] * 3
            kinds = [r["kind"] for r in h.query("SELECT kind FROM audit WHERE request_id = ?", rid)]
            assert kinds.count("taken_over") == 1
            assert took < 10.0
        finally:
            await other.kill()

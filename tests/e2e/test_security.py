"""Security pass: secrets stay out of logs, user text cannot inject markup, floods and
oversized or slow requests are refused without tying up the bot."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import httpx
import pytest

import bot.slack.server
from bot.config import IamPassword
from bot.core.secret import Secret
from bot.devkit.sim.drs import DEFAULT_SK, DEMO_USER
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.service.model import Tuning
from bot.slack.ui.ids import ActionId, BlockId
from tests.e2e.harness import ALICE, BOB, CHANNEL, SIGNING_SECRET, Harness

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]


async def _approve(h: Harness, rid: str, ts: str) -> None:
    before = {v.id for v in h.slack.views()}
    await h.d.click(
        BOB, action_id=ActionId.APPROVE.value, value=rid, channel=CHANNEL, message_ts=ts
    )

    def opened() -> list[str]:
        return [v.id for v in h.slack.views() if v.user == BOB and v.id not in before]

    await h.wait(lambda: bool(opened()))
    await h.d.submit_view(BOB, opened()[-1], {})


@pytest.mark.parametrize("login", ["aksk", "iam"])
async def test_no_secret_in_any_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, login: str
) -> None:
    caplog.set_level(logging.DEBUG)
    changes = {}
    if login == "iam":
        user, password, domain = DEMO_USER
        changes["credentials"] = IamPassword(user=user, password=Secret(password), domain=domain)
    async with Harness(tmp_path, settings_changes=changes) as h:
        h.sim.seed_demo()
        # A happy path, then failures that log with tracebacks: an unreadable DRS answer,
        # a token that expires mid-way, a Slack call that fails.
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        await _approve(h, h.request_id(msg), msg.ts)
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        h.sim.set_fault("batch-starting", "malformed_json", count=1)
        h.sim.set_fault("*", "token_expiry", count=1)
        h.slack.fail("chat.update", "ratelimited", count=2)
        _, msg2 = await h.request(ALICE, "prod", [CUSTOMERS])
        await _approve(h, h.request_id(msg2), msg2.ts)
        await h.wait(lambda: len(h.thread(msg2)) >= 1)
        await h.settle()
    text = caplog.text + "".join(
        str(r.args) + (r.exc_text or "") for r in caplog.records if r.args or r.exc_text
    )
    assert len(caplog.records) > 20, "the flow should have logged"
    for secret in ("xoxb-fake-token", SIGNING_SECRET, DEFAULT_SK, DEMO_USER[1]):
        assert secret not in text
    assert not re.search(r"MII[A-Za-z0-9_-]{40,}", text), "an IAM token was logged"
    assert "Signature=" not in text


async def test_user_text_cannot_inject_mentions_or_links(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        reason = "<!channel> see <https://evil.example|the runbook> & <@U02BOB>"
        _, msg = await h.request(ALICE, "prod", [ORDERS], reason=reason)
        posted = str(h.slack.calls_to("chat.postMessage")[0].args)
        assert "<!channel>" not in posted
        assert "<https://evil.example" not in posted
        assert "&lt;!channel&gt;" in posted
        assert "&amp;" in posted
        assert msg.ts


async def test_one_user_cannot_flood(tmp_path: Path) -> None:
    tuning = Tuning(followup_interval=0.2, recovery_grace=0.5, user_requests_per_minute=3)
    async with Harness(tmp_path, tuning=tuning) as h:
        h.sim.seed_demo()
        for _ in range(3):
            resp, _ = await h.request(ALICE, "prod", [ORDERS])
            assert not resp.json
        view_id = await h.open_modal(ALICE)
        resp = await h.submit_start(ALICE, view_id, project="prod", job_ids=[ORDERS])
        assert resp.json is not None
        assert "wait a minute" in resp.json["errors"][BlockId.PROJECT.value]
        assert len(h.db.recent(CHANNEL, limit=10)) == 3


async def test_oversized_and_slow_requests_are_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.slack.server, "BODY_READ_SECONDS", 0.5)
    async with Harness(tmp_path) as h:
        huge = b"payload=" + b"x" * (bot.slack.server.MAX_BODY_BYTES + 10)
        resp = await h.d.raw(huge, content_type="application/x-www-form-urlencoded")
        assert resp.status == 413

        host, port = h.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        await writer.drain()
        # While the slow sender dawdles, others are served at once.
        async with httpx.AsyncClient() as client:
            started = asyncio.get_running_loop().time()
            health = await client.get(f"{h.url}/healthz")
            assert health.status_code == 200
            assert asyncio.get_running_loop().time() - started < 0.3
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert b"408" in status_line
        await asyncio.wait_for(reader.read(), 5)  # the bot closes the connection
        writer.close()

"""``python -m bot`` as operators run it: in Socket Mode it listens on PORT for ``/healthz`` and
``/metrics`` (and nothing else), and acks over the WebSocket are timed; with
``STARTJOBS_LOG_FORMAT=json`` every log line is a JSON object, and a request's lines carry its
ID, project and DRS's request ID, with no secret."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bench.stack import Child, child_env, free_port, policy_toml, project_table
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_SK
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from tests.e2e.backend import database_env
from tests.e2e.harness import ALICE, SIGNING_SECRET
from tests.e2e.process import BOT_TOKEN, ProcessHarness, outcome_replies
from tests.e2e.test_socket_mode_stop import FakeSlack, stop_by, wait_for

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]
APP_TOKEN = "xapp-1-A0FAKE-1-appsecret0123456789"


class CommandingSlack(FakeSlack):
    """A working Socket Mode WebSocket that, after ``hello``, sends one ``/startjobs help``
    and keeps the bot's acknowledgements."""

    def __init__(self) -> None:
        super().__init__()
        self.acks: list[dict[str, Any]] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_post("/api/auth.test", self._auth_test)
        app.router.add_get("/link/", self._link)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def _auth_test(self, _: web.Request) -> web.Response:
        """Bolt authorizes each request with the bot token once."""
        return web.json_response(
            {"ok": True, "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}
        )

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets += 1
        await ws.send_json({"type": "hello", "num_connections": 1})
        payload = {
            "token": "unused",
            "team_id": "T0FAKE",
            "channel_id": "C0OPS",
            "user_id": ALICE,
            "command": "/startjobs",
            "text": "help",
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": "1.2.3",
        }
        await ws.send_json(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "payload": payload,
                "accepts_response_payload": True,
            }
        )
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return ws


def metric(text: str, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and want <= set(s.labels.items())
    )


async def test_socket_mode_serves_healthz_and_metrics_on_port(tmp_path: Path) -> None:
    slack = CommandingSlack()
    await slack.start()
    slack.ws_url = f"{slack.url.replace('http', 'ws')}/link/"
    config = tmp_path / "startjobs.toml"
    project = project_table("http://127.0.0.1:9", requesters=[ALICE], approvers=["U02BOB"])
    config.write_text(policy_toml({"prod": project}), "utf-8")
    port = free_port()
    env = child_env(
        SLACK_BOT_TOKEN="xoxb-fake-token",
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=f"{slack.url}/api/",
        PORT=str(port),
        STARTJOBS_CONFIG=str(config),
        **database_env(tmp_path / "startjobs.db"),
        HUAWEICLOUD_SDK_AK=DEFAULT_AK,
        HUAWEICLOUD_SDK_SK=DEFAULT_SK,
    )
    argv = [sys.executable, "-m", "bot", "--env-file", os.devnull]
    child = Child(argv, env, tmp_path / "bot.log")
    try:
        await wait_for(child, lambda text: "startjobs running in Socket Mode" in text)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):  # the ack travels back over the WebSocket
                if slack.acks:
                    break
                await asyncio.sleep(0.05)
            health = await client.get("/healthz")
            scraped = await client.get("/metrics")
            events = await client.post("/slack/events", content=b"{}")
    finally:
        code, _, log = await stop_by(child, signal.SIGTERM)
        await slack.close()
    assert code == 0, log
    assert health.status_code == 200, log
    assert scraped.status_code == 200, log
    # Unsigned Slack events have no door in Socket Mode.
    assert events.status_code in (404, 405)
    assert [a.get("envelope_id") for a in slack.acks] == ["env-1"]
    assert metric(scraped.text, "startjobs_ack_duration_seconds_count", kind="slash_command") == 1
    assert metric(scraped.text, "startjobs_slack_api_calls_total", method="auth.test") == 1
    assert "startjobs_work_items_waiting" in scraped.text
    assert "startjobs_followups_in_progress" in scraped.text


async def test_json_log_lines_carry_the_request_and_no_secret(tmp_path: Path) -> None:
    async with ProcessHarness(tmp_path, STARTJOBS_LOG_FORMAT="json") as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "dev", [ORDERS, CUSTOMERS])  # starts on submit
        rid = h.request_id(msg)
        await h.wait(lambda: bool(outcome_replies(h, msg)))
        await asyncio.sleep(0.5)  # the follow-up's first rounds
    text = h.log_path.read_text("utf-8")
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries, text
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    starts = [e for e in entries if e["message"].startswith("drs batch-starting")]
    assert starts, text
    for entry in starts:
        assert entry["request_id"] == rid, entry
        assert entry["project"] == "dev", entry
        assert entry["drs_request_id"] and entry["drs_request_id"] in entry["message"], entry
    # The follow-up's rounds (their own tasks) name the request too.
    statuses = [e for e in entries if e["message"].startswith("drs batch-status")]
    assert statuses, text
    assert all(e.get("request_id") == rid and e.get("project") == "dev" for e in statuses)
    ours = [e for e in entries if e.get("request_id") == rid]
    assert all(e.get("project") in (None, "dev") for e in ours)
    for secret in (BOT_TOKEN, SIGNING_SECRET, DEFAULT_SK):
        assert secret not in text

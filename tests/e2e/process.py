"""The real bot as a child process (``python -m bot``), for tests that kill it.

:class:`ProcessHarness` is the end-to-end :class:`~tests.e2e.harness.Harness` with the bot
moved out of the test process: the DRS simulator and the fake Slack still run on the test's
event loop, while the bot reads its settings from the environment and a TOML policy file exactly
as in production, and can be killed with SIGKILL (by a failpoint or by the test) and started
again on the same database. The test talks to it only over loopback HTTP and reads its database
read-only (the SQLite file, or with ``STARTJOBS_TEST_DATABASE=postgres`` its PostgreSQL
database: :mod:`tests.e2e.backend`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.stack import Child, child_env, free_port, policy_toml
from bot.devkit.sim.driver import DriverResponse, SlackDriver
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_SK
from bot.devkit.sim.slack_model import FakeMessage
from bot.slack.ui.ids import ActionId, BlockId, CallbackId
from tests.e2e.backend import database_env, query_postgres
from tests.e2e.harness import ALICE, BOB, CHANNEL, SIGNING_SECRET, Harness, policy_data

BOT_TOKEN = "xoxb-fake-token"  # the fake Slack's default bot token


class BotProcess(Child):
    """One ``python -m bot`` process; its output (the log) goes to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "bot", "--env-file", os.devnull], env, log_path)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    async def wait_healthy(self, timeout: float = 20.0) -> None:
        """Return once ``GET /healthz`` answers 200; fail if the process dies first."""
        try:
            await self.wait_http(f"{self.url}/healthz", timeout)
        except RuntimeError as exc:
            raise AssertionError(str(exc)) from exc

    async def wait_exit(self, timeout: float = 10.0) -> int:
        """The exit code once the process has ended (-9: killed by SIGKILL).

        Polls instead of blocking, so the simulator and the fake Slack on this event loop
        keep answering the process until it dies.
        """
        deadline = time.monotonic() + timeout
        while (code := self.returncode) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot is still running:\n{self.log_tail()}")
            await asyncio.sleep(0.02)
        return code

    async def kill(self) -> int:
        """SIGKILL, as a power cut or the OOM killer would stop it."""
        if self.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        return await self.wait_exit()


class ProcessHarness(Harness):
    """The end-to-end harness with the bot as a child process; see the module docstring.

    ``start_bot`` starts a process, with ``STARTJOBS_FAILPOINT`` set to :attr:`failpoint`
    unless that is None; ``stop_bot`` kills it. ``env`` adds or overrides environment
    variables. ``h.b`` (the in-process bot) is not available.
    """

    def __init__(
        self,
        tmp: Path,
        *,
        failpoint: str | None = None,
        projects: Callable[[dict[str, Any]], None] | None = None,
        **env: str,
    ) -> None:
        super().__init__(tmp)
        self.edit_projects = projects  # changes the policy's projects before they are written
        self.failpoint = failpoint
        self.extra_env = env
        # A test that gives the bot a database URL of its own reads that database.
        self.database_url = env.get("STARTJOBS_DATABASE_URL", self.database_url)
        self.process: BotProcess | None = None
        self.config_path = tmp / "startjobs.toml"
        self.log_path = tmp / "bot.log"

    async def __aenter__(self) -> ProcessHarness:
        await super().__aenter__()
        return self

    def env(self) -> dict[str, str]:
        # Only what the interpreter needs from outside: the bot must read nothing else.
        env = child_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=self.slack.url,
            PORT=str(free_port()),
            STARTJOBS_CONFIG=str(self.config_path),
            **database_env(self.db_path),
            HUAWEICLOUD_SDK_AK=DEFAULT_AK,
            HUAWEICLOUD_SDK_SK=DEFAULT_SK,
            STARTJOBS_RECOVERY_GRACE="0.5",
            STARTJOBS_MAINTENANCE_INTERVAL="0.2",
            STARTJOBS_FOLLOWUP_INTERVAL="0.3",
            STARTJOBS_FOLLOWUP_MAX="30",
        )
        env.update(self.extra_env)
        if self.failpoint is not None:
            env["STARTJOBS_FAILPOINT"] = self.failpoint
        return env

    async def start_bot(self, sim_url: str | None = None) -> None:
        sim_url = sim_url or self.sim.url
        projects = policy_data(sim_url.rstrip("/"))["projects"]
        if self.edit_projects is not None:
            self.edit_projects(projects)
        self.config_path.write_text(policy_toml(projects), "utf-8")
        self.process = BotProcess(self.env(), self.log_path)
        try:
            await self.process.wait_healthy()
        except BaseException:
            await self.process.kill()  # never leave a half-started bot behind
            raise
        self.url = self.process.url
        self.driver = SlackDriver(
            events_url=f"{self.url}/slack/events", signing_secret=SIGNING_SECRET, fake=self.slack
        )

    async def stop_bot(self) -> None:
        if self.driver is not None:
            await self.driver.aclose()
            self.driver = None
        if self.process is not None:
            await self.process.kill()
            self.process = None

    async def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """As :meth:`Harness.wait`; a timeout shows the end of the bot's log."""
        try:
            await super().wait(predicate, timeout)
        except TimeoutError as exc:
            tail = self.process.log_tail() if self.process is not None else self.log_path.name
            raise AssertionError(f"{exc}; the bot's log ends:\n{tail}") from exc

    @property
    def p(self) -> BotProcess:
        assert self.process is not None
        return self.process

    # -- the bot's database, read-only ----------------------------------------------------------

    def query(self, sql: str, *params: object) -> Sequence[Mapping[str, Any]]:
        """Rows from the bot's database, opened read-only (the bot may be running); ``sql``
        as SQLite takes it (``?`` placeholders), run as it is on PostgreSQL too."""
        if self.database_url is not None:
            return query_postgres(self.database_url, sql, params)
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5.0)
        try:
            db.row_factory = sqlite3.Row
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def request_row(self, request_id: str) -> Mapping[str, Any]:
        rows = self.query("SELECT * FROM requests WHERE id = ?", request_id)
        assert rows, f"request {request_id} is not in the database"
        return rows[0]

    def start_states(self, request_id: str) -> list[str]:
        rows = self.query(
            "SELECT state FROM starts WHERE request_id = ? ORDER BY attempt", request_id
        )
        return [str(r["state"]) for r in rows]

    def channel_messages(self) -> int:
        return len(self.slack.messages(CHANNEL))


# -- the flow, for either harness ---------------------------------------------------------------


def open_view(h: Harness, user: str, callback: CallbackId) -> str | None:
    """The id of the last still-open modal ``callback`` the bot opened for ``user``."""
    for v in reversed(h.slack.views()):
        if v.user == user and v.callback_id == callback.value and not v.closed:
            return v.id
    return None


async def approve(
    h: Harness, request_id: str, message: FakeMessage, *, approver: str = BOB
) -> DriverResponse | None:
    """Click Approve on the request message and submit the approve modal.

    Returns the bot's answer to the submission, or None when the connection broke before an
    answer came (the process died while handling it).
    """
    clicked = await h.d.click(
        approver,
        action_id=ActionId.APPROVE.value,
        value=request_id,
        channel=CHANNEL,
        message_ts=message.ts,
    )
    assert clicked.ok, clicked
    await h.wait(lambda: open_view(h, approver, CallbackId.APPROVE) is not None)
    view_id = open_view(h, approver, CallbackId.APPROVE)
    assert view_id is not None
    values = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "checked, go"}}
    try:
        return await h.d.submit_view(approver, view_id, values)
    except httpx.TransportError:
        return None


def mentions(h: Harness, message: FakeMessage, user: str = ALICE) -> list[FakeMessage]:
    """Replies in ``message``'s thread that mention ``user`` (text or blocks)."""
    tag = f"<@{user}>"
    return [r for r in h.thread(message) if tag in r.text or tag in json.dumps(r.blocks)]


def outcome_replies(h: Harness, message: FakeMessage, user: str = ALICE) -> list[FakeMessage]:
    """The outcome replies in the thread: every reply but the settled notice (which, alone,
    mentions the requester)."""
    tag = f"<@{user}>"
    return [r for r in h.thread(message) if tag not in r.text and tag not in json.dumps(r.blocks)]


def job_lines(message: FakeMessage) -> dict[str, str]:
    """Each job's line in an outcome message, by job id (ids are shown as code spans)."""
    lines: dict[str, str] = {}
    for block in message.blocks:
        text = (block.get("text") or {}).get("text", "")
        for line in str(text).splitlines():
            if line.count("`") >= 2:
                job_id = line.split("`")[1]
                lines.setdefault(job_id, line)
    return lines


def shown_started(line: str) -> bool:
    """True when an outcome line shows its job as started (or scheduled)."""
    return not any(word in line for word in ("did not start", "outcome unknown", "not sent"))

"""The whole bot over real HTTP on loopback: DRS simulator, fake Slack, the bot, a driver.

``async with Harness(tmp_path) as h:`` starts everything on the test's event loop; ``h.driver``
sends signed Slack requests into the bot, ``h.slack`` shows what a person would see, ``h.sim``
what DRS did. With ``STARTJOBS_TEST_DATABASE=postgres`` the bot runs on a PostgreSQL database of
its own instead of the SQLite file at ``db_path`` (:mod:`tests.e2e.backend`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot, bound_url, build_bot, serve_http
from bot.config import AkSk, Settings
from bot.config.database import DatabaseSettings
from bot.core.policy_file import load_policy
from bot.core.secret import Secret
from bot.devkit.sim.driver import DriverResponse, SlackDriver
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DrsSimulator
from bot.devkit.sim.slack import FakeSlack
from bot.devkit.sim.slack_model import FakeMessage, FakeUser
from bot.service.model import Tuning
from bot.slack.scopes import BOT_SCOPES
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When
from bot.store import Store
from tests.e2e import backend
from tests.e2e.backend import BlockingStore

SIGNING_SECRET = "e2e-signing-secret-0123456789"
CHANNEL = "C0OPS"
OTHER_CHANNEL = "C0RANDOM"
ALICE, BOB, CAROL, DAVE, MALLORY = "U01ALICE", "U02BOB", "U03CAROL", "U04DAVE", "U09MALLORY"

USERS = {
    ALICE: FakeUser(name="alice", tz="Asia/Shanghai", locale="zh-CN"),
    BOB: FakeUser(name="bob", tz="Europe/Berlin"),
    CAROL: FakeUser(name="carol", tz="America/New_York"),
    DAVE: FakeUser(name="dave"),
    MALLORY: FakeUser(name="mallory"),
}
GROUPS = {"S0DBATEAM": [ALICE, DAVE], "S0DBALEADS": [BOB, CAROL]}


def policy_data(endpoint: str) -> dict[str, Any]:
    common = {
        "region": "cn-north-4",
        "project_id": DEFAULT_PROJECT_ID,
        "endpoint": endpoint,
        "iam_endpoint": endpoint,
        "channels": [CHANNEL],
    }
    return {
        "projects": {
            "prod": {
                **common,
                "requesters": [ALICE, "S0DBATEAM"],
                "approvers": [BOB, "S0DBALEADS"],
                "approval": "two-person",
            },
            "dev": {
                **common,
                "requesters": [ALICE, DAVE],
                "approvers": [BOB],
                "approval": "none",
            },
        }
    }


class Harness:
    def __init__(
        self,
        tmp: Path,
        *,
        tuning: Tuning | None = None,
        sim_kwargs: Mapping[str, Any] | None = None,
        slack_kwargs: Mapping[str, Any] | None = None,
        settings_changes: Mapping[str, Any] | None = None,
        db_path: Path | None = None,
        clock: Callable[[], float] | None = None,
        policy_edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.tmp = tmp
        self.policy_edit = policy_edit
        self.sim = DrsSimulator(start_delay=0.2, lockout_after=None, **(sim_kwargs or {}))
        slack_options: dict[str, Any] = {"scopes": list(BOT_SCOPES), **(slack_kwargs or {})}
        self.slack = FakeSlack(
            users=USERS, usergroups={k: list(v) for k, v in GROUPS.items()}, **slack_options
        )
        self.tuning = tuning or Tuning(followup_interval=0.2, followup_max=10.0, recovery_grace=0.5)
        self.settings_changes = dict(settings_changes or {})
        self.db_path = db_path or tmp / "startjobs.db"
        # PostgreSQL's stand-in for the file at db_path (None: the bot uses that file).
        self.database_url = backend.database_url(self.db_path)
        self.bot_database_url = backend.bot_database_url(self.db_path)  # maybe via PgBouncer
        self.clock = clock
        self.bot: Bot | None = None
        self.driver: SlackDriver | None = None
        self._db: Store | BlockingStore | None = None

    async def __aenter__(self) -> Harness:
        sim_url = await self.sim.start()
        await self.slack.start()
        await self.start_bot(sim_url)
        return self

    async def start_bot(self, sim_url: str | None = None) -> None:
        sim_url = sim_url or self.sim.url
        data = policy_data(sim_url.rstrip("/"))
        if self.policy_edit is not None:
            self.policy_edit(data)  # changes the policy data before it is loaded
        self.policy = load_policy(data)
        settings = Settings(
            slack_bot_token=Secret("xoxb-fake-token"),
            slack_signing_secret=Secret(SIGNING_SECRET),
            slack_app_token=None,
            slack_api_url=self.slack.url,
            port=0,
            config_path=self.tmp / "startjobs.toml",
            db_path=str(self.db_path),
            credentials=AkSk(Secret(DEFAULT_AK), Secret(DEFAULT_SK)),
        )
        if self.bot_database_url is not None:
            database = DatabaseSettings(path=str(self.db_path), url=Secret(self.bot_database_url))
            settings = replace(settings, database=database)
        settings = replace(settings, **self.settings_changes)
        kwargs: dict[str, Any] = {"tuning": self.tuning, "maintenance_every": 0.2}
        if self.clock is not None:
            kwargs["clock"] = self.clock
        self.bot = build_bot(settings, self.policy, **kwargs)
        await self.bot.start_background()
        self.runner = await serve_http(self.bot, host="127.0.0.1", port=0)
        self.url = bound_url(self.runner)
        self.driver = SlackDriver(
            events_url=f"{self.url}/slack/events", signing_secret=SIGNING_SECRET, fake=self.slack
        )

    async def stop_bot(self) -> None:
        if self.driver is not None:
            await self.driver.aclose()
        if self.bot is not None:
            await self.runner.cleanup()
            await self.bot.aclose()
        self.bot = None
        self.driver = None

    async def __aexit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.close()
        await self.stop_bot()
        await self.slack.stop()
        await self.sim.stop()

    # -- conveniences -------------------------------------------------------------------------

    @property
    def d(self) -> SlackDriver:
        assert self.driver is not None
        return self.driver

    @property
    def b(self) -> Bot:
        assert self.bot is not None
        return self.bot

    @property
    def db(self) -> Store:
        """The bot's database read through a connection of the test's own, as another
        program would see it (only what the bot committed): a SQLite :class:`Store`, or on
        PostgreSQL a :class:`BlockingStore` with the same methods."""
        if self._db is None:
            if self.database_url is None:
                self._db = Store(self.db_path)
            else:
                self._db = BlockingStore(self.database_url)
        return self._db  # type: ignore[return-value]  # the same methods either way

    async def open_modal(self, user: str, text: str = "", channel: str = CHANNEL) -> str:
        """Run the slash command and return the id of the new start modal once it is filled."""
        before = {v.id for v in self.slack.views()}
        resp = await self.d.slash(user, channel, text)
        assert resp.ok, resp
        await self.slack.wait_for(lambda: self._start_view(user, before) is not None)
        view = self._start_view(user, before)
        assert view is not None
        return view

    def _start_view(self, user: str, before: set[str]) -> str | None:
        for v in reversed(self.slack.views()):
            if (
                v.user == user
                and v.id not in before
                and v.view.get("callback_id") == CallbackId.START.value
            ):
                return str(v.id)
        return None

    async def submit_start(
        self,
        user: str,
        view_id: str,
        *,
        project: str,
        job_ids: list[str] | str,
        reason: str = "CHG-42 cut-over",
        start_at: int | None = None,
    ) -> DriverResponse:
        text = job_ids if isinstance(job_ids, str) else "\n".join(job_ids)
        values: dict[str, dict[str, object]] = {
            BlockId.PROJECT.value: {ActionId.PROJECT.value: project},
            BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: text},
            BlockId.WHEN.value: {
                ActionId.WHEN.value: When.AT.value if start_at else When.NOW.value
            },
            BlockId.REASON.value: {ActionId.REASON.value: reason},
        }
        if start_at is not None:
            values[BlockId.START_AT.value] = {ActionId.START_AT.value: start_at}
        return await self.d.submit_view(user, view_id, values)

    async def request(
        self, user: str, project: str, job_ids: list[str], *, within: float = 5.0, **kw: Any
    ) -> tuple[DriverResponse, FakeMessage]:
        """Make a request through the modal; return the ack and the request message, posted
        ``within`` seconds."""
        before = len(self.slack.messages(CHANNEL))
        view_id = await self.open_modal(user)
        resp = await self.submit_start(user, view_id, project=project, job_ids=job_ids, **kw)
        await self.slack.wait_for(lambda: len(self.slack.messages(CHANNEL)) > before, within)
        return resp, self.slack.messages(CHANNEL)[-1]

    def request_id(self, message: FakeMessage) -> str:
        for block in message.blocks:
            for el in block.get("elements", []) if block.get("type") == "actions" else []:
                if el.get("value"):
                    return str(el["value"])
        rows = self.db.recent(CHANNEL, limit=1)
        return rows[0].id

    def thread(self, message: FakeMessage) -> list[FakeMessage]:
        return self.slack.thread(CHANNEL, message.ts)

    async def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        await self.slack.wait_for(predicate, timeout=timeout)

    async def settle(self) -> None:
        await self.b.service.tasks.drain(10.0)
        await asyncio.sleep(0)

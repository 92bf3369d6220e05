"""The world ``startjobs demo`` runs in: the real bot, a DRS simulator and a fake Slack.

Everything listens on 127.0.0.1 with ports the OS picks and needs no account anywhere. The
bot is built by :func:`bot.bootstrap.build_bot` and served by
:func:`bot.bootstrap.serve_http` exactly as in production; only its endpoints (the fake
Slack Web API, the simulator) and its timing (a follow-up every second) differ. The
workspace has four people and one channel:

- ``alice`` requests (member of the user group ``dba-team``),
- ``bob`` approves (named in the policy, and in ``dba-leads``),
- ``carol`` approves (through ``dba-leads`` only),
- ``mallory`` is in the channel but in no policy at all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.bootstrap import Bot, bound_url, build_bot, serve_http
from bot.config import AkSk, Settings, load_policy_file
from bot.core.policy import Policy
from bot.core.request import RequestState
from bot.core.secret import Secret
from bot.devkit.lifecycle import AsyncService
from bot.devkit.sim.driver import SlackDriver
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DrsSimulator
from bot.devkit.sim.drs_jobs import CONFIGURATION, FULL_TRANSFER_STARTED, INCRE_TRANSFER_STARTED
from bot.devkit.sim.slack import FakeChannel, FakeSlack, FakeUser
from bot.service.model import Tuning

CHANNEL = "C0OPS"
CHANNEL_NAME = "ops"
BOT_USER = "U0BOT"
REGION = "cn-north-4"


@dataclass(frozen=True)
class ApprovedJob:
    """A job of an approved request: its outcome (None until known) and scheduled start."""

    request_id: str
    job_id: str
    outcome: str | None
    start_at: float | None  # epoch seconds; None = start now


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    tz: str
    role: str


PEOPLE: tuple[Person, ...] = (
    Person("U01ALICE", "alice", "Europe/Berlin", "requester in prod and sandbox (group dba-team)"),
    Person("U02BOB", "bob", "Asia/Singapore", "approver in prod and sandbox"),
    Person(
        "U03CAROL",
        "carol",
        "America/New_York",
        "approver in prod (group dba-leads), requester in reports (in a change freeze)",
    ),
    Person("U09MALLORY", "mallory", "UTC", "in #ops, but in no project of the policy"),
)
GROUPS: dict[str, tuple[str, list[str]]] = {
    "S0DBATEAM": ("dba-team", ["U01ALICE"]),
    "S0DBALEADS": ("dba-leads", ["U02BOB", "U03CAROL"]),
}

# More startable tasks beside the simulator's own demo set, with fixed ids so that the
# walk-through and the docs can name them; `--name 'mig-shop-*'` (the README's and the help's
# example) selects them. (id, name)
EXTRA_JOBS: tuple[tuple[str, str], ...] = (
    ("c5a7e1d3-2f9b-4d6a-8e1c-7b3d9f5ajb11", "mig-shop-inventory"),
    ("e8b2d6f4-5a1c-4e7b-9d3f-2c8a6e4bjb12", "mig-shop-invoices"),
    ("f1c9a3e7-6d2b-4a8f-b5e9-3d7c1a9ejb13", "mig-shop-shipping"),
)

STARTED_STATUSES = frozenset({FULL_TRANSFER_STARTED, INCRE_TRANSFER_STARTED})
_APPROVED_STATES = frozenset(
    {
        RequestState.APPROVED,
        RequestState.STARTING,
        RequestState.DONE,
        RequestState.FAILED,
        RequestState.UNKNOWN,
    }
)


def policy_toml(drs_url: str) -> str:
    """The access policy the demo serves, as the TOML an operator would write."""
    common = (
        f'region = "{REGION}"\n'
        f'project_id = "{DEFAULT_PROJECT_ID}"\n'
        f'endpoint = "{drs_url}"\n'
        f'iam_endpoint = "{drs_url}"\n'
        f'channels = ["{CHANNEL}"]\n'
    )
    return (
        "# startjobs demo policy: three projects on the local DRS simulator.\n\n"
        "[projects.prod]\n"
        f"{common}"
        'requesters = ["S0DBATEAM"]             # dba-team: alice\n'
        'approvers = ["U02BOB", "S0DBALEADS"]   # bob, and dba-leads: bob, carol\n'
        'approval = "two-person"\n\n'
        "[projects.sandbox]\n"
        f"{common}"
        'requesters = ["U01ALICE"]\n'
        'approvers = ["U02BOB"]\n'
        'approval = "none"                      # the requester\'s submit starts it\n\n'
        "[projects.reports]\n"
        f"{common}"
        'requesters = ["U03CAROL"]\n'
        'approvers = ["U02BOB"]\n\n'
        "# A change freeze on reports, open every day all day: no start there (and no override).\n"
        "[[freeze]]\n"
        'name = "month-end close"\n'
        'schedule = "0 0 * * *"                 # opens daily at midnight...\n'
        'duration = "1d"                        # ...for a whole day\n'
        'timezone = "Asia/Shanghai"\n'
        'projects = ["reports"]\n'
        'reason = "CHG-2000: finance closes the books"\n'
    )


class DemoWorld(AsyncService):
    """Starts and stops the simulator, the fake Slack and the bot, on the running loop.

    ``async with DemoWorld(workdir) as world:`` — then ``world.driver`` plays Slack's part,
    ``world.slack`` holds what people see and ``world.sim`` what DRS did.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        db_path: Path | None = None,
        start_delay: float = 3.0,
        followup_interval: float = 1.0,
    ) -> None:
        self.workdir = workdir
        self.db_path = db_path or workdir / "startjobs.db"
        self.policy_path = workdir / "startjobs.toml"
        # Made up per run: the fake Slack accepts this token and this signing secret only.
        self._bot_token = Secret("xoxb-demo-" + secrets.token_hex(12))
        self._signing_secret = Secret(secrets.token_hex(16))
        self._followup_interval = followup_interval
        self.sim_start_delay = start_delay
        self.sim = DrsSimulator(start_delay=start_delay, lockout_after=None)
        self.slack = FakeSlack(
            bot_user_id=BOT_USER,
            bot_token=self._bot_token,
            users={p.id: FakeUser(name=p.name, real_name=p.name.title(), tz=p.tz) for p in PEOPLE},
            usergroups={gid: members for gid, (_, members) in GROUPS.items()},
            channels={
                CHANNEL: FakeChannel(name=CHANNEL_NAME, members=(BOT_USER, *(p.id for p in PEOPLE)))
            },
        )
        self.policy: Policy | None = None
        self._bot: Bot | None = None
        self._driver: SlackDriver | None = None
        self._runner: web.AppRunner | None = None

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("the demo world is not started")
        return self._bot

    @property
    def driver(self) -> SlackDriver:
        if self._driver is None:
            raise RuntimeError("the demo world is not started")
        return self._driver

    @property
    def secrets(self) -> list[str]:
        """Values that must never be printed (for the log redactor)."""
        return [self._bot_token.reveal(), self._signing_secret.reveal(), DEFAULT_SK]

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        sim_url = await self.sim.start()
        self.sim.seed_demo()
        for job_id, name in EXTRA_JOBS:
            if not any(j.id == job_id for j in self.sim.jobs()):
                self.sim.add_job(job_id, name=name, status=CONFIGURATION)
        await self.slack.start()
        self.policy_path.write_text(policy_toml(sim_url), encoding="utf-8")
        self.policy = load_policy_file(self.policy_path)
        settings = Settings(
            slack_bot_token=self._bot_token,
            slack_signing_secret=self._signing_secret,
            slack_app_token=None,
            slack_api_url=self.slack.url,
            port=0,
            config_path=self.policy_path,
            db_path=str(self.db_path),
            credentials=AkSk(Secret(DEFAULT_AK), Secret(DEFAULT_SK)),
        )
        tuning = Tuning(
            followup_interval=self._followup_interval,
            followup_max=600.0,
            recovery_grace=30.0,
            user_requests_per_minute=30,
        )
        self._bot = build_bot(settings, self.policy, tuning=tuning, maintenance_every=0.25)
        await self._bot.start_background()
        self._runner = await serve_http(self._bot, host="127.0.0.1", port=0)
        self._driver = SlackDriver(
            events_url=f"{bound_url(self._runner)}/slack/events",
            signing_secret=self._signing_secret,
            fake=self.slack,
        )

    async def stop(self) -> None:
        """Stop everything that was started (safe after a failed start)."""
        if self._driver is not None:
            await self._driver.aclose()
            self._driver = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._bot is not None:
            await self._bot.aclose()
            self._bot = None
        await self.slack.stop()
        await self.sim.stop()

    # -- who is who -----------------------------------------------------------------------------

    @staticmethod
    def person(name: str) -> Person | None:
        wanted = name.strip().lstrip("@").lower()
        return next((p for p in PEOPLE if p.name == wanted), None)

    @staticmethod
    def names() -> dict[str, str]:
        """User and group ids -> the names people know them by."""
        out = {p.id: p.name for p in PEOPLE}
        out.update({gid: name for gid, (name, _) in GROUPS.items()})
        out[BOT_USER] = "startjobs"
        return out

    # -- the end-of-script check ----------------------------------------------------------------

    async def approved_jobs(self, since: float) -> list[ApprovedJob]:
        """Every job of the requests made at or after ``since`` (epoch seconds) and approved."""
        out: list[ApprovedJob] = []
        for req in await self.bot.store.recent(CHANNEL, limit=10_000):
            if req.created_at >= since and req.state in _APPROVED_STATES:
                start_at = req.start_time_ms / 1000 if req.start_time_ms is not None else None
                out += [
                    ApprovedJob(req.id, j.job_id, j.outcome.value if j.outcome else None, start_at)
                    for j in req.jobs
                ]
        return out

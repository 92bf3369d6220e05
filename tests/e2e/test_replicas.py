"""Three ``python -m bot`` replicas on one PostgreSQL database, in HTTP mode, as behind a
load balancer: the test sends Slack's requests round-robin to the three processes, which share
one fake Slack and one DRS simulator.

* Fifty approvals of one request at once, spread over the replicas: one wins, DRS is asked to
  start each job once, the other 49 approvers are told it was already approved, and the
  thread shows one outcome.
* The replica sending a start is killed (SIGKILL) while DRS takes 3 s to answer: another one
  takes the start over once its lease has expired, asks DRS instead of sending again, and
  posts the outcome; the time from the kill to the outcome in the thread is printed.
* PostgreSQL stopped for 10 s in the middle of traffic: every submission the bot accepted is
  stored and posted once it is back, every one made while it was down is answered in time
  with a field error saying to try again, ``/healthz`` says 503 meanwhile and 200 after, and
  the background work goes on by itself.

Run by the PostgreSQL end-to-end runs (``STARTJOBS_TEST_DATABASE=postgres`` or ``pgbouncer``;
CI runs both), skipped in the default one; skipped, with the reason, when no PostgreSQL server
binaries are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from bench.stack import free_port
from bot.devkit.sim.driver import DriverResponse, SlackDriver
from bot.devkit.sim.drs_faults import Fault
from bot.devkit.sim.slack_model import FakeMessage, FakeUser
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When
from tests.e2e.harness import ALICE, BOB, CAROL, CHANNEL, SIGNING_SECRET
from tests.e2e.process import BotProcess, ProcessHarness, outcome_replies
from tests.pg_support import PgCluster

# Run by the PostgreSQL end-to-end runs (directly and behind PgBouncer), not the default one.
pytestmark = pytest.mark.postgres_e2e("three replicas on one PostgreSQL database")

LEASE = 3.0  # STARTJOBS_LEASE_SECONDS in these tests (the default is 15)
ENV = {
    "STARTJOBS_LEASE_SECONDS": str(LEASE),
    "STARTJOBS_RECOVERY_GRACE": "0.5",
    "STARTJOBS_MAINTENANCE_INTERVAL": "0.2",
    "STARTJOBS_USER_REQUESTS_PER_MINUTE": "1000",
    "STARTJOBS_DB_POOL_MAX": "8",
    "STARTJOBS_DB_CONNECT_TIMEOUT": "1",
}


# -- three replicas -------------------------------------------------------------------------


@dataclass
class Replicas:
    """The harness's own process (replica 0) and two more with the same settings on their
    own ports; :meth:`d` gives the driver of replica ``i % 3``."""

    h: ProcessHarness
    url: str  # the PostgreSQL database
    procs: list[BotProcess]
    drivers: list[SlackDriver] = field(default_factory=list)

    def d(self, i: int) -> SlackDriver:
        return self.drivers[i % len(self.drivers)]

    def rows(self, sql: str, *params: object) -> list[dict[str, Any]]:
        """Rows of the bot's database, read through a connection of the test's own."""
        with psycopg.connect(self.url, row_factory=dict_row, connect_timeout=3) as db:
            return db.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def start_states(self, rid: str) -> list[str]:
        rows = self.rows("SELECT state FROM starts WHERE request_id = %s ORDER BY attempt", rid)
        return [str(r["state"]) for r in rows]

    def audit_kinds(self, rid: str) -> list[str]:
        rows = self.rows("SELECT kind FROM audit WHERE request_id = %s ORDER BY id", rid)
        return [str(r["kind"]) for r in rows]

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.log_tail(40)}" for p in self.procs)

    async def until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``predicate`` (which may read the database) every 0.1 s."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def health(self, i: int) -> tuple[int, float]:
        began = time.monotonic()
        async with httpx.AsyncClient() as client:
            try:
                resp = await client.get(f"{self.procs[i].url}/healthz", timeout=5)
            except httpx.TimeoutException:
                return 0, time.monotonic() - began
        return resp.status_code, time.monotonic() - began


@contextlib.asynccontextmanager
async def three_replicas(
    tmp_path: Path, pg_url: str, *, failpoint_of_1: str | None = None, **env: str
) -> AsyncIterator[Replicas]:
    """``failpoint_of_1``: replica 1 kills itself there (``STARTJOBS_FAILPOINT``)."""
    async with ProcessHarness(tmp_path, STARTJOBS_DATABASE_URL=pg_url, **{**ENV, **env}) as h:
        # The first process has migrated the database; the other two start on it.
        failpoints = {1: failpoint_of_1} if failpoint_of_1 else {}
        others = [
            BotProcess(
                {
                    **h.env(),
                    "PORT": str(free_port()),
                    **({"STARTJOBS_FAILPOINT": failpoints[i]} if i in failpoints else {}),
                },
                tmp_path / f"replica{i}.log",
            )
            for i in (1, 2)
        ]
        r = Replicas(h, pg_url, [h.p, *others])
        try:
            await asyncio.gather(*(p.wait_healthy() for p in others))
            r.drivers = [h.d] + [
                SlackDriver(
                    events_url=f"{p.url}/slack/events", signing_secret=SIGNING_SECRET, fake=h.slack
                )
                for p in others
            ]
            yield r
        finally:
            for d in r.drivers[1:]:
                await d.aclose()
            for p in others:
                await p.kill()


# -- the flow over a chosen replica -----------------------------------------------------------


async def request_message(r: Replicas, jobs: list[str], *, project: str = "prod") -> str:
    """A request made (through replica 0) and posted; its id once stored with its message."""
    resp, message = await r.h.request(ALICE, project, jobs)
    assert resp.ok and resp.json is None, resp
    rid = r.h.request_id(message)
    await r.until(
        lambda: bool(r.rows("SELECT 1 FROM requests WHERE id = %s AND message_ts = %s", rid,
                            message.ts)),
        10.0,
        "the request message stored",
    )  # fmt: skip
    return rid


def message_of(r: Replicas, rid: str) -> FakeMessage:
    ts = str(r.rows("SELECT message_ts FROM requests WHERE id = %s", rid)[0]["message_ts"])
    message = r.h.slack.message(CHANNEL, ts)
    assert message is not None
    return message


async def open_approve_form(
    r: Replicas, i: int, approver: str, rid: str, message: FakeMessage, *, within: float = 5.0
) -> str | None:
    """Click Approve through replica ``i``; the id of the form it opened (None: not opened
    ``within`` seconds)."""
    before = {v.id for v in r.h.slack.views()}
    clicked = await r.d(i).click(
        approver,
        action_id=ActionId.APPROVE.value,
        value=rid,
        channel=CHANNEL,
        message_ts=message.ts,
    )
    assert clicked.ok, clicked

    def opened() -> str | None:
        for v in r.h.slack.views():
            if (
                v.id not in before
                and v.user == approver
                and v.callback_id == CallbackId.APPROVE.value
                and not v.closed
            ):
                return v.id
        return None

    with contextlib.suppress(TimeoutError):
        await r.h.slack.wait_for(lambda: opened() is not None, within)
    return opened()


COMMENT = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "checked, go"}}


def batch_starts(r: Replicas, job: str) -> int:
    """batch-starting calls the simulator recorded that named ``job`` (an unanswered call, as
    one cut by a kill, is not recorded)."""
    return sum(1 for c in r.h.sim.calls if c.endpoint == "batch-starting" and job in c.job_ids)


def said(resp: DriverResponse) -> str:
    return json.dumps(resp.json) if resp.json is not None else resp.text


# -- 1. fifty approvals at once ---------------------------------------------------------------


async def fifty_approvals_start_once(r: Replicas, name: str) -> list[DriverResponse]:
    """Fifty approvers open the approve form of one request and submit it at once, each
    through replica ``i % 3``: one wins, 49 are told it was already approved, each job is
    started once and the thread shows one outcome. The answers, in the approvers' order."""
    h = r.h
    approvers = [f"U7APPR{i:02d}" for i in range(48)] + [BOB, CAROL]
    people = h.slack.workspace.people
    assert people.users is not None
    for user in approvers[:48]:
        people.users[user] = FakeUser(name=user.lower())
    h.slack.set_usergroup("S0DBALEADS", approvers)
    jobs = [h.sim.add_job(name=f"{name}-{i}") for i in range(3)]
    rid = await request_message(r, jobs)
    message = message_of(r, rid)

    forms = await asyncio.gather(
        *(open_approve_form(r, i, u, rid, message) for i, u in enumerate(approvers))
    )
    assert all(forms), [u for u, f in zip(approvers, forms, strict=True) if not f]
    answers = await asyncio.gather(
        *(
            r.d(i).submit_view(user, form, COMMENT)
            for i, (user, form) in enumerate(zip(approvers, forms, strict=True))
            if form is not None
        )
    )
    assert all(a.ok for a in answers), [a for a in answers if not a.ok]
    slowest = max(a.elapsed for a in answers)
    print(f"\n50 approvals over 3 replicas ({name}): slowest answer {slowest:.2f} s")
    assert not any(a.late for a in answers), slowest
    won = [a for a in answers if a.json is None]  # the form closed: approved
    lost = [a for a in answers if a.json is not None]
    assert len(won) == 1, [said(a) for a in answers]
    assert len(lost) == 49
    for a in lost:
        assert a.json is not None and a.json.get("response_action") == "update", said(a)
        assert "was already approved" in said(a), said(a)

    await h.wait(lambda: len(outcome_replies(h, message)) >= 1, 15.0)
    await r.until(lambda: r.start_states(rid) == ["posted"], 10.0, "start posted")
    await asyncio.sleep(1.0)  # several maintenance rounds on every replica
    for job in jobs:
        assert batch_starts(r, job) == 1, job
        assert h.sim.job(job).status != "CONFIGURATION", job
    assert r.audit_kinds(rid).count("approved") == 1
    assert len(outcome_replies(h, message)) == 1, [m.text for m in h.thread(message)]
    assert r.rows("SELECT state FROM requests WHERE id = %s", rid)[0]["state"] in (
        "done",
        "starting",
    )
    return list(answers)


async def test_fifty_approvals_over_three_replicas_start_once(tmp_path: Path, pg_url: str) -> None:
    async with three_replicas(tmp_path, pg_url) as r:
        await fifty_approvals_start_once(r, "mig-race")


# -- 2. the sender killed mid-call ---------------------------------------------------------


async def killed_sender_is_taken_over(r: Replicas, sender: int, name: str) -> float:
    """The approval of a three-job request goes through replica ``sender``, which marks the
    start sent; DRS starts the jobs but takes 3 s to answer, and the sender is killed while it
    waits. Another replica takes the start over once the lease expired, asks DRS instead of
    sending again, and posts the outcome: each job started once, all started, one takeover.
    The seconds from the kill to the outcome in the thread."""
    h = r.h
    jobs = [h.sim.add_job(name=f"{name}-{i}") for i in range(3)]
    rid = await request_message(r, jobs)
    message = message_of(r, rid)
    h.sim.add_fault(
        Fault("batch-starting", "hang", count=1, params={"seconds": 3.0, "processed": True})
    )
    form = await open_approve_form(r, sender, BOB, rid, message)
    assert form is not None
    answer = await r.d(sender).submit_view(BOB, form, COMMENT)
    assert answer.ok and answer.json is None, answer
    await r.until(lambda: r.start_states(rid) == ["sent"], 10.0, "start sent")
    (lease,) = r.rows("SELECT lease_owner, lease_until FROM starts WHERE request_id = %s", rid)
    assert lease["lease_owner"], lease
    await asyncio.sleep(0.3)  # the call is in flight
    killed_at = time.monotonic()
    assert await r.procs[sender].kill() == -9
    await h.wait(lambda: len(outcome_replies(h, message)) >= 1, 20.0)
    took = time.monotonic() - killed_at
    print(f"\n{name}: kill of the sender -> outcome in the thread {took:.2f} s (lease {LEASE} s)")
    await r.until(lambda: r.start_states(rid) == ["posted"], 10.0, "start posted")
    await asyncio.sleep(1.0)
    for job in jobs:
        # The only batch-starting call is the killed sender's, held by the hang (the
        # simulator records it once its 3 s are up); no replica sent another.
        calls = [c for c in h.sim.calls if c.endpoint == "batch-starting" and job in c.job_ids]
        assert [c.fault for c in calls] in ([], ["hang"]), calls
        assert h.sim.job(job).status != "CONFIGURATION", job
    rows = r.rows("SELECT outcome FROM request_jobs WHERE request_id = %s", rid)
    assert [x["outcome"] for x in rows] == ["success"] * 3
    kinds = r.audit_kinds(rid)
    assert kinds.count("taken_over") == 1, kinds
    (reply,) = outcome_replies(h, message)
    assert "did not start" not in json.dumps(reply.blocks)
    assert took < LEASE + 4.0, took
    return took


async def test_a_replica_killed_mid_start_is_taken_over_by_another(
    tmp_path: Path, pg_url: str
) -> None:
    async with three_replicas(tmp_path, pg_url, STARTJOBS_SEND_SETTLE="0") as r:
        await killed_sender_is_taken_over(r, 1, "mig-killed")


# -- 2b. a replica dies between the steps of a start ------------------------------------------

# The defaults (a 15 s lease, maintenance rounds every 5 s) and a recovery grace far longer
# than the test: another replica can only take the work over because its owner is gone.
DEFAULTS = {
    "STARTJOBS_LEASE_SECONDS": "15",
    "STARTJOBS_MAINTENANCE_INTERVAL": "5",
    "STARTJOBS_RECOVERY_GRACE": "600",
}


@pytest.mark.parametrize(
    ("failpoint", "left"),
    [("after_approval", "claimed"), ("after_record", "recorded")],
)
async def test_work_of_a_dead_replica_is_taken_over_within_15_s(
    tmp_path: Path, pg_url: str, failpoint: str, left: str
) -> None:
    """Replica 1 dies right after committing an approval (its start claimed, nothing sent) or
    right after recording DRS's answer (nothing posted). Its ``replicas`` row lapses and a
    live replica finishes the work: each job started once, the outcome in the thread."""
    async with three_replicas(tmp_path, pg_url, failpoint_of_1=failpoint, **DEFAULTS) as r:
        h = r.h
        jobs = [h.sim.add_job(name=f"mig-orphan-{i}") for i in range(2)]
        rid = await request_message(r, jobs)
        message = message_of(r, rid)
        form = await open_approve_form(r, 1, BOB, rid, message)
        assert form is not None
        with contextlib.suppress(httpx.HTTPError):  # the answer may die with the process
            await r.d(1).submit_view(BOB, form, COMMENT)
        assert await r.procs[1].wait_exit() == -9
        killed_at = time.monotonic()
        assert r.start_states(rid) == [left]
        (owner,) = r.rows("SELECT lease_owner FROM starts WHERE request_id = %s", rid)
        assert owner["lease_owner"], owner  # the dead replica's, recorded with the claim
        await h.wait(lambda: len(outcome_replies(h, message)) >= 1, 25.0)
        took = time.monotonic() - killed_at
        print(f"\n{failpoint}: kill -> outcome in the thread {took:.2f} s (defaults)")
        await r.until(lambda: r.start_states(rid) == ["posted"], 10.0, "start posted")
        for job in jobs:
            assert batch_starts(r, job) == 1, job
        assert took <= 15.0 + 2.0, took  # 2/3 of the lease + one round, and the work itself


# -- 3. PostgreSQL stopped in the middle of traffic ----------------------------------------------


@dataclass
class Submission:
    n: int
    replica: int
    job: str
    down: bool  # PostgreSQL was stopped when it was sent
    answer: DriverResponse | None = None

    @property
    def reason(self) -> str:
        return f"CHG-{self.n:03d} traffic"

    @property
    def accepted(self) -> bool:
        a = self.answer
        return (
            a is not None
            and a.status == 200
            and (a.json is None or a.json.get("response_action") != "errors")
        )


async def submit(r: Replicas, sub: Submission) -> None:
    """Open the start form through replica ``sub.replica`` and submit it there."""
    d = r.d(sub.replica)
    before = {v.id for v in r.h.slack.views()}
    resp = await d.slash(ALICE, CHANNEL, "")
    assert resp.ok and not resp.late, (sub, resp)

    def form() -> str | None:
        for v in r.h.slack.views():
            if v.id not in before and v.user == ALICE and v.callback_id == CallbackId.START.value:
                return v.id
        return None

    await r.h.slack.wait_for(lambda: form() is not None, 5.0)
    view_id = form()
    assert view_id is not None
    values = {
        BlockId.PROJECT.value: {ActionId.PROJECT.value: "prod"},
        BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: sub.job},
        BlockId.WHEN.value: {ActionId.WHEN.value: When.NOW.value},
        BlockId.REASON.value: {ActionId.REASON.value: sub.reason},
    }
    sub.answer = await d.submit_view(ALICE, view_id, values)


def posted_with(r: Replicas, sub: Submission) -> list[FakeMessage]:
    """Top-level channel messages of the request ``sub`` made (found by its reason, which the
    message keeps once approved, while its job lines move to the thread)."""
    return [
        m
        for m in r.h.slack.messages(CHANNEL)
        if not m.thread_ts and sub.reason in json.dumps(m.blocks, ensure_ascii=False)
    ]


async def test_postgres_stopped_mid_traffic_loses_nothing_acknowledged(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    async with three_replicas(tmp_path, pg_url) as r:
        h = r.h
        port = pg_cluster.port
        # A request approved just before the stop: its start and outcome are background work.
        early_job = h.sim.add_job(name="mig-before-stop")
        early = await request_message(r, [early_job])
        early_message = message_of(r, early)

        subs: list[Submission] = []
        down = asyncio.Event()
        stop_traffic = asyncio.Event()

        async def traffic() -> None:
            n = 0
            while not stop_traffic.is_set():
                sub = Submission(n, n % 3, h.sim.add_job(name=f"mig-t{n}"), down.is_set())
                subs.append(sub)
                await submit(r, sub)
                n += 1
                await asyncio.sleep(0.2)

        approvals: list[tuple[Submission, bool, DriverResponse | None]] = []

        async def approving() -> None:
            """Bob approves each request as it is posted, through another replica than the
            one it was submitted to."""
            done: set[int] = set()
            while not stop_traffic.is_set():
                ready = [s for s in subs if s.n not in done and s.accepted and posted_with(r, s)]
                if not ready:
                    await asyncio.sleep(0.1)
                    continue
                s = ready[0]
                done.add(s.n)
                was_down = down.is_set()
                (message,) = posted_with(r, s)
                rid = h.request_id(message)
                form = await open_approve_form(r, s.replica + 1, BOB, rid, message, within=2.0)
                answer = None
                if form is not None:
                    answer = await r.d(s.replica + 1).submit_view(BOB, form, COMMENT)
                approvals.append((s, was_down or down.is_set(), answer))

        h.sim.add_fault(
            Fault("batch-starting", "hang", count=1, params={"seconds": 1.5, "processed": True})
        )
        form = await open_approve_form(r, 2, BOB, early, early_message)
        assert form is not None
        assert (await r.d(2).submit_view(BOB, form, COMMENT)).json is None
        running = asyncio.gather(traffic(), approving())
        try:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(pg_cluster.stop)
            stopped_at = time.monotonic()
            down.set()
            # Every replica says so within moments, and answers /healthz in time.
            health_down: list[tuple[int, float]] = []
            for i in range(3):
                deadline = time.monotonic() + 5.0
                while (got := await r.health(i))[0] != 503 and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                health_down.append(got)
            await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - stopped_at)))
            down.clear()
            await asyncio.to_thread(pg_cluster.start)
            restarted_at = time.monotonic()
            assert pg_cluster.port == port  # the same address: the replicas reconnect by themselves
            health_up: list[int] = []
            for i in range(3):
                deadline = time.monotonic() + 10.0
                while (got := await r.health(i))[0] != 200 and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                health_up.append(got[0])
            healthy_after = time.monotonic() - restarted_at
            await asyncio.sleep(1.5)  # traffic goes on on the restored database
        finally:
            stop_traffic.set()
            await running
            if not pg_cluster.running:
                await asyncio.to_thread(pg_cluster.start)
        print(f"\nPostgreSQL back: every /healthz 200 after {healthy_after:.2f} s")
        assert all(s == 503 and took < 3.0 for s, took in health_down), health_down
        assert health_up == [200, 200, 200], health_up

        accepted = [s for s in subs if s.accepted]
        refused = [s for s in subs if not s.accepted]
        print(
            f"{len(subs)} submissions: {len(accepted)} accepted, "
            f"{sum(s.down for s in refused)} refused while down"
        )
        assert any(s.down for s in refused), "no submission was made while the database was down"
        assert sum(not s.down for s in accepted) >= 3
        for s in subs:
            a = s.answer
            assert a is not None and a.status == 200 and not a.late, (s, a)
        for s in refused:
            assert s.answer is not None and s.answer.json is not None
            errors = s.answer.json.get("errors") or {}
            assert any("Try again in a moment" in str(e) for e in errors.values()), said(s.answer)

        # Everything acknowledged is stored, and posted once, with no one touching anything.
        def all_posted() -> bool:
            return all(len(posted_with(r, s)) >= 1 for s in accepted)

        try:
            await r.until(all_posted, 30.0, "every accepted request posted")
        except AssertionError:
            for s in accepted:
                if not posted_with(r, s):
                    rows = r.rows(
                        "SELECT id, state, message_ts FROM requests WHERE reason = %s", s.reason
                    )
                    shown = [
                        (m.text, m.blocks)
                        for row in rows
                        if row["message_ts"]
                        and (m := h.slack.message(CHANNEL, row["message_ts"])) is not None
                    ]
                    print("NOT POSTED", s, rows, shown)
            raise
        for s in accepted:
            rows = r.rows("SELECT id, message_ts FROM requests WHERE reason = %s", s.reason)
            assert len(rows) == 1 and rows[0]["message_ts"], (s, rows)
            assert len(posted_with(r, s)) == 1, s
        for s in refused:
            # "nothing was stored", as the error says
            assert r.rows("SELECT id FROM requests WHERE reason = %s", s.reason) == [], s

        # Every approval acknowledged as done was started and reported; every one refused
        # said why, in the form, in time.
        approved = [(s, a) for s, _, a in approvals if a is not None and a.json is None]
        print(f"{len(approvals)} approvals tried: {len(approved)} done")
        assert len(approved) >= 3, approvals
        for s, _, a in approvals:
            if a is not None and a.json is not None:
                assert a.ok and not a.late, (s, a)
                assert "Try again in a moment" in said(a), said(a)
        for s, _ in approved:
            (message,) = posted_with(r, s)
            await h.wait(lambda m=message: len(outcome_replies(h, m)) >= 1, 30.0)
            assert len(outcome_replies(h, message)) == 1, s
            assert batch_starts(r, s.job) == 1, s

        # The start approved before the stop was finished and reported without help.
        await r.until(lambda: r.start_states(early) == ["posted"], 30.0, "early start posted")
        assert len(outcome_replies(h, early_message)) == 1
        assert batch_starts(r, early_job) <= 1
        assert h.sim.job(early_job).status != "CONFIGURATION"
        # A request made after the restart is approved and started as usual.
        late_job = h.sim.add_job(name="mig-after-restart")
        late = await request_message(r, [late_job])
        late_message = message_of(r, late)
        form = await open_approve_form(r, 1, CAROL, late, late_message)
        assert form is not None
        assert (await r.d(1).submit_view(CAROL, form, COMMENT)).json is None
        await h.wait(lambda: len(outcome_replies(h, late_message)) >= 1, 15.0)
        assert batch_starts(r, late_job) == 1

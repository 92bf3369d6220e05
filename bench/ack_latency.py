"""Ack latency under load: the bot's answers to Slack, next to a Bolt app that only acks.

The bot runs as deployed (``python -m bot``, its own process); the DRS simulator runs in
another process and answers every call after ``--drs-latency`` (1 s); the fake Slack Web API
answers after ``--slack-latency`` (300 ms) and lives, with the Slack driver that builds the
requests, in this one; ``bench/firer.py``, a process of its own, sends them and times the
answers.

Load: ``S`` concurrent senders (1, 10, 50), each a Slack user, send in bursts: every sender
sends one request at the same moment, and the next burst follows once every answer of the
last one is in and ``S / --rate`` seconds have passed since it began. Every level thus sends
the same ``--rate`` requests per second (50) on average, in ever larger simultaneous bursts.
Four phases per level, ``--requests`` requests of each kind (300):

1. slash commands: ``/startjobs help`` and ``/startjobs`` (which opens the start modal);
2. start-modal submissions of those modals (one job each, a project needing approval);
3. Approve clicks on the posted request messages, by approvers;
4. approve-modal submissions (each starts its request in DRS).

The bot's background work (modals, DRS look-ups, posts, starts) runs while later bursts
arrive. After each phase the benchmark waits until the bot has finished that work (modals
filled, messages posted, approve modals opened, outcomes posted), then sends the phase's
requests again, byte for byte (re-signed), in the same bursts and at the same pace, to
``bench/bare_ack.py``: a stock Bolt app (Bolt's own listener runner, matchers and aiohttp
server) with the same signing, in a separate process, whose listeners only ack. The table
gives p50/p95/p99/max per kind of request for both, the ratio of the p99s, the acks over
Slack's 3 s, and the bot's CPU time per request (its background work included). It also
prints how late this process's own event loop woke up: the noise of the measurement.

With ``--working-replica`` (and ``--database-url``) the measured bot is an answering replica
(``STARTJOBS_ROLE=answer``) and a second ``python -m bot`` on the same database does the work
it leaves, on the measured bot's CPU at the idle scheduling class (``SCHED_IDLE``: it runs
only when the measured bot does not), as a replica on another machine would.

    .venv/bin/python bench/ack_latency.py [--quick] [--requests N] [--concurrency 1,10,50]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Action, CapturingDriver, Firer, Sample, Sent, as_is, send_bursts
from bench.stack import (
    CHANNEL,
    SIGNING_SECRET,
    BareAckProcess,
    BotProcess,
    LoopLag,
    Placement,
    SimProcess,
    Spread,
    ms,
    policy_toml,
    project_table,
    wait_until,
)
from bot.devkit.sim.slack import FakeSlack, FakeUser
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When

SLACK_DEADLINE = 3.0
GOAL_RATIO = 1.5
WARM_UP_SENDERS = 2  # the policy lists at least this many, whatever the levels
KINDS = ("slash help", "slash open", "start submit", "approve click", "approve submit")
GROUP = "S0BENCHLEADS"
TAG_RE = re.compile(r"BT\d+x\d+x\d+")
REQUEST_ID_RE = re.compile(r"SJ-[2-9A-HJ-NP-Z]{8}")
Burst = list[tuple[str, Action]]  # (kind of request, the driver call making it), one per sender


@dataclass
class Row:
    """One kind of request at one concurrency: the bot's and the baseline's samples."""

    kind: str
    senders: int
    bot: list[Sample] = field(default_factory=list)
    bare: list[Sample] = field(default_factory=list)
    bot_cpu: float = 0.0
    bare_cpu: float = 0.0


class Watcher:
    """Indexes what the fake Slack shows, incrementally: views per user, requests per tag."""

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.views_of: dict[str, list[str]] = defaultdict(list)
        self.requests: dict[str, tuple[str, str]] = {}  # tag -> (message ts, request id)
        self._views_seen = 0
        self._messages_seen = 0

    def refresh(self) -> None:
        views = self.fake.views()
        for view in views[self._views_seen :]:
            self.views_of[view.user].append(view.id)
        self._views_seen = len(views)
        messages = self.fake.messages(CHANNEL)
        for msg in messages[self._messages_seen :]:
            blob = msg.text + json.dumps(msg.blocks)
            tag, rid = TAG_RE.search(blob), REQUEST_ID_RE.search(blob)
            if tag and rid:
                self.requests[tag.group(0)] = (msg.ts, rid.group(0))
        self._messages_seen = len(messages)

    def callback(self, view_id: str) -> str | None:
        """The callback id of an open view (None when closed or unknown)."""
        view = self.fake.view(view_id)
        return None if view is None or view.closed else str(view.view.get("callback_id") or "")

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
        def check() -> bool:
            self.refresh()
            return predicate()

        return await wait_until(check, timeout, every=0.05)


def _share_cpu(rows: dict[str, Row], samples: list[Sample], cpu: float, attr: str) -> None:
    """Share out CPU seconds used while a phase was sent (background work included) by
    request."""
    for kind in {s.kind for s in samples}:
        share = sum(1 for s in samples if s.kind == kind) / max(1, len(samples))
        setattr(rows[kind], attr, getattr(rows[kind], attr) + cpu * share)


@dataclass
class Bench:
    args: argparse.Namespace
    fake: FakeSlack
    bot: BotProcess
    bare: BareAckProcess
    driver: CapturingDriver
    firer: Firer
    jobs: list[str]
    watcher: Watcher
    lag: LoopLag
    problems: list[str] = field(default_factory=list)
    levels_run: int = 0  # tags the requests of each level apart
    lags: list[tuple[str, Spread]] = field(default_factory=list)

    async def level(self, senders: int, requests: int, *, label: str) -> list[Row]:
        """The four phases with ``senders`` senders and ``requests`` requests of each kind."""
        rows = {kind: Row(kind, senders) for kind in KINDS}
        self.levels_run += 1
        every = senders / self.args.rate
        rounds = math.ceil(requests / senders)
        requesters = [f"UR{i:04d}" for i in range(senders)]
        approvers = [f"UA{i:04d}" for i in range(senders)]
        settle = 60.0 + requests * (self.args.drs_latency + self.args.slack_latency) / 5
        w = self.watcher

        # 1. slash commands: half the senders ask for help while the others open the modal
        w.refresh()
        seen = {u: len(w.views_of[u]) for u in requesters}
        bursts = [
            [
                (kind, self._slash(user, "help" if kind == "slash help" else ""))
                for n, user in enumerate(requesters)
                for kind in [("slash help", "slash open")[(n + r) % 2]]
            ]
            for r in range(2 * rounds)
        ]
        sent = await self._phase(label, "slash", bursts, every, rows)

        def new_views(user: str, callback: CallbackId) -> list[str]:
            return [v for v in w.views_of[user][seen[user] :] if w.callback(v) == callback]

        if not await w.until(
            lambda: all(len(new_views(u, CallbackId.START)) >= rounds for u in requesters),
            settle,
        ):
            self.problems.append(f"{label}: not every start modal was opened and filled in")
        await self._baseline(label, "slash", sent, every, rows)

        # 2. start-modal submissions, one job each
        modals = {u: new_views(u, CallbackId.START) for u in requesters}
        tags = {
            u: [f"BT{self.levels_run}x{n}x{k}" for k in range(len(modals[u]))]
            for n, u in enumerate(requesters)
        }
        bursts = [
            [
                ("start submit", self._submit_start(u, modals[u][r], tags[u][r]))
                for u in requesters
                if r < len(modals[u])
            ]
            for r in range(max(len(m) for m in modals.values()))
        ]
        sent = await self._phase(label, "start", bursts, every, rows)
        every_tag = [t for ts in tags.values() for t in ts]
        if not await w.until(lambda: all(t in w.requests for t in every_tag), settle):
            self.problems.append(f"{label}: not every request message was posted")
        await self._baseline(label, "start", sent, every, rows)

        # 3. Approve clicks: approver n approves requester n's requests
        seen = {u: len(w.views_of[u]) for u in approvers}
        targets = {
            a: [w.requests[t] for t in tags[r] if t in w.requests]
            for a, r in zip(approvers, requesters, strict=True)
        }
        bursts = [
            [
                ("approve click", self._click(a, *targets[a][k]))
                for a in approvers
                if k < len(targets[a])
            ]
            for k in range(max(len(t) for t in targets.values()))
        ]
        sent = await self._phase(label, "click", bursts, every, rows)
        if not await w.until(
            lambda: all(
                len(new_views(a, CallbackId.APPROVE)) >= len(targets[a]) for a in approvers
            ),
            settle,
        ):
            self.problems.append(f"{label}: not every approve modal was opened")
        await self._baseline(label, "click", sent, every, rows)

        # 4. approve-modal submissions (each starts its request); then every outcome posted
        modals = {a: new_views(a, CallbackId.APPROVE) for a in approvers}
        bursts = [
            [
                ("approve submit", self._submit_approve(a, modals[a][k]))
                for a in approvers
                if k < len(modals[a])
            ]
            for k in range(max(len(m) for m in modals.values()))
        ]
        sent = await self._phase(label, "approve", bursts, every, rows)
        threads = [w.requests[t][0] for t in every_tag if t in w.requests]
        if not await w.until(lambda: all(self.fake.thread(CHANNEL, ts) for ts in threads), settle):
            self.problems.append(f"{label}: not every outcome was posted")
        await self._baseline(label, "approve", sent, every, rows)
        return list(rows.values())

    async def _phase(
        self, label: str, name: str, bursts: list[Burst], every: float, rows: dict[str, Row]
    ) -> list[list[Sent]]:
        """Send ``bursts`` to the bot; what was sent, for :meth:`_baseline` once it is quiet.

        Each burst's bodies are built in the pause before it is sent, at most one interval
        ahead (trigger ids expire in 3 s).
        """

        async def build(burst: Burst) -> list[Sent]:
            return [(kind, *await self.driver.build(action)) for kind, action in burst]

        makers = [functools.partial(build, burst) for burst in bursts]
        return await self._time("bot", f"{label}, {name}", makers, every, rows)

    async def _baseline(
        self, label: str, name: str, sent: list[list[Sent]], every: float, rows: dict[str, Row]
    ) -> None:
        makers = [functools.partial(as_is, burst) for burst in sent]
        await self._time("bare", f"{label}, {name}", makers, every, rows)

    async def _time(
        self,
        side: Literal["bot", "bare"],
        where: str,
        makers: Sequence[Callable[[], Awaitable[list[Sent]]]],
        every: float,
        rows: dict[str, Row],
    ) -> list[list[Sent]]:
        """Send the bursts to ``side``, file its samples and CPU time in ``rows``; what went."""
        server = self.bot if side == "bot" else self.bare
        self.lag.take()
        cpu_before = server.cpu_seconds() or 0.0
        samples, sent = await send_bursts(self.firer, server.events_url, makers, every)
        cpu = (server.cpu_seconds() or 0.0) - cpu_before
        self.lags.append((f"{where} ({side})", self.lag.take()))
        for s in samples:
            getattr(rows[s.kind], side).append(s)
        _share_cpu(rows, samples, cpu, f"{side}_cpu")
        return sent

    # -- the requests ------------------------------------------------------------------------

    def _slash(self, user: str, text: str) -> Action:
        return lambda: self.driver.slash(user, CHANNEL, text)

    def _submit_start(self, user: str, view_id: str, tag: str) -> Action:
        values: dict[str, dict[str, object]] = {
            BlockId.PROJECT.value: {ActionId.PROJECT.value: "prod"},
            BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: self.jobs.pop()},
            BlockId.WHEN.value: {ActionId.WHEN.value: When.NOW.value},
            BlockId.REASON.value: {ActionId.REASON.value: f"load test {tag}"},
        }
        return lambda: self.driver.submit_view(user, view_id, values)

    def _click(self, user: str, ts: str, request_id: str) -> Action:
        return lambda: self.driver.click(
            user, action_id=ActionId.APPROVE.value, value=request_id, channel=CHANNEL, message_ts=ts
        )

    def _submit_approve(self, user: str, view_id: str) -> Action:
        values = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "looks right"}}
        return lambda: self.driver.submit_view(user, view_id, values)


def _users(n: int) -> dict[str, FakeUser]:
    users = {f"UR{i:04d}": FakeUser(name=f"requester{i}", tz="Europe/Berlin") for i in range(n)}
    users.update({f"UA{i:04d}": FakeUser(name=f"approver{i}") for i in range(n)})
    return users


async def run(args: argparse.Namespace) -> int:
    placement = None if args.no_pin else Placement.split()
    if placement is None:
        return await _run(args, None)
    with placement.this_thread():
        return await _run(args, placement)


async def _run(args: argparse.Namespace, placement: Placement | None) -> int:
    levels: list[int] = args.concurrency
    users = _users(max(WARM_UP_SENDERS, *levels))
    requesters = sorted(u for u in users if u.startswith("UR"))
    approvers = sorted(u for u in users if u.startswith("UA"))
    rounded = [math.ceil(args.requests / c) * c for c in levels]
    with tempfile.TemporaryDirectory(prefix="sj-ack-") as tmp_name:
        tmp = Path(tmp_name)
        fake = FakeSlack(users=users, usergroups={GROUP: approvers}, latency=args.slack_latency)
        await fake.start()
        sim = SimProcess(tmp / "drs_sim.log")
        try:
            sim_url = await sim.ready()
            jobs = await sim.generate(sum(rounded) + 8, prefix="ack-bench")
            await sim.fault("*", "latency", seconds=args.drs_latency)
            # Approvers come from a user group (resolved through the Web API and cached) and
            # by id; requesters by id.
            table = project_table(sim_url, requesters=requesters, approvers=[GROUP, approvers[0]])
            env = {"STARTJOBS_USER_REQUESTS_PER_MINUTE": "1000000", **dict(args.bot_env)}
            if args.database_url:
                env["STARTJOBS_DATABASE_URL"] = args.database_url
            policy = policy_toml({"prod": table})
            worker = None
            if args.working_replica:  # the measured bot answers; this one does the work
                worker = BotProcess(tmp, slack_url=fake.url, policy=policy, name="worker", env=env)
                env = {**env, "STARTJOBS_ROLE": "answer"}
            bot = BotProcess(
                tmp, slack_url=fake.url, policy=policy, env=env, profile=args.profile_bot
            )
            bare = BareAckProcess(tmp, slack_url=fake.url)
            if placement is not None:
                placement.load(sim.pid, nice=5)
                placement.serve(bot.pid)
                placement.serve(bare.pid)
                if worker is not None:
                    placement.beside(worker.pid)
            children = [bot, bare, *([worker] if worker else [])]
            try:
                await asyncio.gather(*(c.ready() for c in children))
                return await _measure(args, fake, sim, bot, bare, jobs, placement, worker)
            finally:
                await asyncio.gather(*(c.stop() for c in children))
                if args.show_logs:
                    _show_logs(tmp)
        finally:
            await sim.stop()
            await fake.stop()


async def _measure(
    args: argparse.Namespace,
    fake: FakeSlack,
    sim: SimProcess,
    bot: BotProcess,
    bare: BareAckProcess,
    jobs: list[str],
    placement: Placement | None,
    worker: BotProcess | None,
) -> int:
    driver = CapturingDriver(events_url=bot.events_url, signing_secret=SIGNING_SECRET, fake=fake)
    firer = Firer()
    await firer.start()
    if placement is not None:
        placement.load(firer.pid)
    lag = LoopLag()
    lag.start()
    bench = Bench(args, fake, bot, bare, driver, firer, jobs, Watcher(fake), lag)
    try:
        started = time.perf_counter()
        # Imports, caches (auth.test, the user group) and connections, unmeasured.
        await bench.level(WARM_UP_SENDERS, 4, label="warm-up")
        await sim.clear_calls()
        bench.lags.clear()
        rows: list[Row] = []
        for senders in args.concurrency:
            rows += await bench.level(senders, args.requests, label=f"{senders} senders")
        elapsed = time.perf_counter() - started
    finally:
        await lag.stop()
        await firer.stop()
        await driver.aclose()
    starts = sum(1 for c in await sim.calls() if c.get("endpoint") == "batch-starting")
    _print(args, rows, bench, starts, elapsed, bot, placement)
    if worker is not None:
        cpu = worker.cpu_seconds() or 0.0
        print(
            "the working replica (STARTJOBS_ROLE=all, on the measured server's CPU when it is "
            "idle: SCHED_IDLE) did the work the measured one (STARTJOBS_ROLE=answer) left: "
            f"{cpu:.1f} s of CPU over the run, not in the cpu/req column"
        )
    return 1 if bench.problems else 0


def _print(
    args: argparse.Namespace,
    rows: list[Row],
    bench: Bench,
    starts: int,
    elapsed: float,
    bot: BotProcess,
    placement: Placement | None,
) -> None:
    print(
        "\nAck latency (ms): the bot (python -m bot) vs a stock Bolt app that only acks "
        "(bench/bare_ack.py),\nthe same signed requests in the same bursts, "
        f"{args.rate:g} requests/s on average; DRS answers in {args.drs_latency * 1000:.0f} ms, "
        f"the Slack Web API in {args.slack_latency * 1000:.0f} ms; the bot's database: "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}."
    )
    print(
        f"Placement: {placement.describe()}."
        if placement is not None
        else "Placement: none (every process on any CPU)."
    )
    head = (
        f"{'request':<15}{'senders':>8}{'n':>6} | {'bot p50':>8}{'p95':>8}{'p99':>8}{'max':>8} |"
        f" {'bare p50':>8}{'p95':>8}{'p99':>8}{'max':>8} | {'p99 x':>6} {'>3s':>4}"
        f" {'cpu/req bot':>11} {'bare':>5}"
    )
    print(head)
    print("-" * len(head))
    most = max(r.senders for r in rows)
    worst: float = 0.0
    over = 0  # the bot's acks over Slack's deadline, at every level
    slowest = 0.0  # the bot's slowest ack, at every level
    for row in rows:
        bot_s = Spread.of([s.elapsed for s in row.bot])
        bare_s = Spread.of([s.elapsed for s in row.bare])
        late = sum(1 for s in row.bot if s.elapsed > SLACK_DEADLINE)
        over += late
        slowest = max([slowest, *(s.elapsed for s in row.bot)])
        refused = sum(1 for s in row.bot if not s.ok) + sum(1 for s in row.bare if not s.ok)
        ratio = bot_s.p99 / bare_s.p99 if bare_s.p99 > 0 else float("nan")
        if row.senders == most:
            worst = max(worst, ratio)
        cpu = row.bot_cpu / max(1, len(row.bot))
        bare_cpu = row.bare_cpu / max(1, len(row.bare))
        note = (" <- over 3 s" if late else "") + (f" ({refused} not accepted)" if refused else "")
        print(
            f"{row.kind:<15}{row.senders:>8}{bot_s.count:>6} |"
            f" {ms(bot_s.p50):>8}{ms(bot_s.p95):>8}{ms(bot_s.p99):>8}{ms(bot_s.max):>8} |"
            f" {ms(bare_s.p50):>8}{ms(bare_s.p95):>8}{ms(bare_s.p99):>8}{ms(bare_s.max):>8} |"
            f" {ratio:>6.2f} {late:>4} {ms(cpu):>11} {ms(bare_cpu):>5}{note}"
        )
    lag_p99 = max((spread.p99 for _, spread in bench.lags), default=float("nan"))
    lag_max = max(bench.lags, key=lambda item: item[1].max, default=None)
    print(
        f"\nthis process's loop lag (measuring noise): worst phase p99 {ms(lag_p99)} ms"
        + (f", worst wake-up {ms(lag_max[1].max)} ms ({lag_max[0]})" if lag_max else "")
    )
    print(
        f"DRS batch-starting calls: {starts} (one per approved request); "
        f"bot peak RSS {bot.peak_rss_mib() or 0:.0f} MiB; run took {elapsed:.0f} s"
    )
    verdict = "met" if worst <= GOAL_RATIO and not over else "missed"
    print(
        f"goal: p99 at {most} senders within {GOAL_RATIO}x of the bare ack, no ack over "
        f"{SLACK_DEADLINE:g} s: {verdict} (worst ratio {worst:.2f}; slowest ack "
        f"{ms(slowest)} ms, {over} over {SLACK_DEADLINE:g} s)"
    )
    for problem in bench.problems:
        print(f"PROBLEM: {problem}")


def _show_logs(tmp: Path) -> None:
    for log in sorted(tmp.glob("*.log")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')}")


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be positive")
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 requests, 1 and 10 senders")
    parser.add_argument(
        "--requests", type=int, default=None, help="requests of each kind per level (300)"
    )
    parser.add_argument(
        "--concurrency", type=_levels, default=None, help="senders per level (1,10,50)"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (50)")
    parser.add_argument("--drs-latency", type=float, default=1.0, help="seconds per DRS call")
    parser.add_argument("--slack-latency", type=float, default=0.3, help="seconds per Slack call")
    parser.add_argument("--show-logs", action="store_true", help="print the children's logs")
    parser.add_argument(
        "--bot-env",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the bot's environment (repeatable)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="the bot keeps its records in this PostgreSQL database (default: SQLite)",
    )
    parser.add_argument(
        "--working-replica",
        action="store_true",
        help="with --database-url: the measured bot only answers (STARTJOBS_ROLE=answer) and a "
        "second one does the work, on the measured bot's CPU when it is idle",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="leave every process on any CPU (default: the measured server gets one of its own)",
    )
    parser.add_argument(
        "--profile-bot", type=Path, default=None, metavar="FILE", help="cProfile the bot into FILE"
    )
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 20 if args.quick else 300
    if args.concurrency is None:
        args.concurrency = [1, 10] if args.quick else [1, 10, 50]
    if args.working_replica and not args.database_url:
        parser.error("--working-replica needs --database-url (replicas share PostgreSQL)")
    if args.requests < 1 or args.rate <= 0:
        parser.error("--requests and --rate must be positive")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())

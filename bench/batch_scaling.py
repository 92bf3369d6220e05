"""Batch scaling: from the approving submission to every job's outcome in the thread.

For each batch size (10, 100, 1,000, 5,000 jobs) a fresh bot process (``python -m bot``, its
own database, so its memory high-water mark is that batch's) serves one request made the way
a person makes it: ``/startjobs``, the job IDs pasted into the modal's text box, submit, then
an approver clicks Approve and submits the approve modal. The DRS simulator (another process)
answers every call after ``--latency`` (100 ms); the fake Slack Web API (this process)
answers at once unless ``--slack-latency`` says otherwise, refuses any message over Slack's
limits (50 blocks, 3,000 characters per section, the ~13k aggregate cap) and counts calls.

Printed per size: the submission's ack and the time until the request message is posted
(the batch-detail look-up is on that path), then from the approving submission: the time
to the outcome message in the thread and to the CSV upload, beside the lower bound: the
rounds of DRS calls on that path times the latency, that is ``ceil(chunks / concurrency)``
batch-starting rounds plus, under the project's precheck rule ``require`` (the default;
``--precheck`` sets it), the ``ceil(ceil(jobs / 10) / concurrency)`` rounds of
batch-precheck-result that re-read every job's precheck right before sending (10 jobs a call,
Huawei's limit). Then the DRS calls made (batch-starting, batch-precheck-result after the
approval, and batch-detail), the Slack API calls made
from the approval to the CSV, and the bot's peak RSS. Every run checks that each job was sent
to DRS exactly once and that the outcome reports all of them started.

Slack's modal text input holds at most 3,000 characters (about 80 job IDs); the driver does
not enforce ``max_length``, so a 5,000-ID request goes through the text box here as it
could not in Slack (people would upload a file or select by name instead).

``--tune`` then runs the largest size over a grid of chunk sizes and concurrencies, to choose
the defaults (``STARTJOBS_DRS_CHUNK_SIZE``, ``STARTJOBS_DRS_CONCURRENCY``).

    .venv/bin/python bench/batch_scaling.py [--quick] [--sizes 10,100,1000,5000] [--tune]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    CHANNEL,
    SIGNING_SECRET,
    BotProcess,
    SimProcess,
    policy_toml,
    project_table,
    wait_until,
)
from bot.config import DEFAULT_DRS_CONCURRENCY
from bot.core.policy import Defaults
from bot.devkit.sim.driver import SlackDriver
from bot.devkit.sim.slack import FakeSlack, FakeUser
from bot.devkit.sim.slack_model import FakeMessage
from bot.drs.precheck import CHUNK as PRECHECK_CHUNK
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When

REQUESTER, APPROVER = "U0REQUESTER", "U0APPROVER"
BLOCKS_CHAR_LIMIT = 13_000  # Slack's undocumented aggregate cap, as observed
MODAL_TEXT_MAX = 3_000  # Slack's plain_text_input max_length
CSV_THRESHOLD = 20  # the outcome comes with a CSV from this many jobs on (outcome.needs_csv)


@dataclass(frozen=True)
class Shape:
    chunk_size: int
    concurrency: int

    def rounds(self, jobs: int) -> int:
        return math.ceil(math.ceil(jobs / self.chunk_size) / self.concurrency)

    def __str__(self) -> str:
        return f"chunk {self.chunk_size}, concurrency {self.concurrency}"


@dataclass(frozen=True)
class Result:
    jobs: int
    shape: Shape
    submit_ack: float
    to_request: float
    to_outcome: float
    to_csv: float | None
    start_calls: int
    detail_calls: int
    slack_calls: Counter[str]
    peak_rss_mib: float | None
    problems: tuple[str, ...]

    precheck_calls: int = 0  # batch-precheck-result calls after the approval
    prechecked: bool = True  # the project requires a precheck: re-read before sending

    def bound(self, latency: float) -> float:
        rounds = self.shape.rounds(self.jobs)
        if self.prechecked:
            rounds += math.ceil(math.ceil(self.jobs / PRECHECK_CHUNK) / self.shape.concurrency)
        return rounds * latency


class Run:
    """The fake Slack and the simulator, shared by every bot process of one benchmark run."""

    def __init__(self, args: argparse.Namespace, fake: FakeSlack, sim: SimProcess, tmp: Path):
        self.args = args
        self.fake = fake
        self.sim = sim
        self.tmp = tmp
        self.count = 0
        self.defaults = default_shape()

    async def batch(self, jobs: int, shape: Shape) -> Result:
        """One request of ``jobs`` jobs through a fresh bot process."""
        self.count += 1
        ids = await self.sim.generate(jobs, prefix=f"scale{self.count}")
        table = project_table(self.sim.url, requesters=[REQUESTER], approvers=[APPROVER])
        table["precheck"] = self.args.precheck
        policy = policy_toml({"prod": table}, defaults={"max_jobs": max(jobs, 1000)})
        env = {"STARTJOBS_MAX_JOBS": str(max(jobs, 1000))}
        if self.args.database_url:
            env["STARTJOBS_DATABASE_URL"] = self.args.database_url
        if shape != self.defaults:  # the defaults are measured as the bot picks them itself
            env["STARTJOBS_DRS_CHUNK_SIZE"] = str(shape.chunk_size)
            env["STARTJOBS_DRS_CONCURRENCY"] = str(shape.concurrency)
        bot = BotProcess(
            self.tmp, slack_url=self.fake.url, policy=policy, name=f"bot{self.count}", env=env
        )
        try:
            await bot.ready()
            async with SlackDriver(
                events_url=bot.events_url, signing_secret=SIGNING_SECRET, fake=self.fake
            ) as driver:
                return await self._flow(driver, bot, ids, shape)
        finally:
            await bot.stop()

    async def _flow(
        self, driver: SlackDriver, bot: BotProcess, ids: list[str], shape: Shape
    ) -> Result:
        fake, problems = self.fake, []
        timeout = 120.0 + len(ids) / 20
        # The modal, with every ID pasted into its text box.
        view_id = await self._opened(
            REQUESTER, CallbackId.START, lambda: driver.slash(REQUESTER, CHANNEL, ""), timeout
        )
        posted_before = len(fake.messages(CHANNEL))
        await self.sim.clear_calls()
        t_submit = time.time()
        values = {
            BlockId.PROJECT.value: {ActionId.PROJECT.value: "prod"},
            BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: "\n".join(ids)},
            BlockId.WHEN.value: {ActionId.WHEN.value: When.NOW.value},
            BlockId.REASON.value: {ActionId.REASON.value: "CHG-5000 scaling run"},
        }
        answer = await driver.submit_view(REQUESTER, view_id, values)
        if not answer.ok or (answer.json and answer.json.get("response_action")):
            raise RuntimeError(f"the start modal was refused: {answer.status} {answer.text[:500]}")
        submit_ack = answer.elapsed
        if not await wait_until(lambda: len(fake.messages(CHANNEL)) > posted_before, timeout):
            raise RuntimeError("the request message was never posted")
        request = fake.messages(CHANNEL)[posted_before]
        to_request = _request_post_at(fake, t_submit) - t_submit
        detail_calls = sum(1 for c in await self.sim.calls() if c["endpoint"] == "batch-detail")
        request_id = _request_id(request)

        # Approve: the click opens the approve modal; its submission is the clock's start.
        approve_view = await self._opened(
            APPROVER,
            CallbackId.APPROVE,
            lambda: driver.click(
                APPROVER,
                action_id=ActionId.APPROVE.value,
                value=request_id,
                channel=CHANNEL,
                message_ts=request.ts,
            ),
            timeout,
        )
        await self.sim.clear_calls()
        calls_before = len(fake.calls)
        t0 = time.time()
        answer = await driver.submit_view(
            APPROVER, approve_view, {BlockId.COMMENT.value: {ActionId.COMMENT.value: "go"}}
        )
        if not answer.ok or answer.json:
            raise RuntimeError(f"the approval was refused: {answer.status} {answer.text[:500]}")
        csv_name = f"{request_id}-jobs.csv"
        wants_csv = len(ids) >= CSV_THRESHOLD
        done = await wait_until(
            lambda: (
                bool(fake.thread(CHANNEL, request.ts))
                and (not wants_csv or any(f.filename == csv_name for f in fake.files))
            ),
            timeout,
        )
        if not done:
            problems.append("the outcome (or its CSV) never appeared")
        t_outcome = _thread_post_at(fake, request.ts, t0)
        t_csv = _call_at(fake, "files.completeUploadExternal", t0) if wants_csv else None
        end = max(t for t in (t_outcome, t_csv) if t is not None)
        slack_calls = Counter(c.method for c in fake.calls[calls_before:] if c.at <= end)
        refused = [f"{c.method}: {c.error}" for c in fake.calls[calls_before:] if not c.ok]
        problems += [f"Slack refused {r}" for r in refused]
        problems += self._check_outcome(fake, request.ts, len(ids))
        calls = await self.sim.calls()
        starts = [c for c in calls if c["endpoint"] == "batch-starting"]
        rereads = sum(1 for c in calls if c["endpoint"] == "batch-precheck-result")
        # Throttled calls (429) were not processed; every job must be in one processed call.
        sent = Counter(j for c in starts if c["status"] == 202 for j in c["job_ids"])
        if sorted(sent) != sorted(ids) or any(n != 1 for n in sent.values()):
            problems.append("not every job was started by exactly one batch-starting call")
        return Result(
            jobs=len(ids),
            shape=shape,
            submit_ack=submit_ack,
            to_request=to_request,
            to_outcome=t_outcome - t0,
            to_csv=None if t_csv is None else t_csv - t0,
            start_calls=len(starts),
            detail_calls=detail_calls,
            precheck_calls=rereads,
            prechecked=self.args.precheck == "require",
            slack_calls=slack_calls,
            peak_rss_mib=bot.peak_rss_mib(),
            problems=tuple(problems),
        )

    async def _opened(
        self,
        user: str,
        callback: CallbackId,
        step: Callable[[], Awaitable[object]],
        timeout: float,  # noqa: ASYNC109
    ) -> str:
        """Take ``step`` (a command or a click) and return the id of the ``callback`` modal
        it opened for ``user``."""
        before = {v.id for v in self.fake.views()}
        await step()

        def found() -> str | None:
            for v in self.fake.views():
                if v.id not in before and v.user == user and v.callback_id == callback:
                    return v.id
            return None

        if not await wait_until(lambda: found() is not None, timeout):
            raise RuntimeError(f"the {callback.value} modal never opened")
        view_id = found()
        assert view_id is not None
        return view_id

    def _check_outcome(self, fake: FakeSlack, ts: str, jobs: int) -> list[str]:
        outcome = fake.thread(CHANNEL, ts)
        if not outcome:
            return ["no outcome message"]
        shown = _text(outcome[0])
        if f"{jobs:,} started" not in shown:
            return [f"the outcome does not say {jobs:,} started: {shown[:200]!r}"]
        return []


def _text(msg: FakeMessage) -> str:
    parts = [msg.text]
    for block in msg.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        elements = block.get("elements") or []
        parts += [str(e.get("text", "")) for e in elements if isinstance(e, dict)]
    return "\n".join(parts)


def _request_id(msg: FakeMessage) -> str:
    for block in msg.blocks:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and str(element.get("value", "")).startswith("SJ-"):
                return str(element["value"])
    raise RuntimeError("the request message has no Approve button")


def _call_at(fake: FakeSlack, method: str, since: float) -> float:
    return next((c.at for c in fake.calls if c.method == method and c.at >= since), math.nan)


def _request_post_at(fake: FakeSlack, since: float) -> float:
    """When the request message was posted: the first post in the channel itself (an earlier
    size's thread can still get its summary after this size's submission)."""
    return next(
        (
            c.at
            for c in fake.calls
            if c.method == "chat.postMessage"
            and c.args.get("channel") == CHANNEL
            and not c.args.get("thread_ts")
            and c.at >= since
        ),
        math.nan,
    )


def _thread_post_at(fake: FakeSlack, thread_ts: str, since: float) -> float:
    return next(
        (
            c.at
            for c in fake.calls
            if c.method == "chat.postMessage"
            and c.args.get("thread_ts") == thread_ts
            and c.at >= since
        ),
        math.nan,
    )


# -- printing ---------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f}"


def print_table(title: str, results: list[Result], latency: float) -> None:
    print(f"\n{title}")
    head = (
        f"{'jobs':>6} {'shape':>12} | {'ack':>5} {'request':>8} | {'outcome':>8} {'csv':>6}"
        f" {'bound':>6} {'x bound':>7} | {'DRS start':>9} {'precheck':>8} {'detail':>6} |"
        f" {'Slack calls':>11}"
        f" | {'peak RSS':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        bound = r.bound(latency)
        slowest = max(t for t in (r.to_outcome, r.to_csv) if t is not None)
        print(
            f"{r.jobs:>6,} {r.shape.chunk_size:>5}x{r.shape.concurrency:<6} |"
            f" {_seconds(r.submit_ack):>5} {_seconds(r.to_request):>8} |"
            f" {_seconds(r.to_outcome):>8} {_seconds(r.to_csv):>6} {_seconds(bound):>6}"
            f" {slowest / bound:>7.2f} | {r.start_calls:>9} {r.precheck_calls:>8}"
            f" {r.detail_calls:>6} |"
            f" {sum(r.slack_calls.values()):>11} | {r.peak_rss_mib or 0:>5.0f} MiB"
        )
        for problem in r.problems:
            print(f"        PROBLEM: {problem}")
    calls = Counter[str]()
    for r in results:
        calls.update(r.slack_calls)
    if results:
        detail = ", ".join(f"{m} {n}" for m, n in sorted(calls.items()))
        print(f"Slack calls after approval, all sizes together: {detail}")


# -- main -------------------------------------------------------------------------------------


def default_shape() -> Shape:
    """The chunk size and concurrency the bot uses when neither is configured."""
    return Shape(Defaults().chunk_size, DEFAULT_DRS_CONCURRENCY)


async def run(args: argparse.Namespace) -> int:
    default = Shape(
        args.chunk_size or default_shape().chunk_size,
        args.concurrency or default_shape().concurrency,
    )
    with tempfile.TemporaryDirectory(prefix="sj-scale-") as tmp_name:
        tmp = Path(tmp_name)
        users = {REQUESTER: FakeUser(name="requester"), APPROVER: FakeUser(name="approver")}
        fake = FakeSlack(
            users=users, latency=args.slack_latency, blocks_char_limit=BLOCKS_CHAR_LIMIT
        )
        await fake.start()
        sim = SimProcess(tmp / "drs_sim.log", start_delay=2.0)
        try:
            await sim.ready()
            await sim.fault("*", "latency", seconds=args.latency)
            for spec in args.fault:
                await sim.fault_spec(spec)
            run_ = Run(args, fake, sim, tmp)
            results = [await run_.batch(n, default) for n in args.sizes]
            faults = f" Faults: {'; '.join(args.fault)}." if args.fault else ""
            title = (
                f"Batch scaling: DRS simulator {args.latency * 1000:.0f} ms per call, Slack "
                f"{args.slack_latency * 1000:.0f} ms per call; {default}. Times in seconds; "
                "'ack' and 'request'\nfrom the start submission, 'outcome' and 'csv' from the "
                "approving submission; bound = the rounds of DRS calls on that path x latency"
                f" (precheck rule {args.precheck})."
                + faults
                + f" Database: {'PostgreSQL' if args.database_url else 'SQLite'}."
            )
            print_table(title, results, args.latency)
            if max(args.sizes) * 37 > MODAL_TEXT_MAX:
                print(
                    f"Note: Slack's modal text input holds {MODAL_TEXT_MAX:,} characters (about "
                    "80 IDs); these IDs went in through it only because the driver does not "
                    "enforce max_length."
                )
            tuned: list[Result] = []
            if args.tune:
                biggest = max(args.sizes)
                for chunk in args.tune_chunks:
                    for concurrency in args.tune_concurrency:
                        tuned.append(await run_.batch(biggest, Shape(chunk, concurrency)))
                print_table(f"Tuning with {biggest:,} jobs:", tuned, args.latency)
            failed = any(r.problems for r in results + tuned)
            return 1 if failed else 0
        finally:
            await sim.stop()
            await fake.stop()


def _numbers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("values must be positive")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10 and 100 only")
    parser.add_argument("--sizes", type=_numbers, default=None, help="10,100,1000,5000")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per DRS call")
    parser.add_argument("--slack-latency", type=float, default=0.0, help="seconds per Slack call")
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the bot's")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the bot's")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="a simulator fault for the whole run, e.g. batch-starting:status_429:count=20",
    )
    parser.add_argument(
        "--precheck",
        choices=["require", "warn", "off"],
        default="require",
        help="the project's precheck rule (default require, as in the bot)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="the bot keeps its records in this PostgreSQL database (default: SQLite)",
    )
    parser.add_argument("--tune", action="store_true", help="also sweep shapes at the largest size")
    parser.add_argument("--tune-chunks", type=_numbers, default=[100, 200, 500])
    parser.add_argument("--tune-concurrency", type=_numbers, default=[4, 8])
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [10, 100] if args.quick else [10, 100, 1000, 5000]
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())

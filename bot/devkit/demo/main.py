"""``startjobs demo``: try the bot offline, chatting with it in the terminal.

Runs the real bot (the same listeners, service and store, served over HTTP on 127.0.0.1)
against the DRS simulator and a fake Slack workspace, with no account anywhere. You type as
one of four people in ``#ops``; the bot's messages, thread replies, ephemeral answers and
modals are shown as text, buttons and form fields numbered so you can click and fill them.
See :mod:`bot.devkit.demo.chat` for the commands (or type ``help``).

``--script FILE`` reads the same commands from a file (``#`` comments, ``expect <text>`` to
fail unless the text was shown, ``wait <seconds>``) and prints the transcript; the run then
checks with the simulator that the jobs of every approved request reached a transfer status
(``FULL_TRANSFER_STARTED``, or ``INCRE_TRANSFER_STARTED`` for incremental tasks). Exit status
0 when all is well, 1 when an expectation or that check failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from bot.cli import parse_or_status
from bot.devkit.demo.chat import Session
from bot.devkit.demo.terminal import LineSource, ScriptSource, TerminalSource, Transcript
from bot.devkit.demo.world import (
    CHANNEL_NAME,
    EXTRA_JOBS,
    STARTED_STATUSES,
    ApprovedJob,
    DemoWorld,
)
from bot.devkit.sim.drs_jobs import START_JOB_FAILED, STARTJOBING, WAITING_FOR_START
from bot.logs import scoped_logging

BANNER = """\
startjobs demo: the real bot, offline, against a simulated Huawei Cloud DRS and a fake Slack.
You are @alice in #{channel}. Type help for the commands. To start two jobs:
  /startjobs prod {first} {second}
then answer the form, switch with `as bob`, and `click 1` (Approve). `jobs` lists job ids,
`drs throttle` or `drs lose` makes the next start fail or lose its answer."""

FINAL_CHECK_GRACE = 10.0  # seconds beyond the simulator's start delay


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startjobs demo",
        description="Try startjobs offline: the real bot, a simulated DRS, a fake Slack.",
    )
    parser.add_argument("--script", type=Path, help="read commands from FILE, print the transcript")
    parser.add_argument("--db", type=Path, help="keep the SQLite store here (default: a temp dir)")
    parser.add_argument("--verbose", action="store_true", help="show the bot's logs on stderr")
    parser.add_argument(
        "--start-delay",
        type=float,
        default=3.0,
        help="seconds a started DRS task stays STARTJOBING (default 3)",
    )
    parser.add_argument(
        "--expect-timeout",
        type=float,
        default=5.0,
        help="seconds `expect` waits for its text to be shown (default 5)",
    )
    return parser


def cli_main(argv: list[str]) -> int:
    """Run the demo; returns the exit status (see the module docstring)."""
    args = parse_or_status(_parser(), argv)
    if isinstance(args, int):
        return args
    if args.start_delay < 0 or args.expect_timeout < 0:
        print("startjobs demo: --start-delay and --expect-timeout must not be negative")
        return 2
    lines: list[str] | None = None
    if args.script is not None:
        try:
            lines = args.script.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"startjobs demo: cannot read the script {args.script}: {exc}")
            return 2
    out = Transcript(_printable(sys.stdout))
    with tempfile.TemporaryDirectory(prefix="startjobs-demo-") as tmp:
        world = DemoWorld(Path(tmp), db_path=args.db, start_delay=args.start_delay)
        with scoped_logging(args.verbose, world.secrets), contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_run(world, out, lines, expect_timeout=args.expect_timeout))
    return 130  # interrupted


async def _run(
    world: DemoWorld, out: Transcript, script: list[str] | None, *, expect_timeout: float
) -> int:
    started = time.time()
    async with world:
        source: LineSource
        if script is None:
            source = TerminalSource()
            first, second = _first_job(world), EXTRA_JOBS[0][0]
            out.note(BANNER.format(channel=CHANNEL_NAME, first=first, second=second))
        else:
            source = ScriptSource(script, out)
        session = Session(world, source, out, expect_timeout=expect_timeout)
        status = await session.run()
        if script is None or status != 0:
            return status
        return await _check_started(world, out, since=started)


def _first_job(world: DemoWorld) -> str:
    jobs = world.sim.jobs()
    return jobs[0].id if jobs else ""


async def _check_started(world: DemoWorld, out: Transcript, *, since: float) -> int:
    """The end of a script: every approved job that DRS did not refuse must be transferring,
    or waiting for its scheduled start while that is still ahead.

    Waits for the simulator's start delay to pass; returns 0, or 1 when a job is not there.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + world.sim_start_delay + FINAL_CHECK_GRACE
    while True:
        verdicts = [(job, _verdict(world, job)) for job in await world.approved_jobs(since)]
        lagging = [job for job, verdict in verdicts if verdict == "FAIL"]
        # Wait only while a start is still under way; a failed one will not get better.
        if not any(_under_way(world, job) for job in lagging) or loop.time() >= deadline:
            break
        await asyncio.sleep(0.25)
    out.note("== check: the jobs of approved requests, as the DRS simulator has them")
    if not verdicts:
        out.note("(no request was approved: nothing to check)")
        return 0
    names = {j.id: j.name for j in world.sim.jobs()}
    for job, verdict in verdicts:
        status = world.sim.job(job.job_id).status
        name = names.get(job.job_id, "?")
        out.note(f"{verdict:<4} {job.request_id} {name:<22} {job.job_id} {status}")
    if lagging:
        out.note(f"✘ {len(lagging)} approved job(s) did not reach a transfer status")
        return 1
    out.note("✔ every approved job that DRS accepted is transferring (or waits for its time)")
    return 0


def _under_way(world: DemoWorld, job: ApprovedJob) -> bool:
    """Whether the job may still reach a transfer status by itself (soon)."""
    status = world.sim.job(job.job_id).status
    return status in (STARTJOBING, WAITING_FOR_START) or job.outcome in (None, "unknown")


def _verdict(world: DemoWorld, job: ApprovedJob) -> str:
    """``ok``, ``FAIL``, or ``--`` for a job DRS refused (it was never started). A job whose
    task failed after DRS accepted its start is recorded failed too, but is a ``FAIL``."""
    status = world.sim.job(job.job_id).status
    if job.outcome == "failed" and status != START_JOB_FAILED:
        return "--"
    if status in STARTED_STATUSES:
        return "ok"
    if status == WAITING_FOR_START and job.start_at is not None and job.start_at > time.time():
        return "ok"
    return "FAIL"


def _printable(stream: TextIO) -> TextIO:
    """``stream``, printing a ``?`` for any character its encoding lacks instead of failing
    (a terminal or pipe that is not UTF-8 cannot show the emoji Slack shows)."""
    try:
        "✅┃".encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, io.UnsupportedOperation):
                stream.reconfigure(errors="replace")
    return stream


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))

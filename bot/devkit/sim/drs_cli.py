"""``startjobs simulate``: the DRS + IAM simulator on loopback, served until Ctrl-C.

Credentials come from the options, else ``HUAWEICLOUD_SDK_AK``, ``HUAWEICLOUD_SDK_SK`` and
``HUAWEICLOUD_SDK_PROJECT_ID``, else the demo ones; ``--seed-demo`` and ``--jobs N`` add tasks,
``--fault SPEC`` (repeatable) injects faults as :mod:`bot.devkit.sim.drs_faults` describes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal

from bot.core.secret import Secret
from bot.devkit.sim.drs import (
    DEFAULT_AK,
    DEFAULT_PROJECT_ID,
    DEFAULT_SK,
    DEMO_USER,
    DrsSimulator,
)
from bot.devkit.sim.drs_faults import parse_fault_spec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startjobs simulate",
        description="Run the DRS + IAM simulator on loopback until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 = any free port")
    parser.add_argument("--ak", help="access key (default: $HUAWEICLOUD_SDK_AK or the demo AK)")
    parser.add_argument("--sk", help="secret key (default: $HUAWEICLOUD_SDK_SK or the demo SK)")
    parser.add_argument("--project-id", help="project id (default: $HUAWEICLOUD_SDK_PROJECT_ID)")
    parser.add_argument("--seed-demo", action="store_true", help="add the named demo tasks")
    parser.add_argument("--jobs", type=int, default=0, help="add N startable tasks mig-shop-NNNN")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    parser.add_argument(
        "--start-delay", type=float, default=2.0, help="seconds a task stays STARTJOBING"
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="endpoint:kind[:name=value,...] or a JSON object; repeatable",
    )
    return parser


def cli_main(argv: list[str]) -> int:
    """``startjobs simulate``: serve until SIGINT/SIGTERM; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        faults = [parse_fault_spec(spec) for spec in args.fault]
        if args.jobs < 0:
            parser.error("--jobs must not be negative")
    except ValueError as exc:
        parser.print_usage()
        print(f"startjobs simulate: error: {exc}")
        return 2
    except SystemExit as exc:  # argparse reports usage errors and --help this way
        return exc.code if isinstance(exc.code, int) else 2
    sim = DrsSimulator(
        ak=args.ak or os.environ.get("HUAWEICLOUD_SDK_AK") or DEFAULT_AK,
        sk=Secret(args.sk or os.environ.get("HUAWEICLOUD_SDK_SK") or DEFAULT_SK),
        project_id=args.project_id
        or os.environ.get("HUAWEICLOUD_SDK_PROJECT_ID")
        or DEFAULT_PROJECT_ID,
        start_delay=args.start_delay,
        latency=args.latency,
    )
    if args.seed_demo:
        sim.seed_demo()
    if args.jobs:
        sim.add_generated(args.jobs)
    for fault in faults:
        sim.add_fault(fault)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sim, args.host, args.port))
    return 0


async def _serve(sim: DrsSimulator, host: str, port: int) -> None:
    url = await sim.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    print(f"DRS simulator listening on {url}", flush=True)
    print(
        f"  project id {sim.project_id}, AK {sim.ak}, IAM user {DEMO_USER[0]} "
        f"(domain {DEMO_USER[2]}), {len(sim.jobs())} tasks; control API at {url}/_sim",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await sim.stop()

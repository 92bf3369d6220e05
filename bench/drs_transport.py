"""CPU per DRS call over httpx's transport: the bot's DRS client against a bare httpx POST.

Both go over an HTTP client made by ``bot.drs.new_http_client`` (httpx's own transport, as
many connections as the bot allows) to the same loopback server (an aiohttp app in this
process, so each figure includes the server's share, which is the same for both), one call at
a time and fifty at once. The baseline posts a fixed body and parses the JSON answer; the
client's row is ``DrsClient.batch_status`` of one job, AK/SK-signed: building the body,
signing, the auth flow, the call's log line and reading the answer into a JobInfo. The
difference is what the client costs on top of the HTTP call itself.

    .venv/bin/python bench/drs_transport.py [--calls 2000] [--rounds 3] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.secret import Secret
from bot.drs import AkSkAuth, DrsClient, new_http_client

PROJECT = "0123456789abcdef0123456789abcdef"
JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"
ANSWER = (
    b'{"results": [{"id": "9a470239-2308-4bb5-a6bc-1040402fjb21", "status": "CONFIGURATION"}], '
    b'"count": 1}'
)
EXPECTED = {"results": [{"id": JOB, "status": "CONFIGURATION"}], "count": 1}
BODY = b'{"jobs": ["9a470239-2308-4bb5-a6bc-1040402fjb21"], "page_req": {"cur_page": 1}}'
BOT_CONNECTIONS = 50  # the bot's DRS_IN_FLIGHT

BASELINE = "bare httpx POST (baseline)"
CLIENT = "DrsClient.batch_status, AK/SK"

Call = Callable[[], Awaitable[None]]


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


def bare_post(http: httpx.AsyncClient, base: str) -> Call:
    url = f"{base}/v3/{PROJECT}/jobs/batch-status"

    async def one() -> None:
        response = await http.post(url, content=BODY, headers={"Content-Type": "application/json"})
        if response.status_code != 200 or response.json() != EXPECTED:
            raise RuntimeError(f"unexpected answer: {response.status_code} {response.text!r}")

    return one


def drs_status(http: httpx.AsyncClient, base: str) -> Call:
    auth = AkSkAuth(Secret("HPUAKBENCHEXAMPLE001"), Secret("bench-secret-key"), PROJECT)
    client = DrsClient(http=http, endpoint=base, project_id=PROJECT, auth=auth)

    async def one() -> None:
        (info,) = await client.batch_status([JOB])
        if info.status != "CONFIGURATION":
            raise RuntimeError(f"unexpected answer: {info!r}")

    return one


async def cpu_per_call(one: Call, calls: int, at_once: int) -> float:
    await asyncio.gather(*(one() for _ in range(at_once)))  # connections, imports
    started = time.process_time()
    for _ in range(calls // at_once):
        await asyncio.gather(*(one() for _ in range(at_once)))
    return (time.process_time() - started) / (calls // at_once * at_once)


async def run(calls: int, rounds: int, connections: int) -> int:
    app = web.Application()
    app.router.add_post(f"/v3/{PROJECT}/jobs/batch-status", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    makers: dict[str, Callable[[httpx.AsyncClient, str], Call]] = {
        BASELINE: bare_post,
        CLIENT: drs_status,
    }
    print(
        f"CPU per DRS call in ms (client and loopback server together), median of {rounds} "
        f"rounds of {calls} calls, {connections} connections"
    )
    print(f"{'call':<36}{'1 at once':>12}{'50 at once':>12}")
    try:
        figures: dict[str, list[float]] = {}
        for name, make in makers.items():
            row = []
            for at_once in (1, 50):
                runs = []
                for _ in range(rounds):
                    async with new_http_client(
                        read_timeout=30.0, max_connections=connections
                    ) as http:
                        runs.append(await cpu_per_call(make(http, base), calls, at_once))
                row.append(statistics.median(runs))
            figures[name] = row
            print(f"{name:<36}{row[0] * 1000:>12.3f}{row[1] * 1000:>12.3f}")
        base_row, ours = figures[BASELINE], figures[CLIENT]
        print(
            f"{'client / baseline':<36}{ours[0] / base_row[0]:>12.2f}{ours[1] / base_row[1]:>12.2f}"
        )
    finally:
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (3)")
    parser.add_argument(
        "--connections",
        type=int,
        default=BOT_CONNECTIONS,
        help=f"connections in the pool ({BOT_CONNECTIONS}, as the bot)",
    )
    args = parser.parse_args(argv)
    if args.calls < 50 or args.rounds < 1 or args.connections < 1:
        parser.error("--calls must be at least 50, --rounds and --connections at least 1")
    return asyncio.run(run(args.calls, args.rounds, args.connections))


if __name__ == "__main__":
    raise SystemExit(main())

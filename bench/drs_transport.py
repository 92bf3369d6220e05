"""CPU per DRS call: the bot's transport (httpx over aiohttp) against httpx's own.

Both send the same POST to the same loopback server (an aiohttp app in this process, so each
figure includes the server's share, which is the same for both) and read the same JSON
answer, one call at a time and fifty at once. The baseline is an ``httpx.AsyncClient`` with
its default transport and a pool as large as the bot's.

    .venv/bin/python bench/drs_transport.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import DRS_IN_FLIGHT
from bot.drs.transport import DrsTransport

ANSWER = b'{"results": [{"id": "job-1", "status": "success"}], "count": 1}'
EXPECTED = {"results": [{"id": "job-1", "status": "success"}], "count": 1}


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")


async def cpu_per_call(client: httpx.AsyncClient, url: str, calls: int, at_once: int) -> float:
    async def one() -> None:
        response = await client.post(url, content=b'{"jobs": []}')
        if response.status_code != 200 or response.json() != EXPECTED:
            raise RuntimeError(f"unexpected answer: {response.status_code} {response.text!r}")

    await asyncio.gather(*(one() for _ in range(at_once)))  # connections, imports
    started = time.process_time()
    for _ in range(calls // at_once):
        await asyncio.gather(*(one() for _ in range(at_once)))
    return (time.process_time() - started) / (calls // at_once * at_once)


async def run(calls: int, rounds: int) -> int:
    app = web.Application()
    app.router.add_post("/v3/p/jobs/batch-status", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/v3/p/jobs/batch-status"
    limits = httpx.Limits(max_connections=DRS_IN_FLIGHT, max_keepalive_connections=DRS_IN_FLIGHT)
    makers: dict[str, Callable[[], httpx.AsyncClient]] = {
        "httpx's own transport (baseline)": lambda: httpx.AsyncClient(limits=limits),
        "the bot's (httpx over aiohttp)": lambda: httpx.AsyncClient(
            transport=DrsTransport(max_in_flight=DRS_IN_FLIGHT)
        ),
    }
    print(
        f"CPU per DRS call in ms (client and loopback server together), median of {rounds} "
        f"rounds of {calls} calls"
    )
    print(f"{'transport':<36}{'1 at once':>12}{'50 at once':>12}")
    try:
        figures: dict[str, list[float]] = {}
        for name, make in makers.items():
            row = []
            for at_once in (1, 50):
                runs = []
                for _ in range(rounds):
                    async with make() as client:
                        runs.append(await cpu_per_call(client, url, calls, at_once))
                row.append(statistics.median(runs))
            figures[name] = row
            print(f"{name:<36}{row[0] * 1000:>12.3f}{row[1] * 1000:>12.3f}")
        base, ours = figures.values()
        print(f"{'ours / baseline':<36}{ours[0] / base[0]:>12.2f}{ours[1] / base[1]:>12.2f}")
    finally:
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round (2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (3)")
    args = parser.parse_args(argv)
    if args.calls < 50 or args.rounds < 1:
        parser.error("--calls must be at least 50 and --rounds at least 1")
    return asyncio.run(run(args.calls, args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())

"""The ack-latency baseline: a stock Bolt app whose listeners only acknowledge.

A Bolt ``AsyncApp`` as Bolt's documentation sets one up: ``process_before_response=False``,
Bolt's own listener runner and matchers, and Bolt's own aiohttp server
(``AsyncApp.server()``, whose handler reads a request with Bolt's aiohttp adapter,
``to_bolt_request``, and answers with ``to_aiohttp_response``). It has the bot's signing
secret and single-workspace authorization (one ``auth.test`` against the fake Slack, then
cached) and answers the kinds of request the bot answers (slash commands, block actions, view
submissions and closings, option loads) with a bare ``ack()``; nothing else.
``bench/ack_latency.py`` starts it as a separate process and sends it the very requests the
bot received.

The only additions: ``GET /healthz``, so the benchmark knows when it is up, and aiohttp's
access log off (the bot writes none either).

    PORT=3001 SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... SLACK_API_URL=http://.../api/ \
        .venv/bin/python bench/bare_ack.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal

from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

ANY = re.compile(".*")
PATH = "/slack/events"


def build(*, token: str, signing_secret: str, api_url: str, port: int = 0) -> web.Application:
    """The aiohttp application of Bolt's own server for a Bolt app that only acks."""
    client = AsyncWebClient(token=token, base_url=api_url, timeout=10)
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )

    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    app.command(ANY)(only_ack)
    app.action(ANY)(only_ack)
    app.view(ANY)(only_ack)
    app.options(ANY)(only_ack)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = app.server(port=port, path=PATH, host="127.0.0.1").web_app
    web_app.router.add_get("/healthz", healthz)
    return web_app


async def serve(port: int) -> None:
    web_app = build(
        token=os.environ["SLACK_BOT_TOKEN"],
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        api_url=os.environ["SLACK_API_URL"],
        port=port,
    )
    # What AsyncSlackAppServer.start() does (web.run_app), without the access log.
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(int(os.environ["PORT"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ack-latency baseline: a Bolt app whose listeners only acknowledge.

Same Bolt (``AsyncApp``, ``process_before_response=False``), Bolt's aiohttp adapter, same
request signing and the same single-workspace authorization (one ``auth.test`` against the
fake Slack, then cached) as the bot; nothing else. ``bench/ack_latency.py`` starts it as a
separate process and sends it the very requests the bot received.

    PORT=3001 SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... SLACK_API_URL=http://.../api/ \
        .venv/bin/python bench/bare_ack.py

With ``BARE_ACK_PROMPT=1`` it answers the way the bot does, as soon as a listener acks
(:mod:`bot.slack.runner`), instead of at Bolt's next 10 ms check; with ``BARE_ACK_INBOUND=1``
it reads requests the way the bot does (:mod:`bot.slack.inbound`: the signature first, yarl's
decoder) instead of with Bolt's adapter. With both, it is the baseline for what the bot's
listeners themselves cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.ackfirst import AckFirst
from bot.slack import inbound, runner

ANY = re.compile(".*")


def build(
    *, token: str, signing_secret: str, api_url: str, prompt: bool = False, lean: bool = False
) -> web.Application:
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
    if prompt:
        runner.install(app, AckFirst())

    verifier = SignatureVerifier(signing_secret)

    async def events(request: web.Request) -> web.Response:
        if lean:
            raw = await request.text()
            if not inbound.signed(verifier, raw, request.headers):
                return web.json_response({"error": "invalid request"}, status=401)
            bolt_request = inbound.bolt_request(raw, request.query_string, request.headers)
        else:
            bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    return web_app


async def serve(port: int) -> None:
    web_app = build(
        token=os.environ["SLACK_BOT_TOKEN"],
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        api_url=os.environ["SLACK_API_URL"],
        prompt=os.environ.get("BARE_ACK_PROMPT") == "1",
        lean=os.environ.get("BARE_ACK_INBOUND") == "1",
    )
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

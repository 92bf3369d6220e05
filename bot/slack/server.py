"""The HTTP surface: ``POST /slack/events`` into Bolt, ``GET /healthz``, ``GET /metrics``.

Hardening kept around Bolt's adapter, because Bolt reads a request's body before it checks
its signature:

* a body is read within :data:`BODY_READ_SECONDS` and at most :data:`MAX_BODY_BYTES`, else
  the connection is closed (a slow or huge sender holds nothing);
* the signature is checked on the raw body first (slack_sdk's own verifier), and a body Slack
  did not sign is refused unread with a 401 — except Slack's small ``ssl_check`` probe, which
  Bolt answers itself. This is the one check of the signature: the Bolt app's own is off
  (:func:`bot.slack.app.build_app`), since Bolt is given a decoded body (next point);
* an interactive payload (Slack posts it as a form with one field, ``payload``, holding JSON)
  is decoded here and handed to Bolt as that JSON text, which Bolt reads as it reads the
  Events API's JSON bodies (:func:`bolt_body`). Bolt would decode the form with the standard
  library's pure-Python ``parse_qsl``; with yarl's compiled query decoder (aiohttp's own
  URL library) an 11.6 kB start-modal submission costs the event loop 0.08 ms instead of
  0.42 ms, JSON decoding included (``bench/payload_decode.py``). In paired runs of
  ``bench/ack_latency.py --concurrency 50``, without it the goal (p99 within 1.5x of a stock
  Bolt app) was missed in one run of two (worst ratios 1.53, 1.46); with it, met in both
  (1.32, 1.35; start-form submissions p99 109 and 130 ms against 138 and 120 ms; tables in
  bench/README.md);
* a payload Bolt cannot read (not a Slack payload at all) is a 400, not a server error.

``/healthz`` answers 200 only if the bot can store a request now: it makes a real write
within :data:`HEALTH_WRITE_SECONDS` (a full disk, a read-only file, a lock held elsewhere
fail it).

``/metrics`` is the Prometheus text of :mod:`bot.slack.metrics`. In Socket Mode only
``/healthz`` and ``/metrics`` are served (:func:`status_app`): Slack's requests come over the
WebSocket, and an unsigned ``/slack/events`` must not exist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from yarl import URL

from bot.service.ports import StoreUnavailable
from bot.slack.instruments import RECEIVED_AT
from bot.slack.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Slack payloads are far smaller; anything bigger is refused
BODY_READ_SECONDS = 10.0  # a sender slower than this is cut off (Slack sends in milliseconds)
HEALTH_WRITE_SECONDS = 2.0  # /healthz fails when a write cannot be made in this time
SSL_CHECK_MAX = 512  # Slack's probe is ``ssl_check=1&token=...``: a few dozen bytes

Probe = Callable[[], Awaitable[None]]
Render = Callable[[], Awaitable[bytes]]  # the metrics' exposition text


def signed(verifier: SignatureVerifier, raw: str, headers: Mapping[str, str]) -> bool:
    """True if Slack signed ``raw`` within the last five minutes (what Bolt accepts)."""
    try:
        return verifier.is_valid_request(raw, headers)
    except ValueError:  # a timestamp that is not a number
        return False


def ssl_check(raw: str) -> bool:
    """Slack's certificate probe for slash commands, which Bolt answers without a signature
    (and without running any listener); a body too large to be one is not read to find out."""
    return len(raw) <= SSL_CHECK_MAX and dict(parse_qsl(raw)).get("ssl_check") == "1"


def bolt_body(raw: str) -> str:
    """What Bolt is given for the signed form ``raw``: the JSON of its ``payload`` field when
    that is its only field (an interactive payload), decoded with yarl's query decoder
    (``+`` and ``%XX`` as forms encode them); else ``raw`` itself (slash commands, the
    ``ssl_check`` probe, JSON bodies, anything odd), which Bolt decodes as it always does."""
    if not raw.startswith("payload="):
        return raw
    try:
        fields = URL.build(query_string=raw, encoded=True).query
    except ValueError:
        return raw
    if len(fields) != 1:
        return raw
    payload = fields.get("payload", "")
    return payload if payload.startswith("{") else raw


def web_app(
    app: AsyncApp, *, signing_secret: str | None, probe: Probe, metrics: Render | None = None
) -> web.Application:
    """The aiohttp application: Slack's requests into ``app``; ``probe`` makes the health
    check's write (raising :class:`~bot.service.ports.StoreUnavailable`); ``metrics`` gives
    the text of ``/metrics``."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def events(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(BODY_READ_SECONDS):
                raw = await request.text()
        except TimeoutError:
            log.warning("dropped a request whose body took over %.1f s", BODY_READ_SECONDS)
            return _closing(web.json_response({"ok": False, "error": "too slow"}, status=408))
        except web.HTTPRequestEntityTooLarge:
            return _closing(web.json_response({"ok": False, "error": "too large"}, status=413))
        except (UnicodeDecodeError, LookupError):  # not text in its (or an unknown) charset
            return web.json_response({"ok": False, "error": "malformed payload"}, status=400)
        unsigned = verifier is not None and not signed(verifier, raw, request.headers)
        if unsigned and not ssl_check(raw):
            # Refused unread: anyone can send a body, only Slack can sign one.
            return web.json_response({"error": "invalid request"}, status=401)
        received = time.perf_counter()  # the ack latency is measured from here
        try:
            bolt_request = AsyncBoltRequest(
                body=bolt_body(raw),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]  # as Bolt's adapter passes
                context={RECEIVED_AT: received},
            )
            bolt_response = await app.async_dispatch(bolt_request)
        except Exception:
            # Bolt chokes on some bodies that are no Slack payload (a bare string, JSON that
            # is not an object, keys it indexes missing): that is a bad request, not a server
            # error. Only signed requests get this far.
            log.warning("refused a malformed Slack payload", exc_info=True)
            return web.json_response({"ok": False, "error": "malformed payload"}, status=400)
        return await to_aiohttp_response(bolt_response)

    application = status_app(probe=probe, metrics=metrics)
    application.router.add_post("/slack/events", events)
    return application


def status_app(*, probe: Probe, metrics: Render | None = None) -> web.Application:
    """``GET /healthz`` and (with ``metrics``) ``GET /metrics``: all Socket Mode serves."""

    async def healthz(_: web.Request) -> web.Response:
        try:
            await probe()
        except StoreUnavailable as exc:
            log.warning("health check: the database cannot take a write: %s", exc)
            return web.json_response({"ok": False, "database": str(exc)}, status=503)
        return web.json_response({"ok": True})

    application = web.Application(client_max_size=MAX_BODY_BYTES)
    application.router.add_get("/healthz", healthz)
    if metrics is not None:
        render = metrics

        async def scrape(_: web.Request) -> web.Response:
            response = web.Response(body=await render())
            response.headers["Content-Type"] = CONTENT_TYPE
            return response

        application.router.add_get("/metrics", scrape)
    return application


def _closing(response: web.Response) -> web.Response:
    """Close the connection after this answer: its unread body makes it unusable."""
    response.force_close()
    return response


async def serve(application: web.Application, *, host: str, port: int) -> web.AppRunner:
    """Serve ``application``; with ``port=0`` the chosen port is in ``runner.addresses``."""
    # lingering_time: after refusing a request, read the rest of its body for at most 1 s
    # (aiohttp's default 10 s would let slow senders hold connections that long).
    runner = web.AppRunner(application, access_log=None, lingering_time=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    return runner


def bound_url(runner: web.AppRunner) -> str:
    """``http://host:port`` of the first socket ``runner`` listens on."""
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"

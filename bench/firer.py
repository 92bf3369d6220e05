"""Sends bursts of signed Slack requests and times each answer, in a process of its own.

The load generator's clock must not wait on the fake Slack or the driver, which share the
benchmark's event loop: this process does nothing but send. It reads one JSON line per burst
on stdin, ``{"url": ..., "requests": [{"body": base64, "type": content type}, ...]}``, signs
every body with ``SLACK_SIGNING_SECRET`` and the current time, posts them all at once over
keep-alive connections, and writes one JSON line back: ``{"results": [{"status", "elapsed",
"text"}, ...]}`` in request order (``status`` 0 when no answer came within ``ACK_TIMEOUT``
seconds). ``elapsed`` runs from handing the request to the connection pool to having read the
whole answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import sys
import time
from typing import Any

import aiohttp

ACK_TIMEOUT = 10.0


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return "v0=" + hmac.new(secret, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


async def post(
    session: aiohttp.ClientSession, url: str, secret: bytes, body: bytes, content_type: str
) -> dict[str, Any]:
    ts = int(time.time())
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(secret, ts, body),
    }
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            text = await resp.text()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError):
        return {"status": 0, "elapsed": time.perf_counter() - started, "text": ""}
    return {"status": status, "elapsed": time.perf_counter() - started, "text": text}


async def serve() -> None:
    secret = os.environ["SLACK_SIGNING_SECRET"].encode()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=ACK_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while line := await reader.readline():
            burst = json.loads(line)
            results = await asyncio.gather(
                *(
                    post(session, burst["url"], secret, base64.b64decode(r["body"]), r["type"])
                    for r in burst["requests"]
                )
            )
            sys.stdout.write(json.dumps({"results": results}) + "\n")
            sys.stdout.flush()


def main() -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

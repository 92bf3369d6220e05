"""The transport under the DRS and IAM calls: httpx's interface, aiohttp's connections.

``DrsClient`` speaks httpx (requests, timeouts, the exception classes its outcome rules are
written against); this transport carries the calls over an ``aiohttp`` connection pool, which
the bot already has for Slack. Per call it costs a fraction of the CPU of httpx's own stack
(httpcore's pure-Python HTTP parser, and pool bookkeeping that grows with the pool's size and
queue): a half to three quarters with one call at a time, a tenth to a sixth with fifty at
once (``bench/drs_transport.py``).

What the exception rules rely on is kept exact, erring towards "may have been processed":

* ``httpx.PoolTimeout``: no slot in time; at most ``max_in_flight`` calls are in flight and the
  rest wait, for the request's pool timeout. The body never left.
* ``httpx.ConnectError`` / ``httpx.ConnectTimeout``: the connection could not be made (aiohttp
  raises these only before it writes the request). The body never left.
* ``httpx.ReadTimeout``: sent, no complete answer within the read timeout.
* ``httpx.RemoteProtocolError``: anything else, including a connection closed after the
  request was written. aiohttp re-sends only idempotent methods; DRS calls are POSTs.

Redirects are not followed. Each answer's body is read here whole (undecoded: httpx decodes
it), then the slot is freed, then ``give_way`` (if given) is awaited, so the caller's work on
the answer can wait while the bot answers Slack (:mod:`bot.ackfirst`). ``HTTPS_PROXY``,
``HTTP_PROXY`` and ``NO_PROXY`` from the environment are honoured, as httpx's default
transport does.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import httpx


class DrsTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        max_in_flight: int,
        give_way: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self._max = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._ssl = httpx.create_ssl_context()  # the CA bundle httpx would use
        self._give_way = give_way
        self._proxies = urllib.request.getproxies_environment()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the running loop
            connector = aiohttp.TCPConnector(limit=self._max, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    def _proxy_for(self, url: httpx.URL) -> str | None:
        proxy = self._proxies.get(url.scheme)
        if proxy is None or urllib.request.proxy_bypass(url.host):  # NO_PROXY
            return None
        return proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._give_way is not None:
            await self._give_way()
        timeouts = request.extensions.get("timeout") or {}
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free DRS connection in time", request=request) from None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            with _as_httpx_errors(request):
                async with self._client().request(
                    request.method,
                    str(request.url),
                    headers=headers,
                    data=request.content or None,
                    allow_redirects=False,
                    proxy=self._proxy_for(request.url),
                    timeout=aiohttp.ClientTimeout(
                        total=None,
                        sock_connect=timeouts.get("connect"),
                        sock_read=timeouts.get("read"),
                    ),
                ) as answer:
                    body = await answer.read()
                    status, answer_headers = answer.status, list(answer.raw_headers)
        finally:
            self._slots.release()
        if self._give_way is not None:
            await self._give_way()
        return httpx.Response(status, headers=answer_headers, content=body, request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@contextlib.contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        # Raised while connecting, before a byte of the request was written.
        kind = (
            httpx.ConnectTimeout
            if isinstance(exc, aiohttp.ConnectionTimeoutError)
            else httpx.ConnectError
        )
        raise kind(str(exc), request=request) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout(str(exc), request=request) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc

"""The process-wide HTTP client that DRS and IAM calls go over: httpx's own transport.

:func:`new_http_client` is what a composition root calls once per process. What the outcome
rules in :mod:`bot.drs.calls` and :mod:`bot.drs.starting` rely on, and where it comes from:

* At most ``max_connections`` calls are in flight per route (direct, or through one proxy);
  as many connections are kept alive between calls. A call that finds none free waits for one,
  for the pool timeout, and then fails with ``httpx.PoolTimeout``: its body never left.
* Nothing is ever re-sent by the transport: httpx's ``AsyncHTTPTransport`` is built with
  ``retries=0`` (its default, which retries only failed connection attempts anyway), and
  redirects are not followed. Starting jobs is not idempotent.
* A connect failure or connect timeout means nothing was written; a read or write timeout, or
  a connection lost after the request was written, means it may have been processed.
* ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY`` from the environment are honoured (httpx
  does so only for the transport it builds itself, which is why the limits are handed to the
  client rather than to a transport made here).
"""

from __future__ import annotations

import httpx

__all__ = ["new_http_client"]


def new_http_client(
    *,
    read_timeout: float,
    max_connections: int,
    connect_timeout: float = 5.0,
    write_timeout: float = 10.0,
    pool_timeout: float = 10.0,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for :class:`bot.drs.DrsClient` and :class:`bot.drs.IamTokenAuth`.

    ``read_timeout`` bounds the wait for DRS's answer once a call was sent; ``pool_timeout`` the
    wait for a free connection. Close it with ``aclose()`` when the process stops.
    """
    if max_connections < 1:
        raise ValueError("max_connections must be >= 1")
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    timeout = httpx.Timeout(
        connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout
    )
    # limits= makes the client build httpx.AsyncHTTPTransport(limits=limits) itself, with
    # retries=0, and the same for each proxy from the environment.
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)

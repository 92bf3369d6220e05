"""Huawei Cloud DRS: the async client, its authentication and its errors.

Build one ``httpx.AsyncClient`` per process with :func:`new_http_client` (httpx's own
transport: explicit timeouts, a bound on connections, nothing re-sent), one authenticator per
project (:class:`AkSkAuth` or :class:`IamTokenAuth`, both ``httpx.Auth`` flows) and one
:class:`DrsClient` per project::

    http = new_http_client(read_timeout=30, max_connections=50)
    client = DrsClient(http=http, endpoint=default_endpoint("cn-north-4"),
                       project_id=pid, auth=AkSkAuth(ak, sk, pid))

Callers see only :class:`DrsError` subclasses, never ``httpx`` exceptions.
"""

from __future__ import annotations

from bot.drs.auth import AkSkAuth, Authenticator, IamTokenAuth
from bot.drs.calls import InFlight
from bot.drs.client import DrsClient
from bot.drs.connections import new_http_client
from bot.drs.errors import (
    DrsAuthError,
    DrsBadRequestError,
    DrsError,
    DrsProtocolError,
    DrsServerError,
    DrsThrottledError,
    DrsTimeoutError,
    DrsTransportError,
)

__all__ = [
    "AkSkAuth",
    "Authenticator",
    "DrsAuthError",
    "DrsBadRequestError",
    "DrsClient",
    "DrsError",
    "DrsProtocolError",
    "DrsServerError",
    "DrsThrottledError",
    "DrsTimeoutError",
    "DrsTransportError",
    "IamTokenAuth",
    "InFlight",
    "default_endpoint",
    "default_iam_endpoint",
    "new_http_client",
]

# Regions served under Huawei Cloud Europe's own domain.
_EU_DOMAIN_REGIONS = frozenset({"eu-west-101"})


def default_endpoint(region: str) -> str:
    """``https://drs.{region}.myhuaweicloud.com`` (``.eu`` for eu-west-101)."""
    return _endpoint("drs", region)


def default_iam_endpoint(region: str) -> str:
    """``https://iam.{region}.myhuaweicloud.com`` (``.eu`` for eu-west-101)."""
    return _endpoint("iam", region)


def _endpoint(service: str, region: str) -> str:
    if not region or not all(c.isalnum() or c == "-" for c in region):
        raise ValueError(f"invalid region {region!r}")
    domain = "myhuaweicloud.eu" if region in _EU_DOMAIN_REGIONS else "myhuaweicloud.com"
    return f"https://{service}.{region}.{domain}"

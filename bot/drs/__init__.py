"""Huawei Cloud DRS: the async client, its authentication and its errors.

Build one ``httpx.AsyncClient`` per process (explicit timeouts, e.g.
``httpx.Timeout(connect=5, read=30, write=10, pool=10)``; the bot's runs over
:class:`bot.drs.transport.DrsTransport`), one authenticator per project
(:class:`AkSkAuth` or :class:`IamTokenAuth`) and one :class:`DrsClient` per project::

    client = DrsClient(http=http, endpoint=default_endpoint("cn-north-4"),
                       project_id=pid, auth=AkSkAuth(ak, sk, pid))

Callers see only :class:`DrsError` subclasses, never ``httpx`` exceptions.
"""

from __future__ import annotations

from bot.drs.auth import AkSkAuth, Authenticator, IamTokenAuth
from bot.drs.client import DrsClient
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
    "default_endpoint",
    "default_iam_endpoint",
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

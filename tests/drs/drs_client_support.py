"""Shared helpers for the DRS client tests: credentials, a recording MockTransport handler,
and verification of a received request's signature with Huawei's own SDK signer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from bot.core.secret import Secret
from bot.drs.auth import AkSkAuth, Authenticator
from bot.drs.client import DrsClient
from bot.drs.signer import parse_authorization

AK_TEXT = "HPUAKTESTEXAMPLE0001"
SK_TEXT = "sk-SECRET-do-not-leak-9f8e7d6c5b4a"
AK = Secret(AK_TEXT)
SK = Secret(SK_TEXT)
PROJECT = "0123456789abcdef0123456789abcdef"
ENDPOINT = "https://drs.cn-north-4.myhuaweicloud.com"
FIXED_NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

JOB_A = "9a470239-2308-4bb5-a6bc-1040402fjb21"
JOB_B = "dbb8127c-b093-4b94-b764-7161e151jb2s"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def job_ids(n: int, prefix: str = "job") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(n)]


def aksk() -> AkSkAuth:
    return AkSkAuth(AK, SK, PROJECT, clock=lambda: FIXED_NOW)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def sent_ids(request: httpx.Request) -> list[str]:
    jobs = body_of(request)["jobs"]
    return [j["job_id"] if isinstance(j, dict) else j for j in jobs]


def start_ok(request: httpx.Request, *, key: str = "results") -> httpx.Response:
    ids = sent_ids(request)
    results = [{"id": i, "status": "success"} for i in ids]
    return httpx.Response(
        202, json={key: results, "count": len(results)}, headers={"X-Request-Id": "req-ok"}
    )


def error(status: int, code: str, msg: str, **headers: str) -> httpx.Response:
    hdrs = {"X-Request-Id": f"req-{status}", **headers}
    return httpx.Response(status, json={"error_code": code, "error_msg": msg}, headers=hdrs)


class Recorder:
    """MockTransport handler: records requests, measures concurrency, delegates answers."""

    def __init__(
        self,
        respond: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]],
        *,
        hold: float = 0.0,
    ) -> None:
        self.respond = respond
        self.hold = hold
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            answer = self.respond(request)
            if isinstance(answer, Awaitable):
                answer = await answer
            return answer
        finally:
            self.in_flight -= 1

    def posts(self, path_suffix: str = "") -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(path_suffix)]


class Sleeps:
    """Injectable sleep that records the pauses and returns at once."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@asynccontextmanager
async def drs_client(
    handler: Callable[[httpx.Request], Any],
    *,
    auth: Authenticator | None = None,
    **kwargs: Any,
) -> AsyncIterator[DrsClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        yield DrsClient(
            http=http,
            endpoint=ENDPOINT,
            project_id=PROJECT,
            auth=auth if auth is not None else aksk(),
            **kwargs,
        )


def sdk_signature_matches(request: httpx.Request, ak: str = AK_TEXT, sk: str = SK_TEXT) -> bool:
    """Recompute the request's signature with huaweicloudsdkcore's Signer and compare."""
    parsed = parse_authorization(request.headers["Authorization"])
    assert parsed is not None
    got_ak, names, signature = parsed
    assert got_ak == ak
    headers = {name: request.headers[name] for name in names}
    sdk_request = SdkRequest(
        method=request.method,
        schema=request.url.scheme,
        host=request.headers["Host"],
        resource_path=request.url.raw_path.split(b"?")[0].decode(),
        query_params=parse_qsl(request.url.query.decode(), keep_blank_values=True),
        header_params=headers,
        body=request.content,
    )
    Signer(BasicCredentials(ak, sk)).sign(sdk_request)
    expected = parse_authorization(sdk_request.header_params["Authorization"])
    assert expected is not None
    return expected[1] == names and expected[2] == signature

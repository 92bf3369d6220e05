"""Helpers for the simulator tests: a settable clock, request bodies, and AK/SK signing done
by Huawei's own SDK signer (code this project did not write)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DrsSimulator

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
PID = DEFAULT_PROJECT_ID
JOB_A = "9a470239-2308-4bb5-a6bc-1040402fjb21"
JOB_B = "dbb8127c-b093-4b94-b764-7161e151jb2s"
MISSING = "00000000-0000-4000-8000-00000000jb99"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def path(endpoint: str, project_id: str = PID) -> str:
    return f"/v3/{project_id}/jobs" + ("" if endpoint == "list" else f"/{endpoint}")


def start_body(*ids: str, start_time: str | None = None) -> dict[str, Any]:
    jobs: list[dict[str, str]] = []
    for job_id in ids:
        entry = {"job_id": job_id}
        if start_time is not None:
            entry["start_time"] = start_time
        jobs.append(entry)
    return {"jobs": jobs}


def query_body(*ids: str, cur_page: int = 1, per_page: int = 100) -> dict[str, Any]:
    return {"jobs": list(ids), "page_req": {"cur_page": cur_page, "per_page": per_page}}


def sdk_signed_headers(
    method: str,
    url: str,
    body: bytes,
    *,
    ak: str = DEFAULT_AK,
    sk: str = DEFAULT_SK,
    project_id: str | None = PID,
    when: datetime | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers signed by huaweicloudsdkcore's Signer, as the SDK sends them."""
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", **(extra or {})}
    if project_id is not None:
        headers["X-Project-Id"] = project_id
    if when is not None:
        headers["X-Sdk-Date"] = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    request = SdkRequest(
        method=method,
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=parts.path,
        uri=parts.path,
        query_params=parse_qsl(parts.query),
        header_params=headers,
        body=body,
    )
    Signer(BasicCredentials(ak, sk, project_id)).sign(request)
    return dict(request.header_params)


@asynccontextmanager
async def running(sim: DrsSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``sim`` and yield an httpx client pointed at it; stop both afterwards."""
    async with sim, httpx.AsyncClient(base_url=sim.url, timeout=10.0) as client:
        yield client


async def signed_post(
    client: httpx.AsyncClient, url_path: str, body: bytes, **sign: Any
) -> httpx.Response:
    url = f"{client.base_url}".rstrip("/") + url_path
    headers = sdk_signed_headers("POST", url, body, **sign)
    return await client.post(url_path, content=body, headers=headers)

"""Our requests against Huawei's own SDK: same wire format, signatures it accepts.

A loopback aiohttp server records what huaweicloudsdkdrs.v3.DrsClient sends and what our
client sends for the same operation; huaweicloudsdkcore's Signer re-signs what we sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from drs_client_support import (
    AK,
    AK_TEXT,
    JOB_A,
    JOB_B,
    PROJECT,
    SK,
    SK_TEXT,
    Recorder,
    body_of,
    drs_client,
    sdk_signature_matches,
    start_ok,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkdrs.v3 import (
    BatchListJobDetailsRequest,
    BatchListJobStatusRequest,
    BatchQueryJobReqPage,
    BatchStartJobReq,
    BatchStartJobsRequest,
    PageReq,
    QueryJobsReq,
    ShowJobListRequest,
    StartInfo,
)
from huaweicloudsdkdrs.v3 import DrsClient as SdkDrsClient

from bot.drs import AkSkAuth, DrsClient
from bot.drs.signer import parse_authorization, signature_for

SEED_START_MS = 1599202771816


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class Capture:
    """A loopback DRS that records every request and answers plausibly."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            Seen(request.method, request.path, request.query_string, dict(request.headers), body)
        )
        payload = json.loads(body) if body else {}
        path = request.path
        if path.endswith("/batch-starting"):
            results = [{"id": j["job_id"], "status": "success"} for j in payload["jobs"]]
            return web.json_response({"results": results, "count": len(results)}, status=202)
        if path.endswith("/batch-status") or path.endswith("/batch-detail"):
            results = [{"id": j, "status": "CONFIGURATION"} for j in payload["jobs"]]
            return web.json_response({"results": results, "count": len(results)})
        return web.json_response({"total_record": 0, "jobs": []})


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    cap = Capture()
    app = web.Application()
    app.router.add_post("/{tail:.*}", cap.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    cap.base = f"http://{host}:{port}"
    try:
        yield cap
    finally:
        await runner.cleanup()


def sdk_client(base: str) -> Any:
    return (
        SdkDrsClient.new_builder()
        .with_credentials(BasicCredentials(AK_TEXT, SK_TEXT, PROJECT))
        .with_endpoints([base])
        .build()
    )


async def ours_and_sdks(
    capture: Capture,
    ours: Callable[[DrsClient], Any],
    sdk: Callable[[Any], Any],
) -> tuple[Seen, Seen]:
    async with httpx.AsyncClient() as http:
        client = DrsClient(
            http=http, endpoint=capture.base, project_id=PROJECT, auth=AkSkAuth(AK, SK, PROJECT)
        )
        await ours(client)
    await asyncio.to_thread(sdk, sdk_client(capture.base))
    ours_seen, sdk_seen = capture.seen
    return ours_seen, sdk_seen


def assert_same_request(ours: Seen, sdk: Seen) -> None:
    assert ours.method == sdk.method
    assert ours.path == sdk.path
    assert ours.query == sdk.query
    assert json.loads(ours.body) == json.loads(sdk.body)
    for name in ("Content-Type", "X-Language", "X-Project-Id"):
        assert ours.headers.get(name) == sdk.headers.get(name), name


def assert_signature_verifies_with_ours(seen: Seen) -> None:
    parsed = parse_authorization(seen.headers["Authorization"])
    assert parsed is not None
    ak, names, signature = parsed
    assert ak == AK_TEXT
    recomputed = signature_for(
        seen.method,
        seen.path,
        seen.query,
        seen.headers,
        names,
        seen.body,
        SK,
        seen.headers["X-Sdk-Date"],
    )
    assert recomputed == signature


async def test_seed_batch_start_equals_the_sdk_request(capture: Capture) -> None:
    def sdk(client: Any) -> Any:
        body = BatchStartJobReq(
            jobs=[StartInfo(job_id=JOB_A), StartInfo(job_id=JOB_B, start_time=str(SEED_START_MS))]
        )
        return client.batch_start_jobs(BatchStartJobsRequest(x_language="en-us", body=body))

    ours, theirs = await ours_and_sdks(
        capture,
        lambda c: c.batch_start([JOB_A, JOB_B], job_start_times_ms={JOB_B: SEED_START_MS}),
        sdk,
    )
    assert_same_request(ours, theirs)
    assert json.loads(ours.body) == {
        "jobs": [{"job_id": JOB_A}, {"job_id": JOB_B, "start_time": "1599202771816"}]
    }
    assert ours.path == f"/v3/{PROJECT}/jobs/batch-starting"
    assert ours.headers["Content-Type"] == "application/json"
    assert ours.headers["X-Language"] == "en-us"
    # each side's signature is accepted by the other side's implementation
    assert_signature_verifies_with_ours(theirs)
    assert_signature_verifies_with_ours(ours)


async def test_batch_start_for_all_now_and_all_scheduled_equal_the_sdk(capture: Capture) -> None:
    def sdk(client: Any) -> Any:
        for start in (None, str(SEED_START_MS)):
            jobs = [StartInfo(job_id=j, start_time=start) for j in (JOB_A, JOB_B)]
            request = BatchStartJobsRequest(x_language="zh-cn", body=BatchStartJobReq(jobs=jobs))
            client.batch_start_jobs(request)

    async with httpx.AsyncClient() as http:
        client = DrsClient(
            http=http, endpoint=capture.base, project_id=PROJECT, auth=AkSkAuth(AK, SK, PROJECT)
        )
        await client.batch_start([JOB_A, JOB_B], language="zh-cn")
        await client.batch_start([JOB_A, JOB_B], language="zh-cn", start_time_ms=SEED_START_MS)
    await asyncio.to_thread(sdk, sdk_client(capture.base))
    ours_now, ours_later, sdk_now, sdk_later = capture.seen
    assert_same_request(ours_now, sdk_now)
    assert_same_request(ours_later, sdk_later)


@pytest.mark.parametrize("operation", ["status", "detail"])
async def test_batch_queries_equal_the_sdk_request(capture: Capture, operation: str) -> None:
    def sdk(client: Any) -> Any:
        body = BatchQueryJobReqPage(jobs=[JOB_A, JOB_B], page_req=PageReq(cur_page=1, per_page=100))
        if operation == "status":
            return client.batch_list_job_status(
                BatchListJobStatusRequest(x_language="en-us", body=body)
            )
        return client.batch_list_job_details(
            BatchListJobDetailsRequest(x_language="en-us", body=body)
        )

    async def ours(client: DrsClient) -> Any:
        if operation == "status":
            return await client.batch_status([JOB_A, JOB_B])
        return await client.batch_detail([JOB_A, JOB_B])

    mine, theirs = await ours_and_sdks(capture, ours, sdk)
    assert_same_request(mine, theirs)


async def test_job_list_equals_the_sdk_request(capture: Capture) -> None:
    def sdk(client: Any) -> Any:
        body = QueryJobsReq(cur_page=1, per_page=100, db_use_type="migration", name="orders")
        return client.show_job_list(ShowJobListRequest(x_language="en-us", body=body))

    mine, theirs = await ours_and_sdks(capture, lambda c: c.list_jobs(name="orders"), sdk)
    assert_same_request(mine, theirs)


async def test_every_request_we_sign_is_accepted_by_the_sdk_signer() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert sdk_signature_matches(request)
        if request.url.path.endswith("/batch-starting"):
            return start_ok(request)
        if request.url.path.endswith("/jobs"):
            return httpx.Response(200, json={"total_record": 0, "jobs": []})
        results = [{"id": j, "status": "CONFIGURATION"} for j in body_of(request)["jobs"]]
        return httpx.Response(200, json={"results": results})

    rec = Recorder(answer)
    async with drs_client(rec, chunk_size=3) as client:
        await client.batch_start([f"j{i}" for i in range(7)], start_time_ms=SEED_START_MS)
        await client.batch_start(["ünïcode-id", "a b"], language="zh-cn")
        await client.batch_status([JOB_A, JOB_B])
        await client.batch_detail([JOB_A])
        await client.list_jobs(name="名字 with spaces", status="CONFIGURATION")
    assert len(rec.requests) == 3 + 1 + 1 + 1 + 1
    assert all(sdk_signature_matches(r) for r in rec.requests)


async def test_requests_over_real_loopback_are_signed_with_the_port_in_host(
    capture: Capture,
) -> None:
    async with httpx.AsyncClient() as http:
        client = DrsClient(
            http=http, endpoint=capture.base, project_id=PROJECT, auth=AkSkAuth(AK, SK, PROJECT)
        )
        await client.batch_start([JOB_A])
    (seen,) = capture.seen
    assert seen.headers["Host"] == capture.base.removeprefix("http://")
    assert_signature_verifies_with_ours(seen)

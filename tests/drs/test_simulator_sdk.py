"""Huawei's own DRS SDK against the simulator: its signer, its requests, its models.

The SDK is synchronous, so the simulator runs in a SimulatorThread; no region is configured,
so the SDK never calls IAM and signs every request with AK/SK.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from drs_sim_support import JOB_A, JOB_B, MISSING, PID
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkdrs.v3 import (
    BatchListJobDetailsRequest,
    BatchListJobStatusRequest,
    BatchQueryJobReqPage,
    BatchStartJobReq,
    BatchStartJobsRequest,
    DrsClient,
    PageReq,
    QueryJobsReq,
    ShowJobListRequest,
    StartInfo,
)

from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_SK, DrsSimulator, SimulatorThread

PAID = "b71d5e3c-9a2f-4c8e-a1b4-6e3f9d2ajb03"
GONE = "d2f8b4a1-6c3e-4b9d-8a7f-1e4c6b9djb05"


@pytest.fixture
def served() -> Iterator[tuple[DrsSimulator, str]]:
    sim = DrsSimulator(start_delay=0.0)
    sim.add_job(JOB_A, name="mig-a")
    sim.add_job(JOB_B, name="mig-b")
    sim.add_job(PAID, name="sync-yearly", prepaid=True, db_use_type="sync")
    sim.add_job(GONE, name="old", status="DELETED")
    with SimulatorThread(sim) as url:
        yield sim, url


def _client(url: str, sk: str = DEFAULT_SK) -> DrsClient:
    config = HttpConfig.get_default_config()
    config.timeout = (2, 5)
    return (
        DrsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(DEFAULT_AK, sk, PID))
        .with_endpoints([url])
        .build()
    )


def _start(*ids: str) -> BatchStartJobsRequest:
    return BatchStartJobsRequest(body=BatchStartJobReq(jobs=[StartInfo(job_id=i) for i in ids]))


def test_sdk_starts_jobs_and_reads_every_success(served: tuple[DrsSimulator, str]) -> None:
    sim, url = served
    answer = _client(url).batch_start_jobs(_start(JOB_A, JOB_B))
    assert answer.count == 2
    assert [(r.id, r.status) for r in answer.results] == [(JOB_A, "success"), (JOB_B, "success")]
    assert sim.calls[-1].auth == "aksk"
    assert sim.job(JOB_A).status == "FULL_TRANSFER_STARTED"  # start_delay 0


def test_sdk_reads_per_job_failures(served: tuple[DrsSimulator, str]) -> None:
    _, url = served
    client = _client(url)
    client.batch_start_jobs(_start(JOB_A))
    answer = client.batch_start_jobs(_start(PAID, MISSING, GONE, JOB_A))
    by_id = {r.id: r for r in answer.results}
    assert by_id[PAID].status == "success"
    assert (by_id[JOB_A].status, by_id[JOB_A].error_code) == ("failed", "DRS.M00304")
    assert (by_id[MISSING].status, by_id[MISSING].error_code) == ("failed", "DRS.M05003")
    assert (by_id[GONE].status, by_id[GONE].error_code) == ("failed", "DRS.M05004")
    assert by_id[GONE].error_msg


def test_sdk_raises_on_a_400_body(served: tuple[DrsSimulator, str]) -> None:
    _, url = served
    with pytest.raises(ClientRequestException) as caught:
        _client(url).batch_start_jobs(_start("not-a-drs-id"))
    assert caught.value.status_code == 400
    assert caught.value.error_code == "DRS.M00202"
    assert caught.value.request_id


def test_sdk_raises_on_a_bad_signature(served: tuple[DrsSimulator, str]) -> None:
    _, url = served
    with pytest.raises(ClientRequestException) as caught:
        _client(url, sk="not-the-key").batch_start_jobs(_start(JOB_A))
    assert caught.value.status_code == 401
    assert caught.value.error_code == "APIGW.0301"


def test_sdk_parses_status_detail_and_list(served: tuple[DrsSimulator, str]) -> None:
    _, url = served
    client = _client(url)
    client.batch_start_jobs(_start(PAID))
    query = BatchQueryJobReqPage(jobs=[PAID, MISSING], page_req=PageReq(cur_page=1, per_page=10))
    status = client.batch_list_job_status(BatchListJobStatusRequest(body=query))
    assert status.count == 2
    assert status.results[1].error_code == "DRS.M05003"
    detail = client.batch_list_job_details(BatchListJobDetailsRequest(body=query))
    paid = detail.results[0]
    assert paid.name == "sync-yearly"
    assert paid.period_order.order_id.startswith("CS")
    assert paid.period_order.status == "COMPLETED"
    listed = client.show_job_list(
        ShowJobListRequest(body=QueryJobsReq(cur_page=1, per_page=10, db_use_type="sync"))
    )
    assert listed.total_record == 1
    assert listed.jobs[0].id == PAID

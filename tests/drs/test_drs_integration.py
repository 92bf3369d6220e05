"""DrsClient against the DRS + IAM simulator on loopback: real HTTP, real signatures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from drs_client_support import Sleeps

from bot.core.model import CallFailureKind, Outcome
from bot.core.secret import Secret
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DEMO_USER, DrsSimulator
from bot.drs import AkSkAuth, DrsClient, IamTokenAuth

STARTABLE = "3f2a9c1e-7b4d-4e8a-9c2f-5d1e0a7bjb01"
INCREMENTAL = "8c4e2b7a-1d3f-4a6b-8e9c-2f7d5a1cjb02"
PREPAID = "b71d5e3c-9a2f-4c8e-a1b4-6e3f9d2ajb03"
RUNNING = "4e9a1c7f-2b8d-4f3a-b6e1-9c5d3a8fjb04"
DELETED = "d2f8b4a1-6c3e-4b9d-8a7f-1e4c6b9djb05"
UNKNOWN_ID = "00000000-0000-4000-8000-00000000jb99"


@pytest.fixture
async def sim() -> AsyncIterator[DrsSimulator]:
    simulator = DrsSimulator(start_delay=2.0)
    simulator.seed_demo()
    async with simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(connect=5, read=5, write=5, pool=5)
    async with httpx.AsyncClient(timeout=timeout) as client:
        yield client


def aksk_client(
    sim: DrsSimulator, http: httpx.AsyncClient, sk: str = DEFAULT_SK, **kwargs: object
) -> DrsClient:
    auth = AkSkAuth(Secret(DEFAULT_AK), Secret(sk), DEFAULT_PROJECT_ID)
    return DrsClient(
        http=http,
        endpoint=sim.url,
        project_id=DEFAULT_PROJECT_ID,
        auth=auth,
        **kwargs,  # type: ignore[arg-type]
    )


def token_client(sim: DrsSimulator, http: httpx.AsyncClient) -> DrsClient:
    user, password, domain = DEMO_USER
    auth = IamTokenAuth(
        http=http,
        iam_endpoint=sim.url,
        user=user,
        password=Secret(password),
        domain=domain,
        project_id=DEFAULT_PROJECT_ID,
    )
    return DrsClient(http=http, endpoint=sim.url, project_id=DEFAULT_PROJECT_ID, auth=auth)


@pytest.mark.parametrize("auth", ["aksk", "token"])
async def test_list_detail_start_status(
    sim: DrsSimulator, http: httpx.AsyncClient, auth: str
) -> None:
    client = aksk_client(sim, http) if auth == "aksk" else token_client(sim, http)

    listed = await client.list_jobs()
    assert {STARTABLE, INCREMENTAL, RUNNING} <= {j.job_id for j in listed}
    assert all(j.db_use_type == "migration" for j in listed)
    assert [j.job_id for j in await client.list_jobs(db_use_type="sync")] == [PREPAID]

    startable, prepaid, unknown = await client.batch_detail([STARTABLE, PREPAID, UNKNOWN_ID])
    assert (startable.name, startable.status, startable.prepaid) == (
        "mig-orders-prod",
        "CONFIGURATION",
        False,
    )
    assert prepaid.prepaid is True
    assert (unknown.status, unknown.error_code) == (None, "DRS.M05003")

    ids = [STARTABLE, INCREMENTAL, RUNNING, DELETED, UNKNOWN_ID]
    report = await client.batch_start(ids)
    assert [(r.job_id, r.outcome, r.error_code) for r in report.results] == [
        (STARTABLE, Outcome.SUCCESS, None),
        (INCREMENTAL, Outcome.SUCCESS, None),
        (RUNNING, Outcome.FAILED, "DRS.M00304"),
        (DELETED, Outcome.FAILED, "DRS.M05004"),
        (UNKNOWN_ID, Outcome.FAILED, "DRS.M05003"),
    ]
    assert report.calls[0].http_status == 202
    assert report.calls[0].request_id

    statuses = await client.batch_status([STARTABLE, UNKNOWN_ID])
    assert statuses[0].status == "STARTJOBING"
    assert (statuses[1].status, statuses[1].error_code) == (None, "DRS.M05003")
    expected_auth = "aksk" if auth == "aksk" else "token"
    assert {c.auth for c in sim.calls if c.endpoint != "tokens"} == {expected_auth}


async def test_scheduled_start_waits(sim: DrsSimulator, http: httpx.AsyncClient) -> None:
    client = aksk_client(sim, http)
    later_ms = int((sim.now() + 3600) * 1000)
    report = await client.batch_start([STARTABLE], start_time_ms=later_ms)
    assert report.results[0].outcome is Outcome.SUCCESS
    (info,) = await client.batch_status([STARTABLE])
    assert info.status == "WAITING_FOR_START"


async def test_a_large_batch_is_chunked(sim: DrsSimulator, http: httpx.AsyncClient) -> None:
    ids = sim.add_generated(250)
    client = aksk_client(sim, http, chunk_size=100, concurrency=2)
    report = await client.batch_start(ids)
    assert [r.job_id for r in report.results] == ids
    assert {r.outcome for r in report.results} == {Outcome.SUCCESS}
    starts = [c for c in sim.calls if c.endpoint == "batch-starting"]
    assert sorted(len(c.job_ids) for c in starts) == [50, 100, 100]
    assert {i.status for i in await client.batch_status(ids)} == {"STARTJOBING"}


async def test_processed_5xx_is_unknown_never_resent_and_status_tells_the_truth(
    sim: DrsSimulator, http: httpx.AsyncClient
) -> None:
    sim.set_fault("batch-starting", "status_500", processed=True, count=1)
    client = aksk_client(sim, http)
    report = await client.batch_start([STARTABLE, INCREMENTAL])
    assert {r.outcome for r in report.results} == {Outcome.UNKNOWN}
    assert report.failures[0].kind is CallFailureKind.SERVER
    assert sim.start_calls_for(STARTABLE) == 1
    assert {i.status for i in await client.batch_status([STARTABLE, INCREMENTAL])} == {
        "STARTJOBING"
    }


async def test_throttling_is_retried_after_the_pause(
    sim: DrsSimulator, http: httpx.AsyncClient
) -> None:
    sim.set_fault("batch-starting", "status_429", retry_after=3, count=2)
    sleeps = Sleeps()
    client = aksk_client(sim, http, sleep=sleeps)
    report = await client.batch_start([STARTABLE])
    assert sleeps.pauses == [3.0, 3.0]
    assert report.results[0].outcome is Outcome.SUCCESS
    assert [c.http_status for c in report.calls] == [429, 429, 202]


async def test_malformed_and_partial_answers(sim: DrsSimulator, http: httpx.AsyncClient) -> None:
    client = aksk_client(sim, http)
    sim.set_fault("batch-starting", "malformed_json", count=1)
    report = await client.batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.UNKNOWN
    assert report.failures[0].kind is CallFailureKind.PROTOCOL

    sim.set_fault("batch-starting", "partial", drop=1, count=1)
    report = await client.batch_start([INCREMENTAL, PREPAID])
    assert [r.outcome for r in report.results] == [Outcome.SUCCESS, Outcome.UNKNOWN]


async def test_read_timeout_is_unknown_and_not_resent(sim: DrsSimulator) -> None:
    sim.set_fault("batch-starting", "hang", seconds=5, processed=True, count=1)
    timeout = httpx.Timeout(connect=5, read=0.2, write=5, pool=5)
    async with httpx.AsyncClient(timeout=timeout) as http:
        report = await aksk_client(sim, http).batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.UNKNOWN
    assert report.failures[0].kind is CallFailureKind.TIMEOUT
    await sim.stop()  # releases the held call, which is then recorded
    assert sim.start_calls_for(STARTABLE) == 1


async def test_bad_signature_fails_once_and_stops(
    sim: DrsSimulator, http: httpx.AsyncClient
) -> None:
    ids = sim.add_generated(5)
    client = aksk_client(sim, http, sk="not-the-secret-key", chunk_size=1, concurrency=1)
    report = await client.batch_start(ids)
    assert {r.outcome for r in report.results} == {Outcome.FAILED}
    assert {r.error_code for r in report.results} == {"APIGW.0301"}
    assert len([c for c in sim.calls if c.endpoint == "batch-starting"]) == 1


async def test_expired_token_is_renewed_once(sim: DrsSimulator, http: httpx.AsyncClient) -> None:
    client = token_client(sim, http)
    await client.batch_status([STARTABLE])
    sim.set_fault("*", "token_expiry")
    report = await client.batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.SUCCESS
    assert [c.http_status for c in report.calls] == [401, 202]
    assert len([c for c in sim.calls if c.endpoint == "tokens"]) == 2


async def test_unknown_iam_user_is_an_auth_failure(
    sim: DrsSimulator, http: httpx.AsyncClient
) -> None:
    auth = IamTokenAuth(
        http=http,
        iam_endpoint=sim.url,
        user="nobody",
        password=Secret("wrong"),
        domain="sim-domain",
        project_id=DEFAULT_PROJECT_ID,
    )
    client = DrsClient(http=http, endpoint=sim.url, project_id=DEFAULT_PROJECT_ID, auth=auth)
    report = await client.batch_start([STARTABLE])
    assert report.results[0].outcome is Outcome.FAILED
    assert report.failures[0].kind is CallFailureKind.AUTH
    assert sim.start_calls_for(STARTABLE) == 0

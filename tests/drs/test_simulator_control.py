"""The /_sim control API, driven over HTTP as another process would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from drs_sim_support import JOB_A, MISSING, FakeClock, path, query_body, start_body

from bot.devkit.sim.drs import DrsSimulator
from bot.devkit.sim.drs_jobs import DEMO_JOBS, new_job_id


@pytest.fixture
async def live() -> AsyncIterator[tuple[DrsSimulator, httpx.AsyncClient]]:
    sim = DrsSimulator(clock=FakeClock(), start_delay=2.0)
    async with sim, httpx.AsyncClient(base_url=sim.url, timeout=10.0) as client:
        yield sim, client


async def test_add_list_and_get_tasks(live: tuple[DrsSimulator, httpx.AsyncClient]) -> None:
    sim, client = live
    added = await client.post(
        "/_sim/jobs", json={"id": JOB_A, "name": "mig-a", "prepaid": True, "incremental": True}
    )
    assert added.status_code == 201
    assert added.json()["job"]["id"] == JOB_A
    assert sim.job(JOB_A).prepaid
    generated = await client.post("/_sim/jobs", json={"generate": 3, "prefix": "mig-bench"})
    names = [j["name"] for j in generated.json()["jobs"]]
    assert names == ["mig-bench-0001", "mig-bench-0002", "mig-bench-0003"]
    assert generated.json()["jobs"][0]["id"] == new_job_id(seed="mig-bench-0001")
    more = await client.post("/_sim/jobs", json={"generate": 1, "prefix": "mig-bench"})
    assert more.json()["jobs"][0]["name"] == "mig-bench-0004"
    listed = (await client.get("/_sim/jobs")).json()["jobs"]
    assert len(listed) == 5
    one = await client.get(f"/_sim/jobs/{JOB_A}")
    assert one.json()["job"]["status"] == "CONFIGURATION"
    assert (await client.get(f"/_sim/jobs/{MISSING}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"id": JOB_A},
        {"name": "x", "colour": "red"},
        {"name": "x", "prepaid": "yes"},
        {"name": "x", "id": "bad-id"},
        {"name": "x", "db_use_type": "warp"},
        {"generate": 0},
        {"generate": 2, "prefix": 7},
    ],
)
async def test_bad_task_requests_say_why(
    live: tuple[DrsSimulator, httpx.AsyncClient], body: object
) -> None:
    _, client = live
    answer = await client.post("/_sim/jobs", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]


async def test_seed_demo_is_idempotent(live: tuple[DrsSimulator, httpx.AsyncClient]) -> None:
    sim, client = live
    assert (await client.post("/_sim/seed-demo")).status_code == 201
    assert (await client.post("/_sim/seed-demo")).status_code == 201
    assert len(sim.jobs()) == len(DEMO_JOBS)
    statuses = {j.name: j.status for j in sim.jobs()}
    assert statuses["mig-legacy-crm"] == "DELETED"
    assert statuses["mig-archive-2023"] == "FULL_TRANSFER_STARTED"


async def test_faults_calls_and_clock_over_http(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    sim.add_job(JOB_A, name="mig-a")
    token = {"X-Auth-Token": sim.issue_token().reveal()}
    set_spec = await client.post("/_sim/faults", json={"spec": "batch-starting:status_429:count=1"})
    assert set_spec.status_code == 201
    set_obj = await client.post(
        "/_sim/faults", json={"endpoint": "batch-status", "kind": "partial", "drop": 1}
    )
    assert set_obj.json()["fault"] == {
        "endpoint": "batch-status",
        "kind": "partial",
        "count": None,
        "drop": 1,
    }
    assert len((await client.get("/_sim/faults")).json()["faults"]) == 2
    throttled = await client.post(path("batch-starting"), json=start_body(JOB_A), headers=token)
    assert throttled.status_code == 429
    cleared = await client.delete("/_sim/faults")
    assert cleared.json() == {"cleared": 1}  # the 429 was used up
    await client.post(path("batch-starting"), json=start_body(JOB_A), headers=token)
    calls = (await client.get("/_sim/calls")).json()["calls"]
    assert [(c["endpoint"], c["status"], c["fault"]) for c in calls] == [
        ("batch-starting", 429, "status_429"),
        ("batch-starting", 202, None),
    ]
    assert calls[0]["job_ids"] == [JOB_A]
    assert (await client.get(f"/_sim/jobs/{JOB_A}")).json()["job"]["start_calls"] == 2
    moved = await client.post("/_sim/clock", json={"advance": 2})
    assert moved.json()["offset"] == 2
    status = await client.post(path("batch-status"), json=query_body(JOB_A), headers=token)
    assert status.json()["results"][0]["status"] == "FULL_TRANSFER_STARTED"
    assert (await client.delete("/_sim/calls")).json() == {"cleared": 3}
    assert sim.calls == []


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/_sim/faults", {"endpoint": "batch-starting", "kind": "explode"}),
        ("/_sim/faults", {"spec": "batch-starting"}),
        ("/_sim/faults", []),
        ("/_sim/clock", {"advance": -1}),
        ("/_sim/clock", {"advance": "soon"}),
        ("/_sim/clock", {}),
    ],
)
async def test_bad_control_requests_answer_400(
    live: tuple[DrsSimulator, httpx.AsyncClient], route: str, body: object
) -> None:
    sim, client = live
    answer = await client.post(route, json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert sim.faults() == []
    assert sim.clock_offset == 0


async def test_control_calls_are_not_recorded_but_carry_request_ids(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    answer = await client.get("/_sim/clock")
    assert answer.headers["X-Request-Id"]
    assert sim.calls == []

"""The simulator's DRS v3 APIs over real HTTP: starts, per-task codes, 400s, queries, list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from drs_sim_support import JOB_A, JOB_B, MISSING, PID, T0, FakeClock, path, query_body, start_body

from bot.devkit.sim.drs import DrsSimulator


@dataclass
class Env:
    sim: DrsSimulator
    client: httpx.AsyncClient
    clock: FakeClock

    async def post(self, endpoint: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path(endpoint), json=body, **kwargs)

    async def status_of(self, job_id: str) -> str:
        answer = await self.post("batch-status", query_body(job_id))
        assert answer.status_code == 200
        return str(answer.json()["results"][0]["status"])


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    sim = DrsSimulator(clock=clock, start_delay=2.0)
    sim.add_job(JOB_A, name="mig-orders")
    sim.add_job(JOB_B, name="mig-users", incremental=True)
    async with sim, httpx.AsyncClient(base_url=sim.url, timeout=10.0) as client:
        client.headers["X-Auth-Token"] = sim.issue_token().reveal()
        yield Env(sim, client, clock)


async def test_start_accepts_and_tasks_move_on_with_the_clock(env: Env) -> None:
    answer = await env.post("batch-starting", start_body(JOB_A, JOB_B))
    assert answer.status_code == 202
    assert answer.json() == {
        "results": [{"id": JOB_A, "status": "success"}, {"id": JOB_B, "status": "success"}],
        "count": 2,
    }
    assert await env.status_of(JOB_A) == "STARTJOBING"
    env.sim.advance(1.5)
    assert await env.status_of(JOB_B) == "STARTJOBING"
    env.sim.advance(0.5)
    assert await env.status_of(JOB_A) == "FULL_TRANSFER_STARTED"
    assert await env.status_of(JOB_B) == "INCRE_TRANSFER_STARTED"
    assert env.sim.job(JOB_A).start_requested_at == T0


async def test_scheduled_start_waits_for_its_time(env: Env) -> None:
    start_ms = str(int((T0 + 3600) * 1000))
    answer = await env.post("batch-starting", start_body(JOB_A, start_time=start_ms))
    assert answer.json()["results"][0]["status"] == "success"
    assert await env.status_of(JOB_A) == "WAITING_FOR_START"
    env.sim.advance(3599)
    assert await env.status_of(JOB_A) == "WAITING_FOR_START"
    env.sim.advance(1)
    assert await env.status_of(JOB_A) == "STARTJOBING"
    env.sim.advance(2)
    assert await env.status_of(JOB_A) == "FULL_TRANSFER_STARTED"
    detail = await env.post("batch-detail", query_body(JOB_A))
    assert detail.json()["results"][0]["actual_start_time"] == start_ms


async def test_a_start_that_fails_later_shows_in_status_and_detail(env: Env) -> None:
    flaky = env.sim.add_job(name="mig-flaky", start_fails=True)
    answer = await env.post("batch-starting", start_body(flaky))
    assert answer.json()["results"][0]["status"] == "success"  # accepted...
    assert await env.status_of(flaky) == "STARTJOBING"
    env.sim.advance(2)
    assert await env.status_of(flaky) == "START_JOB_FAILED"  # ...then failed
    detail = (await env.post("batch-detail", query_body(flaky))).json()["results"][0]
    assert detail["failed_reason"]


async def test_empty_start_time_means_now(env: Env) -> None:
    await env.post("batch-starting", start_body(JOB_A, start_time=""))
    assert await env.status_of(JOB_A) == "STARTJOBING"


async def test_every_per_task_error_code(env: Env) -> None:
    env.sim.add_job(gone := "d2f8b4a1-6c3e-4b9d-8a7f-1e4c6b9djb05", name="old", status="DELETED")
    env.sim.add_job(
        creating := "61c3e9d7-4a2b-4e5f-9d8c-3b7a1e5fjb06", name="new", status="CREATING"
    )
    await env.post("batch-starting", start_body(JOB_B))  # now STARTJOBING
    answer = await env.post("batch-starting", start_body(MISSING, gone, JOB_B, creating, JOB_A))
    assert answer.status_code == 202
    results = answer.json()["results"]
    assert [r["id"] for r in results] == [MISSING, gone, JOB_B, creating, JOB_A]
    assert [(r["status"], r.get("error_code")) for r in results] == [
        ("failed", "DRS.M05003"),
        ("failed", "DRS.M05004"),
        ("failed", "DRS.M00304"),
        ("failed", "DRS.M00304"),
        ("success", None),
    ]
    assert all(r["error_msg"] for r in results if r["status"] == "failed")
    assert env.sim.job(creating).status == "CREATING"


async def test_a_started_task_refuses_a_second_start_even_after_it_runs(env: Env) -> None:
    await env.post("batch-starting", start_body(JOB_A))
    env.sim.advance(10)
    again = await env.post("batch-starting", start_body(JOB_A))
    assert again.json()["results"][0]["error_code"] == "DRS.M00304"
    assert env.sim.start_calls_for(JOB_A) == 2


async def test_prepaid_start_places_an_order_shown_in_detail(env: Env) -> None:
    env.sim.add_job(paid := "b71d5e3c-9a2f-4c8e-a1b4-6e3f9d2ajb03", name="yearly", prepaid=True)
    before = (await env.post("batch-detail", query_body(paid))).json()["results"][0]
    assert before["period_order"]["status"] == "UNORDERED"
    assert before["period_order"]["order_id"] == ""
    started = (await env.post("batch-starting", start_body(paid))).json()["results"][0]
    assert started["status"] == "success"
    assert started["order_id"].startswith("CS")
    after = (await env.post("batch-detail", query_body(paid))).json()["results"][0]
    assert after["period_order"]["status"] == "COMPLETED"
    assert after["period_order"]["order_id"] == started["order_id"]
    plain = (await env.post("batch-detail", query_body(JOB_A))).json()["results"][0]
    assert "period_order" not in plain


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "DRS.M00200"),
        (b"[]", "DRS.M00200"),
        (b"{}", "DRS.M00201"),
        (b'{"jobs": []}', "DRS.M00201"),
        (b'{"jobs": ["9a470239-2308-4bb5-a6bc-1040402fjb21"]}', "DRS.M00200"),
        (b'{"jobs": [{"start_time": ""}]}', "DRS.M00201"),
        (b'{"jobs": [{"job_id": "not-a-task"}]}', "DRS.M00202"),
        (b'{"jobs": [{"job_id": "9A470239-2308-4BB5-A6BC-1040402FJB21"}]}', "DRS.M00202"),
        (
            json.dumps(start_body(JOB_A, JOB_B, JOB_A)).encode(),
            "DRS.M00301",
        ),
        (
            json.dumps({"jobs": [{"job_id": JOB_A, "start_time": 1700000000000}]}).encode(),
            "DRS.M00202",
        ),
        (json.dumps(start_body(JOB_A, start_time="soon")).encode(), "DRS.M00202"),
        (json.dumps(start_body(JOB_A, start_time="-5")).encode(), "DRS.M00202"),
    ],
)
async def test_bad_start_bodies_are_refused_whole(env: Env, body: bytes, code: str) -> None:
    answer = await env.client.post(path("batch-starting"), content=body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == code
    assert answer.json()["error_msg"]
    assert env.sim.job(JOB_A).status == "CONFIGURATION"  # nothing processed
    assert env.sim.calls[-1].error_code == code


async def test_unknown_ids_in_queries_get_an_error_entry(env: Env) -> None:
    for endpoint in ("batch-status", "batch-detail"):
        answer = await env.post(endpoint, query_body(JOB_A, MISSING))
        assert answer.status_code == 200
        unknown = answer.json()["results"][1]
        assert unknown["id"] == MISSING
        assert unknown["error_code"] == "DRS.M05003"
        assert unknown["error_message"]
        assert "status" not in unknown


async def test_detail_carries_what_the_bot_shows(env: Env) -> None:
    entry = (await env.post("batch-detail", query_body(JOB_B))).json()["results"][0]
    assert entry["name"] == "mig-users"
    assert entry["status"] == "CONFIGURATION"
    assert entry["create_time"] == str(int(T0 * 1000))
    assert entry["task_type"] == "FULL_INCR_TRANS"
    assert entry["db_use_type"] == "migration"
    assert entry["actual_start_time"] == ""


async def test_query_paging(env: Env) -> None:
    ids = env.sim.add_generated(7)
    first = (await env.post("batch-status", query_body(*ids, cur_page=1, per_page=3))).json()
    last = (await env.post("batch-status", query_body(*ids, cur_page=3, per_page=3))).json()
    assert first["count"] == 7
    assert [r["id"] for r in first["results"]] == ids[:3]
    assert [r["id"] for r in last["results"]] == ids[6:]
    everything = (await env.post("batch-status", query_body(*ids, ids[0], per_page=0))).json()
    assert [r["id"] for r in everything["results"]] == ids  # de-duplicated, in order
    default = (await env.post("batch-status", {"jobs": ids})).json()
    assert len(default["results"]) == 5  # DRS's default page size when page_req is left out


@pytest.mark.parametrize(
    "body",
    [
        {"jobs": []},
        {"jobs": ["nope"]},
        {"jobs": [JOB_A], "page_req": {"cur_page": 2, "per_page": 1}},
        {"jobs": [JOB_A], "page_req": {"cur_page": 1, "per_page": 101}},
        {"jobs": [JOB_A], "page_req": {"cur_page": 2, "per_page": 0}},
        {"jobs": [JOB_A], "page_req": {"cur_page": "1", "per_page": 10}},
        {"jobs": [JOB_A], "page_req": []},
    ],
)
async def test_bad_queries_answer_400(env: Env, body: dict[str, Any]) -> None:
    answer = await env.post("batch-status", body)
    assert answer.status_code == 400
    assert answer.json()["error_code"].startswith("DRS.M002")


async def test_list_filters_and_pages(env: Env) -> None:
    env.sim.add_job(name="sync-billing", db_use_type="sync")
    env.sim.add_generated(12)
    everything = (await env.post("list", {})).json()
    assert everything["total_record"] == 15
    assert len(everything["jobs"]) == 10  # default per_page
    page2 = (await env.post("list", {"cur_page": 2, "per_page": 10})).json()
    assert len(page2["jobs"]) == 5
    by_name = (await env.post("list", {"name": "mig-"})).json()
    assert by_name["total_record"] == 14
    by_ids = (await env.post("list", {"name": f"{JOB_A},{JOB_B}"})).json()
    assert {j["id"] for j in by_ids["jobs"]} == {JOB_A, JOB_B}
    sync = (await env.post("list", {"db_use_type": "sync"})).json()
    assert [j["name"] for j in sync["jobs"]] == ["sync-billing"]
    await env.post("batch-starting", start_body(JOB_A))
    starting = (await env.post("list", {"status": "STARTJOBING"})).json()
    assert [j["id"] for j in starting["jobs"]] == [JOB_A]
    assert starting["jobs"][0]["engine_type"] == "mysql"
    bad = await env.post("list", {"db_use_type": "teleport"})
    assert bad.status_code == 400


async def test_every_answer_has_its_own_request_id(env: Env) -> None:
    answers = [
        await env.post("batch-status", query_body(JOB_A)),
        await env.post("batch-starting", {}),
        await env.client.get("/v3/nothing/here"),
        await env.client.get(path("batch-starting")),  # wrong method
    ]
    ids = [a.headers["X-Request-Id"] for a in answers]
    assert len(set(ids)) == 4
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert [a.status_code for a in answers] == [200, 400, 404, 404]
    assert answers[2].json()["error_code"] == "APIGW.0101"
    assert [c.request_id for c in env.sim.calls] == ids


async def test_messages_follow_x_language(env: Env) -> None:
    answer = await env.post("batch-starting", start_body(MISSING), headers={"X-Language": "zh-cn"})
    assert answer.json()["results"][0]["error_msg"] == "任务不存在。"
    english = await env.post("batch-starting", start_body(MISSING))
    assert english.json()["results"][0]["error_msg"] == "The task does not exist."


async def test_body_over_the_gateway_limit_is_413(env: Env) -> None:
    big = b'{"jobs": [' + b" " * (12 * 1024 * 1024) + b"]}"
    answer = await env.client.post(path("batch-starting"), content=big)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "APIGW.0201"


async def test_calls_are_recorded_without_secrets(env: Env) -> None:
    token = env.client.headers["X-Auth-Token"]
    await env.post("batch-starting", start_body(JOB_A, MISSING))
    await env.post("batch-status", query_body(JOB_A), headers={"X-Auth-Token": "forged"})
    first, second = env.sim.calls
    assert first.endpoint == "batch-starting"
    assert first.path == path("batch-starting", PID)
    assert first.job_ids == (JOB_A, MISSING)
    assert (first.status, first.auth, first.principal) == (202, "token", "sim-user")
    assert (second.status, second.error_code) == (401, "APIGW.0301")
    assert env.sim.start_calls_for(MISSING) == 1
    assert env.sim.job(JOB_A).start_calls == 1
    dumped = repr(env.sim.calls) + json.dumps([c.to_json() for c in env.sim.calls])
    assert token not in dumped
    assert token not in repr(env.sim)

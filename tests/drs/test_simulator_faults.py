"""Injected faults, and their honesty: a fault that says the call was processed really was."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from drs_sim_support import (
    JOB_A,
    JOB_B,
    FakeClock,
    path,
    query_body,
    running,
    signed_post,
    start_body,
)

from bot.devkit.sim.drs import DrsSimulator


@dataclass
class Env:
    sim: DrsSimulator
    client: httpx.AsyncClient

    async def post(self, endpoint: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path(endpoint), json=body, **kwargs)

    async def start(self, *ids: str, **kwargs: Any) -> httpx.Response:
        return await self.post("batch-starting", start_body(*ids), **kwargs)

    async def truth(self, *ids: str) -> list[str]:
        """What batch-status says now (with no fault in the way)."""
        answer = await self.post("batch-status", query_body(*ids))
        return [r["status"] for r in answer.json()["results"]]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sim = DrsSimulator(clock=FakeClock(), start_delay=2.0)
    sim.add_job(JOB_A, name="a")
    sim.add_job(JOB_B, name="b")
    async with sim, httpx.AsyncClient(base_url=sim.url, timeout=10.0) as client:
        client.headers["X-Auth-Token"] = sim.issue_token().reveal()
        yield Env(sim, client)


async def test_429_is_not_processed_and_carries_retry_after(env: Env) -> None:
    env.sim.set_fault("batch-starting", "status_429", count=1, retry_after=3)
    throttled = await env.start(JOB_A)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error_code"] == "APIGW.0308"
    assert await env.truth(JOB_A) == ["CONFIGURATION"]
    retried = await env.start(JOB_A)
    assert retried.status_code == 202  # count=1: used up
    assert env.sim.start_calls_for(JOB_A) == 2
    assert env.sim.calls[0].fault == "status_429"


async def test_500_before_processing_changes_nothing(env: Env) -> None:
    env.sim.set_fault("batch-starting", "status_500", count=1)
    failed = await env.start(JOB_A)
    assert failed.status_code == 500
    assert failed.json()["error_code"] == "DRS.M00004"
    assert await env.truth(JOB_A) == ["CONFIGURATION"]


async def test_500_after_processing_started_the_task_and_status_tells(env: Env) -> None:
    env.sim.set_fault("batch-starting", "status_500", count=1, processed=True)
    failed = await env.start(JOB_A, JOB_B)
    assert failed.status_code == 500
    assert await env.truth(JOB_A, JOB_B) == ["STARTJOBING", "STARTJOBING"]
    again = await env.start(JOB_A)
    assert again.json()["results"][0]["error_code"] == "DRS.M00304"  # re-sending is not safe


async def test_other_5xx_are_gateway_errors(env: Env) -> None:
    env.sim.set_fault("*", "status_500", count=1, status=503)
    answer = await env.post("batch-status", query_body(JOB_A))
    assert (answer.status_code, answer.json()["error_code"]) == (503, "APIGW.0201")


async def test_hang_unprocessed_times_out_and_does_nothing(env: Env) -> None:
    env.sim.set_fault("batch-starting", "hang", count=1, seconds=0.3)
    with pytest.raises(httpx.ReadTimeout):
        await env.start(JOB_A, timeout=0.05)
    await asyncio.sleep(0.4)  # the server finishes the hang and gives up
    assert await env.truth(JOB_A) == ["CONFIGURATION"]
    first = env.sim.calls[0]
    assert (first.status, first.error_code, first.fault) == (504, "APIGW.0201", "hang")


async def test_hang_processed_started_the_task_though_no_answer_came(env: Env) -> None:
    env.sim.set_fault("batch-starting", "hang", count=1, seconds=5, processed=True)
    with pytest.raises(httpx.ReadTimeout):
        await env.start(JOB_A, timeout=0.1)
    assert await env.truth(JOB_A) == ["STARTJOBING"]


async def test_hang_answers_after_the_wait_when_the_client_waits(env: Env) -> None:
    env.sim.set_fault("batch-status", "hang", count=1, seconds=0.2, processed=True)
    began = time.monotonic()
    answer = await env.post("batch-status", query_body(JOB_A))
    assert time.monotonic() - began >= 0.2
    assert answer.status_code == 200


async def test_stop_releases_a_hanging_call_at_once() -> None:
    sim = DrsSimulator()
    sim.add_job(JOB_A, name="a")
    sim.set_fault("*", "hang", seconds=60)
    await sim.start()
    async with httpx.AsyncClient(base_url=sim.url, timeout=10.0) as client:
        token = sim.issue_token().reveal()
        pending = asyncio.create_task(
            client.post(
                path("batch-status"), json=query_body(JOB_A), headers={"X-Auth-Token": token}
            )
        )
        await asyncio.sleep(0.1)
        began = time.monotonic()
        await sim.stop()
        assert time.monotonic() - began < 3
        answer = await pending
        assert answer.status_code == 504


async def test_malformed_json_after_processing(env: Env) -> None:
    env.sim.set_fault("batch-starting", "malformed_json", count=1)
    answer = await env.start(JOB_A)
    assert answer.status_code == 202
    assert answer.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert await env.truth(JOB_A) == ["STARTJOBING"]


async def test_malformed_json_without_processing(env: Env) -> None:
    env.sim.set_fault("batch-starting", "malformed_json", count=1, processed=False)
    answer = await env.start(JOB_A)
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert await env.truth(JOB_A) == ["CONFIGURATION"]


async def test_partial_drops_entries_of_processed_tasks(env: Env) -> None:
    env.sim.set_fault("batch-starting", "partial", count=1)
    answer = await env.start(JOB_A, JOB_B)
    assert answer.status_code == 202
    assert [r["id"] for r in answer.json()["results"]] == [JOB_A]
    assert answer.json()["count"] == 1
    assert await env.truth(JOB_A, JOB_B) == ["STARTJOBING", "STARTJOBING"]


async def test_partial_by_ids_on_a_query(env: Env) -> None:
    env.sim.set_fault("batch-status", "partial", count=1, job_ids=[JOB_A])
    answer = await env.post("batch-status", query_body(JOB_A, JOB_B))
    assert [r["id"] for r in answer.json()["results"]] == [JOB_B]


async def test_token_expiry_kills_the_token_once_and_spares_aksk() -> None:
    sim = DrsSimulator()  # real clock, for the SDK-signed call
    sim.add_job(JOB_A, name="a")
    sim.add_job(JOB_B, name="b")
    sim.set_fault("batch-starting", "token_expiry")
    async with running(sim) as client:
        token = {"X-Auth-Token": sim.issue_token().reveal()}
        body = json.dumps(start_body(JOB_B)).encode()
        assert (await signed_post(client, path("batch-starting"), body)).status_code == 202
        assert len(sim.faults()) == 1  # AK/SK calls do not use it up
        expired = await client.post(path("batch-starting"), json=start_body(JOB_A), headers=token)
        assert (expired.status_code, expired.json()["error_code"]) == (401, "APIGW.0307")
        assert sim.faults() == []
        assert sim.job(JOB_A).status == "CONFIGURATION"
        still_dead = await client.post(path("batch-status"), json=query_body(JOB_A), headers=token)
        assert still_dead.status_code == 401
        fresh = {"X-Auth-Token": sim.issue_token().reveal()}
        ok = await client.post(path("batch-starting"), json=start_body(JOB_A), headers=fresh)
        assert ok.status_code == 202


async def test_latency_applies_while_set_and_count_limits_it(env: Env) -> None:
    env.sim.set_fault("batch-status", "latency", count=1, seconds=0.25)
    began = time.monotonic()
    await env.post("batch-status", query_body(JOB_A))
    slow = time.monotonic() - began
    began = time.monotonic()
    await env.post("batch-status", query_body(JOB_A))
    fast = time.monotonic() - began
    assert slow >= 0.25
    assert fast < 0.2


async def test_faults_on_the_token_endpoint(env: Env) -> None:
    env.sim.set_fault("tokens", "status_500", count=1, processed=True)
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "sim-user",
                        "password": "sim-password",
                        "domain": {"name": "sim-domain"},
                    }
                },
            },
            "scope": {"project": {"name": "cn-north-4"}},
        }
    }
    lost = await env.client.post("/v3/auth/tokens", json=body)
    assert lost.status_code == 500
    assert "X-Subject-Token" not in lost.headers
    assert (await env.client.post("/v3/auth/tokens", json=body)).status_code == 201


async def test_faults_apply_in_the_order_set(env: Env) -> None:
    env.sim.set_fault("batch-starting", "status_429", count=1)
    env.sim.set_fault("batch-starting", "status_500", count=1)
    statuses = [(await env.start(JOB_A)).status_code for _ in range(3)]
    assert statuses == [429, 500, 202]
    assert env.sim.faults() == []


async def test_a_400_does_not_use_up_an_after_fault(env: Env) -> None:
    env.sim.set_fault("batch-starting", "partial", count=1)
    bad = await env.post("batch-starting", {"jobs": []})
    assert bad.status_code == 400
    assert len(env.sim.faults()) == 1

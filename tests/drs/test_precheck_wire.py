"""The precheck bodies and answers against Huawei's SDK models, offline: our bodies are what
the SDK's request models serialise to, and answers built with its response models read as the
states the bot acts on. Plus chunking at 10 jobs and failures through the real client."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from huaweicloudsdkdrs.v3 import (
    BatchPrecheckReq,
    BatchQueryPrecheckResultReq,
    PostPreCheckResp,
    PreCheckInfo,
    PrecheckResult,
    QueryPreCheckResp,
)

from bot.core.precheck import PrecheckMode, PrecheckState
from bot.core.secret import Secret
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DrsSimulator
from bot.drs import precheck, wire
from bot.drs.auth import AkSkAuth
from bot.drs.calls import Answer
from bot.drs.client import DrsClient

A, B = "3f2a9c1e-7b4d-4e8a-9c2f-5d1e0a7bjb01", "8c4e2b7a-1d3f-4a6b-8e9c-2f7d5a1cjb02"


def _sdk(model: Any) -> Any:
    """What the SDK sends for a model: its dict, with unset (None) fields left out."""
    raw = model.to_dict()
    if isinstance(raw, dict):
        return {k: _sdk_value(v) for k, v in raw.items() if v is not None}
    return raw


def _sdk_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_sdk_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _sdk_value(v) for k, v in value.items() if v is not None}
    return value


def test_request_bodies_are_the_sdk_models() -> None:
    ours = precheck.precheck_body([(A, PrecheckMode.FOR_START), (B, PrecheckMode.FOR_RETRY)])
    sdk = BatchPrecheckReq(
        jobs=[
            PreCheckInfo(job_id=A, precheck_mode="forStartJob"),
            PreCheckInfo(job_id=B, precheck_mode="forRetryJob"),
        ]
    )
    assert ours == _sdk(sdk)
    assert precheck.result_body([A, B]) == _sdk(BatchQueryPrecheckResultReq(jobs=[A, B]))


def test_batch_precheck_answer_reads_as_running_or_refused() -> None:
    body = {
        "results": [
            _sdk(PostPreCheckResp(id=A, precheck_id="p-a", status="success")),
            _sdk(PostPreCheckResp(id=B, status="failed", error_code="DRS.M00304", error_msg="no")),
        ],
        "count": 2,
    }
    got = precheck.started(body, [A, B, "missing-one"], now=5.0)
    assert [(p.job_id, p.state) for p in got] == [
        (A, PrecheckState.RUNNING),
        (B, PrecheckState.FAILED),
        ("missing-one", PrecheckState.UNREADABLE),
    ]
    assert got[0].precheck_id == "p-a" and got[1].reason == "DRS.M00304 no"


def test_result_answers_read_as_passed_failed_running_never_run() -> None:
    passed = QueryPreCheckResp(
        precheck_id="p1",
        result=True,
        process="100%",
        total_passed_rate="100%",
        precheck_result=[PrecheckResult(item="Connectivity", result="PASSED")],
    )
    failed = QueryPreCheckResp(
        precheck_id="p2",
        result=False,
        process="100%",
        total_passed_rate="60%",
        precheck_result=[
            PrecheckResult(item="Connectivity", result="PASSED"),
            PrecheckResult(item="Tables empty", result="FAILED", failed_reason="12 rows"),
            PrecheckResult(item="Binlog retention", result="ALARM", failed_reason="1 day"),
        ],
    )
    running = QueryPreCheckResp(precheck_id="p3", result=False, process="40%")
    never = QueryPreCheckResp(result=False, error_code="DRS.M00304", error_msg="not run")
    body = {"results": [_sdk(m) for m in (passed, failed, running, never)], "count": 4}
    got = precheck.results(body, ["j1", "j2", "j3", "j4"], now=7.0)
    assert [p.state for p in got] == [
        PrecheckState.PASSED,
        PrecheckState.FAILED,
        PrecheckState.RUNNING,
        PrecheckState.NEVER_RUN,
    ]
    assert [(i.item, i.result, i.reason) for i in got[1].failed_items] == [
        ("Tables empty", "FAILED", "12 rows"),
        ("Binlog retention", "ALARM", "1 day"),
    ]
    assert got[1].passed_rate == "60%" and got[3].reason == "DRS.M00304 not run"
    assert all(p.read_at == 7.0 for p in got)


def test_a_result_answer_of_another_length_or_shape_is_not_read() -> None:
    one = _sdk(QueryPreCheckResp(precheck_id="p1", result=True, process="100%"))
    with pytest.raises(wire.WireError):
        precheck.results({"results": [one]}, ["j1", "j2"], now=0.0)
    with pytest.raises(wire.WireError):
        precheck.results({"results": "x"}, ["j1"], now=0.0)
    with pytest.raises(wire.WireError):
        precheck.results({"results": [{**one, "precheck_result": "x"}]}, ["j1"], now=0.0)


def test_hostile_answers_are_bounded() -> None:
    items = [{"item": "x" * 10_000, "result": "FAILED"} for _ in range(5_000)]
    body = {
        "results": [
            {"precheck_id": "p", "result": False, "process": "100%", "precheck_result": items}
        ]
    }
    (got,) = precheck.results(body, ["j1"], now=0.0)
    assert len(got.failed_items) == 20
    assert all(len(i.item) <= 120 for i in got.failed_items)


async def test_the_client_chunks_at_ten_and_a_failed_chunk_is_unreadable_not_passed() -> None:
    sim = DrsSimulator(start_delay=0.0)
    ids = sim.add_generated(25)
    sim.prechecks.set(ids[3], state="never")
    async with sim, httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        client = DrsClient(
            http=http,
            endpoint=sim.url,
            project_id=DEFAULT_PROJECT_ID,
            auth=AkSkAuth(Secret(DEFAULT_AK), Secret(DEFAULT_SK), DEFAULT_PROJECT_ID),
            concurrency=1,
        )
        got = await client.precheck_results(ids)
        reads = [c for c in sim.calls if c.endpoint == "batch-precheck-result"]
        assert [len(c.job_ids) for c in reads] == [10, 10, 5]
        assert [p.job_id for p in got] == ids
        assert got[3].state is PrecheckState.NEVER_RUN
        assert sum(p.passed for p in got) == 24

        begun = await client.run_precheck([(ids[3], PrecheckMode.FOR_START)])
        assert begun[0].state is PrecheckState.RUNNING and begun[0].precheck_id
        assert sim.prechecks.get(ids[3]).mode == "forStartJob"

        sim.set_fault("*", "status_500", count=1)  # the next call, the first chunk
        failed = await client.precheck_results(ids[:12])
        assert [p.state for p in failed[:10]] == [PrecheckState.UNREADABLE] * 10
        assert all(p.state is not PrecheckState.UNREADABLE for p in failed[10:])


class _Garbled:
    """A caller whose every call is answered 200 with a body that is not DRS's."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def call(self, operation: str, *_: object, starting: bool) -> Answer:
        self.asked.append(operation)
        return Answer(sent=True, status=200, body={"results": "nope"})


async def test_an_unreadable_answer_names_the_call_it_answered() -> None:
    garbled = _Garbled()
    caller: Any = garbled
    jobs = [(A, PrecheckMode.FOR_START), (B, PrecheckMode.FOR_RETRY)]
    begun = await precheck.run_prechecks(caller, jobs, concurrency=2, now=lambda: 5.0)
    read = await precheck.read_results(caller, [A, B, A], concurrency=2, now=lambda: 6.0)
    assert garbled.asked == [precheck.OP_PRECHECK, precheck.OP_RESULT]
    assert [p.job_id for p in begun] == [A, B] and [p.job_id for p in read] == [A, B]
    assert all(p.state is PrecheckState.UNREADABLE for p in [*begun, *read])
    assert all((p.reason or "").startswith("batch-precheck: ") for p in begun)
    assert all((p.reason or "").startswith("batch-precheck-result: ") for p in read)

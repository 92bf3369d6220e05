"""Pure parts of the simulator: task ids, lazy status, fault syntax, the fault book."""

from __future__ import annotations

import pytest
from drs_sim_support import JOB_A, T0, FakeClock

from bot.devkit.sim.drs_faults import FaultBook, parse_fault, parse_fault_spec
from bot.devkit.sim.drs_jobs import (
    CONFIGURATION,
    FULL_TRANSFER_STARTED,
    INCRE_TRANSFER_STARTED,
    START_JOB_FAILED,
    STARTJOBING,
    WAITING_FOR_START,
    JobBook,
    is_job_id,
    new_job_id,
)


def test_generated_ids_have_the_real_shape_and_end_in_letters() -> None:
    ids = {new_job_id() for _ in range(200)}
    assert len(ids) == 200
    for job_id in ids:
        assert is_job_id(job_id)
        assert job_id[-4:-2] == "jb"


def test_seeded_ids_are_stable_and_distinct() -> None:
    assert new_job_id(seed="mig-shop-0001") == new_job_id(seed="mig-shop-0001")
    assert new_job_id(seed="mig-shop-0001") != new_job_id(seed="mig-shop-0002")


@pytest.mark.parametrize(
    "value",
    [
        "9a470239-2308-4bb5-a6bc-1040402fjb2",  # last group too short
        "9A470239-2308-4bb5-a6bc-1040402fjb21",  # upper case
        "9a470239_2308-4bb5-a6bc-1040402fjb21",
        "9a470239-2308-4bb5-a6bc-1040402fjb21 ",
        "",
    ],
)
def test_id_shape_rejects_near_misses(value: str) -> None:
    assert not is_job_id(value)


def test_id_shape_accepts_non_hex_letters() -> None:
    assert is_job_id("dbb8127c-b093-4b94-b764-7161e151jb2s")


def _book(clock: FakeClock, delay: float = 2.0) -> JobBook:
    return JobBook(clock, delay)


def _status(book: JobBook) -> str:
    job = book.get(JOB_A)
    assert job is not None
    return job.status


def _add(
    book: JobBook, *, prepaid: bool = False, incremental: bool = False, start_fails: bool = False
) -> str:
    return book.add(
        JOB_A,
        name="t",
        status=CONFIGURATION,
        prepaid=prepaid,
        incremental=incremental,
        engine_type="mysql",
        db_use_type="migration",
        start_fails=start_fails,
    )


def test_immediate_start_passes_through_startjobing() -> None:
    clock = FakeClock()
    book = _book(clock)
    _add(book)
    assert book.start(JOB_A, None).error_code is None
    assert _status(book) == STARTJOBING
    clock.t += 1.999
    assert _status(book) == STARTJOBING
    clock.t += 0.001
    assert _status(book) == FULL_TRANSFER_STARTED


def test_incremental_and_failing_tasks_end_differently() -> None:
    clock = FakeClock()
    book = _book(clock, delay=0.0)
    _add(book, incremental=True)
    book.start(JOB_A, None)
    assert _status(book) == INCRE_TRANSFER_STARTED
    other = _book(clock, delay=0.0)
    _add(other, start_fails=True)
    other.start(JOB_A, None)
    assert _status(other) == START_JOB_FAILED


def test_scheduled_start_waits_then_starts() -> None:
    clock = FakeClock()
    book = _book(clock)
    _add(book)
    book.start(JOB_A, T0 + 3600)
    assert _status(book) == WAITING_FOR_START
    clock.t = T0 + 3600
    assert _status(book) == STARTJOBING
    clock.t = T0 + 3602
    assert _status(book) == FULL_TRANSFER_STARTED


def test_past_start_time_starts_now() -> None:
    clock = FakeClock()
    book = _book(clock)
    _add(book)
    book.start(JOB_A, T0 - 60)
    job = book.get(JOB_A)
    assert job is not None
    assert job.status == STARTJOBING
    assert job.begin_at == T0


def test_a_started_task_cannot_start_again() -> None:
    book = _book(FakeClock())
    _add(book, prepaid=True)
    first = book.start(JOB_A, None)
    assert first.error_code is None
    assert first.order_id is not None
    assert first.order_id.startswith("CS")
    assert book.start(JOB_A, None).error_code == "DRS.M00304"


def test_add_rejects_bad_ids_duplicates_and_use_types() -> None:
    book = _book(FakeClock())
    _add(book)
    with pytest.raises(ValueError, match="already exists"):
        _add(book)
    with pytest.raises(ValueError, match="not a DRS task id"):
        book.add(
            "not-an-id",
            name="x",
            status=CONFIGURATION,
            prepaid=False,
            incremental=False,
            engine_type="mysql",
            db_use_type="migration",
        )
    with pytest.raises(ValueError, match="db_use_type"):
        _book(FakeClock()).add(
            None,
            name="x",
            status=CONFIGURATION,
            prepaid=False,
            incremental=False,
            engine_type="mysql",
            db_use_type="warp",
        )


def test_compact_and_json_specs_parse_to_the_same_fault() -> None:
    compact = parse_fault_spec("batch-starting:status_500:processed=true,count=2")
    as_json = parse_fault_spec(
        '{"endpoint": "batch-starting", "kind": "status_500", "processed": true, "count": 2}'
    )
    assert compact == as_json
    assert compact.count == 2
    assert compact.params == {"processed": True, "status": 500}
    assert compact.phase == "after"


def test_spec_defaults_and_lists() -> None:
    assert parse_fault_spec("*:latency").params == {"seconds": 1.0}
    assert parse_fault_spec("tokens:status_429").phase == "before"
    assert parse_fault_spec("batch-status:token_expiry").count == 1
    partial = parse_fault_spec(f"batch-starting:partial:job_ids={JOB_A}|x")
    assert partial.params["job_ids"] == [JOB_A, "x"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nowhere:status_500", "endpoint must be one of"),
        ("batch-starting:explode", "kind must be one of"),
        ("batch-starting:status_500:count=0", "count must be a positive integer"),
        ("batch-starting:status_500:status=404", "within 500-599"),
        ("batch-starting:hang:seconds=soon", "seconds must be a float"),
        ("batch-starting:hang:colour=red", "unknown parameter"),
        ("tokens:partial", "does not apply to the tokens endpoint"),
        ("batch-starting", "must look like"),
        ("{not json", "not valid JSON"),
        ("batch-starting:latency:seconds", "must be name=value"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault_spec(spec)


def test_book_counts_down_and_matches_wildcards() -> None:
    book = FaultBook()
    book.add(parse_fault({"endpoint": "*", "kind": "status_429", "count": 2}))
    book.add(parse_fault({"endpoint": "batch-status", "kind": "latency", "seconds": 0.5}))
    assert book.take("list", "before") is not None
    assert book.take("batch-starting", "before") is not None
    assert book.take("batch-starting", "before") is None  # used up
    assert book.take_latency("batch-status") == 0.5
    assert book.take_latency("batch-status") == 0.5  # no count: stays
    assert book.take_latency("list") == 0.0
    book.clear()
    assert book.active() == []


def test_wildcard_faults_meant_for_drs_calls_skip_the_token_endpoint() -> None:
    book = FaultBook()
    book.add(parse_fault({"endpoint": "*", "kind": "partial", "count": 1}))
    assert book.take("tokens", "after") is None
    assert book.take("batch-status", "after") is not None

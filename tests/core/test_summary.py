from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from bot.core.model import Outcome
from bot.core.request import RequestJob
from bot.core.summary import CSV_HEADER, NO_ERROR_CODE, NOT_SENT, jobs_csv, summarize

from .fuzzing import fuzz


def job(
    n: int, outcome: Outcome | None, *, error_code: str | None = None, order_id: str | None = None
) -> RequestJob:
    return RequestJob(
        f"{n:08d}-0000-0000-0000-00000000jb{n % 10}x",
        outcome=outcome,
        error_code=error_code,
        order_id=order_id,
    )


def test_empty() -> None:
    s = summarize([])
    assert (s.total, s.started, s.failed, s.unknown, s.not_sent) == (0, 0, 0, 0, 0)
    assert s.rows == ()
    assert s.orders == ()
    assert s.failed_by_code == ()
    assert s.all_known


def test_counts_and_row_order() -> None:
    jobs = [
        job(1, Outcome.SUCCESS),
        job(2, Outcome.FAILED, error_code="DRS.M00304"),
        job(3, None),
        job(4, Outcome.UNKNOWN),
        job(5, Outcome.FAILED, error_code="DRS.M05003"),
        job(6, Outcome.SUCCESS),
        job(7, Outcome.UNKNOWN),
        job(8, None),
    ]
    s = summarize(jobs)
    assert (s.total, s.started, s.failed, s.unknown, s.not_sent) == (8, 2, 2, 2, 2)
    # Failures first, then unknown, then not sent, then started; input order inside each group.
    assert [jobs.index(r) + 1 for r in s.rows] == [2, 5, 4, 7, 3, 8, 1, 6]
    assert not s.all_known


def test_all_known_when_only_started_and_failed() -> None:
    assert summarize([job(1, Outcome.SUCCESS), job(2, Outcome.FAILED)]).all_known


def test_orders_lists_prepaid_starts_in_input_order() -> None:
    jobs = [
        job(1, Outcome.SUCCESS, order_id="CS2611"),
        job(2, Outcome.SUCCESS),
        job(3, Outcome.SUCCESS, order_id="CS2612"),
        job(4, Outcome.FAILED, order_id=""),
    ]
    assert summarize(jobs).orders == ((jobs[0].job_id, "CS2611"), (jobs[2].job_id, "CS2612"))


def test_failed_by_code_most_first_ties_by_code_missing_code_counted() -> None:
    jobs = [
        job(1, Outcome.FAILED, error_code="DRS.M05003"),
        job(2, Outcome.FAILED, error_code="DRS.M00304"),
        job(3, Outcome.FAILED, error_code="DRS.M00304"),
        job(4, Outcome.FAILED),
        job(5, Outcome.FAILED, error_code="APIGW.0308"),
        # Codes on jobs that did not fail are not failures.
        job(6, Outcome.UNKNOWN, error_code="DRS.M00304"),
        job(7, Outcome.SUCCESS, error_code="DRS.M00304"),
    ]
    assert summarize(jobs).failed_by_code == (
        ("DRS.M00304", 2),
        (NO_ERROR_CODE, 1),
        ("APIGW.0308", 1),
        ("DRS.M05003", 1),
    )


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_header_and_cells() -> None:
    jobs = [
        RequestJob(
            "9a470239-2308-4bb5-a6bc-1040402fjb21",
            name="mig-shop-1",
            outcome=Outcome.FAILED,
            error_code="DRS.M00304",
            error_msg='status "FULL_TRANSFER_STARTED", cannot start,\nsee docs',
            drs_status="FULL_TRANSFER_STARTED",
        ),
        RequestJob("dbb8127c-b093-4b94-b764-7161e151jb2s", outcome=Outcome.SUCCESS, order_id="CS1"),
        RequestJob("dbb8127c-b093-4b94-b764-7161e151jb2t"),
    ]
    text = jobs_csv(jobs)
    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    assert text.endswith("\r\n")
    rows = read_csv(text)
    assert rows == [
        {
            "job_id": "9a470239-2308-4bb5-a6bc-1040402fjb21",
            "name": "mig-shop-1",
            "outcome": "failed",
            "error_code": "DRS.M00304",
            "error_msg": 'status "FULL_TRANSFER_STARTED", cannot start,\nsee docs',
            "order_id": "",
            "drs_status": "FULL_TRANSFER_STARTED",
        },
        {
            "job_id": "dbb8127c-b093-4b94-b764-7161e151jb2s",
            "name": "",
            "outcome": "success",
            "error_code": "",
            "error_msg": "",
            "order_id": "CS1",
            "drs_status": "",
        },
        {
            "job_id": "dbb8127c-b093-4b94-b764-7161e151jb2t",
            "name": "",
            "outcome": NOT_SENT,
            "error_code": "",
            "error_msg": "",
            "order_id": "",
            "drs_status": "",
        },
    ]


def test_csv_neutralises_spreadsheet_formulas() -> None:
    jobs = [
        RequestJob("a" * 8 + "-0000-0000-0000-" + "0" * 12, name="=HYPERLINK(1)", error_msg="+1"),
        RequestJob("b" * 8 + "-0000-0000-0000-" + "0" * 12, name="-x", error_msg="@SUM(A1)"),
    ]
    rows = read_csv(jobs_csv(jobs))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(1)", "'-x"]
    assert [r["error_msg"] for r in rows] == ["'+1", "'@SUM(A1)"]


def test_csv_empty_has_only_header() -> None:
    assert jobs_csv([]) == ",".join(CSV_HEADER) + "\r\n"


outcomes = st.sampled_from([None, *Outcome])
request_jobs = st.builds(
    RequestJob,
    job_id=st.uuids().map(str),
    name=st.none() | st.text(max_size=20),
    outcome=outcomes,
    error_code=st.none() | st.sampled_from(["DRS.M00304", "DRS.M05003", "APIGW.0308", ""]),
    error_msg=st.none() | st.text(max_size=30),
    order_id=st.none() | st.text(min_size=1, max_size=8),
)


@fuzz
@given(st.lists(request_jobs, max_size=30))
def test_summary_properties(jobs: list[RequestJob]) -> None:
    s = summarize(jobs)
    assert s.total == len(jobs) == s.started + s.failed + s.unknown + s.not_sent
    assert sorted(map(id, s.rows)) == sorted(map(id, jobs))
    ranks = [
        [Outcome.FAILED, Outcome.UNKNOWN, None, Outcome.SUCCESS].index(r.outcome) for r in s.rows
    ]
    assert ranks == sorted(ranks)
    assert sum(n for _, n in s.failed_by_code) == s.failed
    assert [n for _, n in s.failed_by_code] == sorted(
        (n for _, n in s.failed_by_code), reverse=True
    )
    rows = read_csv(jobs_csv(jobs))
    assert [r["job_id"] for r in rows] == [j.job_id for j in jobs]
    assert [r["outcome"] for r in rows] == [j.outcome or NOT_SENT for j in jobs]

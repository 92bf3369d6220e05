from __future__ import annotations

import pytest

from bot.core.jobids import JOB_ID_RE, NOT_A_JOB_ID, parse_job_ids
from bot.core.model import Outcome
from bot.core.request import RequestJob
from bot.core.summary import jobs_csv

A = "9a470239-2308-4bb5-a6bc-1040402fjb21"
B = "dbb8127c-b093-4b94-b764-7161e151jb2s"
C = "0c7a4e5e-3b6f-4b0c-9d5a-2f7e8c1jb101"  # ends in jb101


def test_job_id_re_accepts_real_ids_and_rejects_near_misses() -> None:
    assert JOB_ID_RE.match(A)
    assert JOB_ID_RE.match(B)
    assert JOB_ID_RE.match("6f1c2b9e-8d4a-4e5f-9a0b-1c2d3e4f5a6b")  # plain hex is fine too
    assert not JOB_ID_RE.match(A.upper())  # the pattern itself is lower-case only
    assert not JOB_ID_RE.match(A + "\n")  # no `$` loophole
    assert not JOB_ID_RE.match(A + "x")
    assert not JOB_ID_RE.match("x" + A)
    assert not JOB_ID_RE.match(A.replace("-", ""))
    assert not JOB_ID_RE.match(A[:-1] + "_")


@pytest.mark.parametrize(
    "text",
    [
        f"{A}\n{B}",
        f"{A},{B}",
        f"{A}, {B}",
        f"{A};{B}",
        f"{A} {B}",
        f"{A}\t{B}",
        f"  {A}\r\n{B}\r\n\r\n",
        f"{A}\u00a0{B}",  # non-breaking space from a rich-text paste
        f"{A}\u200b{B}",  # zero-width space
        f"\ufeff{A}\n{B}",  # byte-order mark from a CSV export
        f'"{A}", "{B}"',
        f"`{A}` `{B}`",
        f"“{A}” ‘{B}’",
        f"{A.upper()}\n{B}",  # upper-case is normalised
        f"job_id\n{A}\n{B}",  # a one-column CSV with its header
        f"JOB_ID,{A},{B}",  # header word first, then the list on one line
        f"{A}\n{B}\n{A}\n{B.upper()}",  # duplicates collapse
    ],
)
def test_separators_wrappers_case_header(text: str) -> None:
    parsed = parse_job_ids(text, max_jobs=10)
    assert parsed.ids == (A, B)
    assert parsed.invalid == ()
    assert parsed.ok
    assert parsed.problems() == []


def test_duplicates_are_reported_once_each_in_order() -> None:
    parsed = parse_job_ids(f"{B} {A} {A} {B} {A} {B.upper()}", max_jobs=10)
    assert parsed.ids == (B, A)
    assert parsed.duplicates == (A, B)
    assert parsed.ok


def test_order_is_kept() -> None:
    ids = [f"{i:08d}-aaaa-bbbb-cccc-{i:010d}jb" for i in range(50)]
    parsed = parse_job_ids(",".join(reversed(ids)), max_jobs=100)
    assert parsed.ids == tuple(reversed(ids))


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("9a470239-2308-4bb5-a6bc-1040402fjb2", f"{NOT_A_JOB_ID}, got 8-4-4-4-11"),
        ("9a470239-2308-4bb5-a6bc-1040402fjb211", f"{NOT_A_JOB_ID}, got 8-4-4-4-13"),
        ("9a4702392-308-4bb5-a6bc-1040402fjb21", f"{NOT_A_JOB_ID}, got 9-3-4-4-12"),
        ("9a4702392308-4bb5-a6bc-1040402fjb21", NOT_A_JOB_ID),
        ("9a470239_2308_4bb5_a6bc_1040402fjb21", f"{NOT_A_JOB_ID}, and only letters"),
        ("9a470239-2308-4bb5-a6bc-1040402fjb2ä", f"{NOT_A_JOB_ID}, and only letters"),
        (f"id={A}", "has other text around a job ID"),
        (f"<{A}>", "has other text around a job ID"),
        ("prod", NOT_A_JOB_ID),
    ],
)
def test_invalid_tokens_say_why(token: str, why: str) -> None:
    parsed = parse_job_ids(f"{A} {token}", max_jobs=10)
    assert parsed.ids == (A,)
    assert len(parsed.invalid) == 1
    got_token, got_why = parsed.invalid[0]
    assert got_token == token
    assert got_why.startswith(why)
    assert not parsed.ok


def test_invalid_tokens_keep_their_case_and_collapse() -> None:
    parsed = parse_job_ids("Prod prod Prod", max_jobs=10)
    assert [t for t, _ in parsed.invalid] == ["Prod", "prod"]


def test_problems_name_the_tokens_and_what_to_do() -> None:
    parsed = parse_job_ids(f"{A} oops 9a470239-2308-4bb5-a6bc-1040402fjb2", max_jobs=10)
    (message,) = parsed.problems()
    assert message.startswith("2 entries are not job IDs, fix or remove:")
    assert "'oops'" in message
    assert "got 8-4-4-4-11" in message


def test_problems_list_a_few_invalid_and_count_the_rest() -> None:
    parsed = parse_job_ids(" ".join(f"bad{i}" for i in range(12)), max_jobs=10)
    (message,) = parsed.problems()
    assert "12 entries" in message
    assert "'bad4'" in message
    assert "'bad5'" not in message
    assert "and 7 more" in message


def test_problems_shorten_long_tokens() -> None:
    parsed = parse_job_ids("x" * 5000, max_jobs=10)
    (message,) = parsed.problems()
    assert len(message) < 300
    assert parsed.invalid[0][0] == "x" * 5000


def test_empty_input_is_a_problem() -> None:
    for text in ("", "  \n , ;", "job_id", '""'):
        parsed = parse_job_ids(text, max_jobs=10)
        assert parsed.ids == ()
        assert not parsed.ok
        (message,) = parsed.problems()
        assert message.startswith("no job IDs given")


def test_too_many() -> None:
    ids = [f"{i:08d}-aaaa-bbbb-cccc-{i:012d}" for i in range(6)]
    at_limit = parse_job_ids(" ".join(ids[:5]), max_jobs=5)
    assert at_limit.ok
    assert not at_limit.too_many
    over = parse_job_ids(" ".join(ids), max_jobs=5)
    assert over.too_many
    assert not over.ok
    assert len(over.ids) == 6  # not truncated: the caller decides
    assert over.problems() == [
        "6 job IDs given, at most 5 per request: split them into several requests"
    ]
    # Duplicates do not count towards the limit.
    assert parse_job_ids(" ".join(ids[:5] * 3), max_jobs=5).ok


def test_max_jobs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_jobs"):
        parse_job_ids(A, max_jobs=0)


def test_reads_the_job_id_column_of_the_bots_own_csv() -> None:
    jobs = [
        RequestJob(A, name="mig, shop 1", outcome=Outcome.FAILED, error_msg="bad; very bad"),
        RequestJob(B, name="x", outcome=Outcome.SUCCESS),
    ]
    parsed = parse_job_ids(jobs_csv(jobs), max_jobs=10)
    assert parsed.ids == (A, B)
    assert parsed.invalid == ()


@pytest.mark.parametrize(
    "text",
    [
        f"name;job_id;status\nshop-1;{A};CONFIGURATION\nshop-2;{B};CONFIGURATION\n",
        f"name\tJOB_ID\nshop-1\t{A}\nshop-2\t{B}\n",
        f'"name","job_id"\n"shop 1","{A}"\n,\n"shop 2","{B}"\n',
    ],
)
def test_reads_a_job_id_column_with_any_common_delimiter(text: str) -> None:
    parsed = parse_job_ids(text, max_jobs=10)
    assert parsed.ids == (A, B)
    assert parsed.invalid == ()


def test_csv_column_reports_bad_cells() -> None:
    parsed = parse_job_ids(f"job_id,name\n{A},one\nnot-an-id,two\n", max_jobs=10)
    assert parsed.ids == (A,)
    assert [t for t, _ in parsed.invalid] == ["not-an-id"]


def test_a_first_line_of_ids_is_not_a_header() -> None:
    parsed = parse_job_ids(f"{A},{B}\n{C}", max_jobs=10)
    assert parsed.ids == (A, B, C)

"""Selecting jobs by name pattern, reading uploaded lists, and the frozen list's CSV."""

from __future__ import annotations

import codecs
import csv
import fnmatch
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.idfile import LIST_CSV_HEADER, ListedJob, frozen_list_csv, parse_id_file
from bot.core.model import JobInfo
from bot.core.selection import (
    DRS_NAME_MAX,
    Selection,
    SelectionProblem,
    merge_ids,
    read_selection,
    resolve,
)

A = "9a470239-2308-4bb5-a6bc-1040402fjb21"
B = "dbb8127c-b093-4b94-b764-7161e151jb2s"
C = "3f2a9c1e-7b4d-4e8a-9c2f-5d1e0a7bjb01"


def info(
    name: str | None,
    job_id: str = A,
    status: str | None = "CONFIGURATION",
    kind: str | None = "migration",
) -> JobInfo:
    return JobInfo(job_id=job_id, name=name, status=status, db_use_type=kind)


def gen_id(n: int) -> str:
    return f"{n:08d}-0000-4000-8000-{n:012d}"


# --- reading a selection -------------------------------------------------------------------------


def test_no_pattern_selects_nothing() -> None:
    assert read_selection(None) is None
    assert read_selection("   ", "CONFIGURATION", "sync") is None


def test_parts_are_normalised() -> None:
    got = read_selection("  mig-shop-*  ", " configuration ", "CLOUDDATAGUARD")
    assert got == Selection("mig-shop-*", "CONFIGURATION", "cloudDataGuard")
    assert read_selection("x", "", "") == Selection("x", None, None)


@pytest.mark.parametrize(
    ("pattern", "status", "kind", "field", "words"),
    [
        ("x" * 201, None, None, "pattern", "at most 200"),
        ("mig\x00*", None, None, "pattern", "control characters"),
        ("mig-*", "RUNNING", None, "status", "'RUNNING' is not a DRS task status"),
        ("mig-*", None, "mirror", "type", "'mirror' is not a job type"),
    ],
)
def test_bad_parts_name_their_field(
    pattern: str, status: str | None, kind: str | None, field: str, words: str
) -> None:
    got = read_selection(pattern, status, kind)
    assert isinstance(got, SelectionProblem)
    assert got.field == field
    assert words in got.message


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [("mig-shop-*", "mig-shop-"), ("*shop", None), ("a?b*", "a"), ("exact", "exact")],
)
def test_drs_name_is_the_literal_prefix(pattern: str, prefix: str | None) -> None:
    assert Selection(pattern).drs_name == prefix


def test_long_prefix_is_cut_for_drs() -> None:
    assert Selection("n" * 150 + "*").drs_name == "n" * DRS_NAME_MAX


def test_matching_is_whole_name_case_sensitive_and_literal_apart_from_wildcards() -> None:
    sel = Selection("mig-shop-??.[1]*")
    assert sel.matches(info("mig-shop-01.[1]"))
    assert sel.matches(info("mig-shop-ab.[1]-tail"))
    assert not sel.matches(info("mig-shop-1.[1]"))  # ? is exactly one character
    assert not sel.matches(info("mig-shop-01x[1]"))  # . is literal
    assert not sel.matches(info("mig-shop-01.1"))  # [1] is literal, not a set
    assert not sel.matches(info("MIG-shop-01.[1]"))
    assert not sel.matches(info("xmig-shop-01.[1]"))  # anchored at the start
    assert not sel.matches(info(None))
    assert Selection("a*b").matches(info("a\nb"))


def test_status_and_type_filters() -> None:
    sel = Selection("mig-*", "CONFIGURATION", "sync")
    assert sel.matches(info("mig-1", kind="sync"))
    assert sel.matches(info("mig-1", kind=None))  # DRS did not say: the per-type query did
    assert not sel.matches(info("mig-1", kind="migration"))
    assert not sel.matches(info("mig-1", status="FULL_TRANSFER_STARTED", kind="sync"))
    assert Selection("mig-*").db_use_types == ("migration", "sync", "cloudDataGuard")
    assert sel.db_use_types == ("sync",)
    assert sel.describe() == "name mig-* · status CONFIGURATION · type sync"
    assert Selection("x").describe() == "name x · any status · any type"


names = st.text(alphabet="ab-*?.", max_size=12)


@given(pattern=names, name=st.text(alphabet="ab-.", max_size=12))
def test_glob_agrees_with_fnmatch_and_the_prefix_is_safe(pattern: str, name: str) -> None:
    sel = Selection(pattern)
    matched = sel.matches(info(name))
    assert matched == fnmatch.fnmatchcase(name, pattern)
    if matched:
        # Every match is in DRS's answer, whether DRS reads `name` as prefix or substring.
        assert name.startswith(sel.drs_name or "")


# --- resolving ----------------------------------------------------------------------------------


def test_resolve_keeps_matches_once_sorted_by_name() -> None:
    listed = [
        info("mig-b", B),
        info("mig-a", A),
        info("other", C),
        info("mig-a", A),  # listed twice (two queries)
        info("mig-c", C, status="FULL_TRANSFER_STARTED"),
    ]
    got = resolve(Selection("mig-*", "CONFIGURATION"), listed, max_jobs=5)
    assert got.ids == (A, B)
    assert got.problem("prod") is None
    assert got.not_startable == 0
    anything = resolve(Selection("mig-*"), listed, max_jobs=5)
    assert anything.ids == (A, B, C)
    assert anything.not_startable == 1


def test_empty_too_many_and_incomplete_matches_are_refused() -> None:
    listed = [info(f"mig-{n:03d}", gen_id(n)) for n in range(12)]
    empty = resolve(Selection("nope-*"), listed, max_jobs=10)
    assert empty.problem("prod") is not None
    assert "No job in prod matches name nope-*" in str(empty.problem("prod"))
    many = resolve(Selection("mig-*"), listed, max_jobs=10)
    assert many.too_many
    assert "12 jobs in prod match" in str(many.problem("prod"))
    assert "at most 10" in str(many.problem("prod"))
    cut = resolve(Selection("mig-*"), listed, max_jobs=10, complete=False)
    assert "More than 10 jobs" in str(cut.problem("prod"))
    partial = resolve(Selection("mig-00*"), listed, max_jobs=20, complete=False)
    assert "make the part before the first * longer" in str(partial.problem("prod"))


def test_merge_ids_is_a_union_in_first_seen_order() -> None:
    assert merge_ids([A, B], [B, C], [A]) == ((A, B, C), 2)
    assert merge_ids() == ((), 0)


# --- uploaded lists ------------------------------------------------------------------------------


def test_plain_list_with_header_comments_blanks_and_crlf() -> None:
    text = f'# wave 3\r\njob_id\r\n{A}\r\n\r\n  {B.upper()}  \r\n{A}\r\n"{C}"\r\n'
    got = parse_id_file(text.encode(), max_jobs=10)
    assert got.ok
    assert got.ids == (A, B, C)
    assert got.repeats == 1
    assert got.message() is None


def test_several_ids_on_a_line_are_accepted() -> None:
    got = parse_id_file(f"{A} {B}\n{C}".encode(), max_jobs=10)
    assert got.ids == (A, B, C)


def test_bad_lines_are_named_by_number() -> None:
    lines = [A, B, "abc", "", C, "# note", "9a470239-2308-4bb5-a6bc-1040402fjb2", "x" * 80]
    got = parse_id_file("\n".join(lines).encode(), max_jobs=10)
    assert not got.ok
    assert [p.line for p in got.problems] == [3, 7, 8]
    message = got.message("wave.txt")
    assert message is not None
    assert message.startswith("wave.txt: 3 lines are not job IDs")
    assert "line 3: 'abc' is not a job ID" in message
    assert "got 8-4-4-4-11" in message
    assert "…" in message  # the long token is shortened
    assert got.ids == (A, B, C)


def test_many_bad_lines_are_counted_not_all_listed() -> None:
    got = parse_id_file("\n".join(f"bad{n}" for n in range(40)).encode(), max_jobs=10)
    message = str(got.message())
    assert "40 lines are not job IDs" in message
    assert "and 35 more" in message
    assert message.count("line ") == 5


def test_csv_is_read_by_its_job_id_column() -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "Job ID", "status"])
    writer.writerow(["orders, prod", A, "CONFIGURATION"])  # a quoted comma in another cell
    writer.writerow(["customers", B, "CONFIGURATION"])
    writer.writerow(["broken", "not-an-id", "x"])
    writer.writerow(["", "", ""])
    writer.writerow(["no id", "", "x"])
    got = parse_id_file(out.getvalue().encode(), max_jobs=10)
    assert got.ids == (A, B)
    assert [(p.line, p.text) for p in got.problems] == [(4, "not-an-id"), (6, "")]
    assert "line 6: no value in the job_id column" in str(got.message())


def test_semicolon_and_tab_tables() -> None:
    assert parse_id_file(f"id;name\n{A};a\n{B};b\n".encode(), max_jobs=5).ids == (A, B)
    assert parse_id_file(f"name\tjob_id\na\t{A}\n".encode(), max_jobs=5).ids == (A,)


def test_table_without_job_id_column_is_refused_with_its_header() -> None:
    got = parse_id_file(f"name,status\nmig,{A}\n".encode(), max_jobs=5)
    assert got.fatal is not None
    assert "no job_id column" in got.fatal
    assert "'name', 'status'" in got.fatal
    assert not got.ok


def test_headerless_table_is_refused_but_comma_separated_ids_are_a_list() -> None:
    got = parse_id_file(f"{A},orders\n{B},customers\n".encode(), max_jobs=5)
    assert got.fatal is not None and "no header row" in got.fatal
    listed = parse_id_file(f"{A},{B}\n{C}\n".encode(), max_jobs=5)
    assert listed.ids == (A, B, C)


def test_frozen_list_csv_round_trips_as_an_upload() -> None:
    jobs = [
        ListedJob(A, "=HYPERLINK(1)", "CONFIGURATION", prepaid=True),
        ListedJob(B, "plain, with comma", None),
    ]
    text = frozen_list_csv(jobs)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == LIST_CSV_HEADER
    assert rows[1] == [A, "'=HYPERLINK(1)", "CONFIGURATION", "yes"]
    assert rows[2] == [B, "plain, with comma", "not found", "no"]
    assert text.endswith("\r\n")
    assert parse_id_file(text.encode(), max_jobs=5).ids == (A, B)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "PNG image"),
        (b"PK\x03\x04" + b"\x00" * 40, ".xlsx"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 40, ".xls"),
        (b"%PDF-1.7\n", "PDF"),
        (A.encode() + b"\n\x00\x01\x02", "not a text file"),
        (bytes(range(128, 256)) * 4, "not UTF-8"),
        (A.encode() + b"\n" + bytes(range(1, 9)) * 10, "not a text file"),
    ],
)
def test_binary_files_are_not_text(data: bytes, words: str) -> None:
    got = parse_id_file(data, max_jobs=5)
    assert got.fatal is not None
    assert "this is not a text file" in got.fatal
    assert words in got.fatal
    assert got.ids == ()


def test_other_text_encodings_are_read() -> None:
    utf16 = codecs.BOM_UTF16_LE + f"job_id\r\n{A}\r\n".encode("utf-16-le")
    assert parse_id_file(utf16, max_jobs=5).ids == (A,)
    bom = codecs.BOM_UTF8 + f"job_id,name\n{A},x\n".encode()
    assert parse_id_file(bom, max_jobs=5).ids == (A,)
    # A local code page in a name cell does not hide the ASCII IDs.
    gbk = f"job_id,name\n{A},".encode() + "订单".encode("gbk") + b"\n"
    assert parse_id_file(gbk, max_jobs=5).ids == (A,)


def test_size_count_and_emptiness_limits() -> None:
    too_big = parse_id_file(b"x" * 2049, max_jobs=5, max_bytes=2048)
    assert too_big.fatal is not None and "at most 2 KiB" in too_big.fatal
    many = parse_id_file("\n".join(gen_id(n) for n in range(6)).encode(), max_jobs=5)
    assert many.too_many and not many.ok
    assert "lists 6 job IDs; at most 5" in str(many.message())
    for empty in (b"", b"\n \n", b"# only a comment\n", b"job_id\n"):
        got = parse_id_file(empty, max_jobs=5)
        assert not got.ok
        assert got.message() is not None


@given(st.binary(max_size=300))
def test_any_bytes_are_read_without_raising(data: bytes) -> None:
    got = parse_id_file(data, max_jobs=3)
    assert got.ok == (got.message() is None)
    assert all(len(i) == 36 for i in got.ids)

"""CSV cells cannot become formulas, whatever a spreadsheet splits the file on."""

from __future__ import annotations

import csv
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.idfile import ListedJob, frozen_list_csv, parse_id_file
from bot.core.model import Outcome
from bot.core.request import RequestJob
from bot.core.spreadsheet import FORMULA_STARTERS, safe_cell
from bot.core.summary import jobs_csv

from .fuzzing import fuzz

# Every way a line may be cut into fields: the bot's comma, the ; of other locales, tab, | and
# blank from an import dialog, and line breaks for a reader that ignores quotes.
SPLITS = [",", ";", "\t", "|", " ", "\n", "\r"]
_STRIPPED = ' \t\r\n"\u00a0'
ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"


def fields(text: str) -> list[str]:
    """Every field any of :data:`SPLITS` (alone, quotes ignored) makes of ``text``, with the
    blanks and quotes a spreadsheet strips from a field's start removed."""
    out: list[str] = []
    for sep in SPLITS:
        for line in re.split(r"\r\n|\r|\n", text):
            out.extend(f.lstrip(_STRIPPED) for f in line.split(sep))
    return out


def formulas(text: str) -> list[str]:
    return [f for f in fields(text) if f.startswith(tuple(FORMULA_STARTERS))]


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("x;=cmd|' /C calc'!A0", "x;'=cmd|' /C calc'!A0"),
        ("\n=1+1", "\n'=1+1"),
        ("a, +1", "a, '+1"),
        ('x;"=1+1', "x;\"'=1+1"),
        ("name\t@SUM(A1)", "name\t'@SUM(A1)"),
        ("＝1+1", "'＝1+1"),
        ("mig-shop-1", "mig-shop-1"),
        ("a=b+c", "a=b+c"),
        ("", ""),
        (None, ""),
    ],
)
def test_every_formula_starter_that_could_begin_a_field_gets_a_quote(
    value: str | None, safe: str
) -> None:
    assert safe_cell(value) == safe
    assert not formulas(safe)


def test_the_reported_cells_are_no_formulas_in_a_semicolon_or_tab_spreadsheet() -> None:
    jobs = [
        RequestJob(ID, name="x;=cmd|' /C calc'!A0", outcome=Outcome.FAILED, error_msg="\n=1+1"),
        RequestJob(ID, name="a\t-2+3", drs_status="b|@x"),
    ]
    text = jobs_csv(jobs)
    assert formulas(text) == []
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0]["name"] == "x;'=cmd|' /C calc'!A0"
    assert rows[0]["error_msg"] == "\n'=1+1"
    listed = frozen_list_csv([ListedJob(ID, name="y; =1", status="\r+1")])
    assert formulas(listed) == []
    assert parse_id_file(listed.encode(), max_jobs=5).ids == (ID,)


hostile = st.text(
    alphabet=st.sampled_from([*FORMULA_STARTERS, *SPLITS, '"', "'", "a", "-", "\u00a0", "é"]),
    max_size=30,
)


@fuzz
@given(value=hostile | st.text(max_size=30))
def test_no_split_of_a_safe_cell_starts_a_formula(value: str) -> None:
    safe = safe_cell(value)
    assert not formulas(safe)
    # Nothing but quotes is added, and only right before a formula starter.
    starters = "[" + re.escape(FORMULA_STARTERS) + "]"
    assert re.sub(f"'(?={starters})", "", safe) == re.sub(f"'(?={starters})", "", value)


@fuzz
@given(
    rows=st.lists(
        st.tuples(hostile, hostile, hostile, st.sampled_from([None, *Outcome])), max_size=4
    )
)
def test_no_split_of_the_outcome_table_starts_a_formula(
    rows: list[tuple[str, str, str, Outcome | None]],
) -> None:
    jobs = [
        RequestJob(ID, name=n, error_code=c, error_msg=m, outcome=o, drs_status=m)
        for n, c, m, o in rows
    ]
    assert formulas(jobs_csv(jobs)) == []
    assert formulas(frozen_list_csv([ListedJob(ID, n, c) for n, c, _, _ in rows])) == []


def test_every_starter_of_a_long_cell_is_quoted() -> None:
    # A cell of nothing but starters after separators: one pass, one quote each.
    value = ";=" * 50_000
    assert safe_cell(value) == ";'=" * 50_000

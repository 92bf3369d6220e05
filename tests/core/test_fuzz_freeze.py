"""Cron and duration parsing, and the freeze searches, under hostile input: never an unhandled
exception, and every search answers within its bounds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from bot.core.cron import Cron, CronError, parse_cron
from bot.core.freeze import FreezeWindow, freeze_verdict, parse_duration
from bot.core.freeze_file import load_freezes

from .fuzzing import fuzz
from .strategies import chat_text

_T = TypeVar("_T")
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Shanghai"]

cron_atoms = st.sampled_from(
    [*"*/-,0123456789 ", "mon", "FRI", "jan", "dec", "60", "7", "31", "*/0", "1-5/2", "\t"]
)
cron_like = st.lists(cron_atoms, max_size=24).map("".join)
duration_like = st.lists(
    st.sampled_from([*"0123456789dhm ", "1d", "12h", "30m", "Dh"]), max_size=10
)


def _read(parse: Callable[[str], _T], text: str) -> _T | str:
    """What ``parse`` makes of ``text``, or its ValueError's message (CronError is one)."""
    try:
        return parse(text)
    except ValueError as exc:
        return str(exc)


@fuzz
@given(st.one_of(cron_like, chat_text))
def test_cron_parsing_never_raises_anything_but_cron_error(text: str) -> None:
    cron = _read(parse_cron, text)
    if isinstance(cron, str):
        assert cron  # a message that says what to fix
        return
    assert isinstance(cron, Cron)
    assert all(0 <= m <= 59 for m in cron.minutes) and all(0 <= h <= 23 for h in cron.hours)
    assert cron.weekdays <= set(range(7)) and cron.months <= set(range(1, 13))


@fuzz
@given(st.one_of(duration_like.map("".join), chat_text))
def test_duration_parsing_never_raises_anything_but_value_error(text: str) -> None:
    seconds = _read(parse_duration, text)
    if isinstance(seconds, str):
        assert seconds
        return
    assert 60 <= seconds <= 366 * 86400


@fuzz
@given(
    cron_like,
    st.integers(min_value=1, max_value=366 * 24 * 60),
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_searches_are_bounded_and_consistent(
    text: str, minutes: int, zone: str, moment: datetime
) -> None:
    try:
        cron = parse_cron(text)
    except CronError:
        return
    w = FreezeWindow("w", cron, minutes * 60, zone)
    t = moment.replace(tzinfo=UTC).timestamp()
    opened = w.holding_opening(t)
    if opened is not None:
        assert t - w.duration < opened <= t
        span = w.span_at(t)
        assert span is not None and span.ends > t
    nxt = w.next_opening(t, within=40 * 86400)
    if nxt is not None:
        assert t < nxt <= t + 40 * 86400
        assert w.holding_opening(nxt) is not None
    freeze_verdict([w], "any", t)  # never raises


@fuzz
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["name", "schedule", "duration", "timezone", "kind", "bogus"]),
            st.one_of(chat_text, cron_like, st.sampled_from(ZONES), st.integers(), st.none()),
            max_size=6,
        ),
        max_size=3,
    )
)
def test_freeze_tables_load_or_say_what_is_wrong(raw: list[dict[str, object]]) -> None:
    problems: list[str] = []
    windows = load_freezes(raw, problems)
    assert all(p.startswith("freeze") for p in problems)
    if not problems:
        assert len(windows) == len(raw)

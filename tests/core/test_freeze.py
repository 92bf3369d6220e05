"""Freeze windows: cron schedules, durations, DST at both edges, deny over allow, overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.cron import CronError, parse_cron
from bot.core.freeze import (
    FreezeWindow,
    Kind,
    duration_text,
    freeze_verdict,
    may_override,
    parse_duration,
    window_states,
)

NY = ZoneInfo("America/New_York")


def at(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    *,
    tz: ZoneInfo | None = None,
    fold: int = 0,
) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz or UTC, fold=fold).timestamp()


def window(
    schedule: str,
    duration: str,
    *,
    tz: str = "UTC",
    kind: Kind = Kind.DENY,
    projects: tuple[str, ...] = (),
    name: str = "w",
    override: frozenset[str] = frozenset(),
) -> FreezeWindow:
    return FreezeWindow(
        name=name,
        schedule=parse_cron(schedule),
        duration=parse_duration(duration),
        timezone=tz,
        projects=projects,
        kind=kind,
        override=override,
        reason="test",
    )


# -- cron --------------------------------------------------------------------------------------


def test_cron_fields_ranges_steps_lists_and_names() -> None:
    c = parse_cron("*/15 9-17/4 1,15 jan-MAR mon-fri")
    assert c.minutes == (0, 15, 30, 45)
    assert c.hours == (9, 13, 17)
    assert c.days == {1, 15} and c.months == {1, 2, 3} and c.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0 18 * *", "has 4 field(s)"),
        ("60 * * * *", "minute '60': 60 is out of range 0-59"),
        ("0 24 * * *", "out of range 0-23"),
        ("0 0 0 * *", "day of month '0'"),
        ("0 0 * 13 *", "month '13'"),
        ("0 0 * * fri-mon", "split a wrapping range"),
        ("*/0 * * * *", "at least 1"),
        ("1,,2 * * * *", "empty item"),
        ("x * * * *", "expected a number 0-59"),
        ("0 0 * foo *", "or a name (jan"),
    ],
)
def test_cron_errors_say_which_field(text: str, fragment: str) -> None:
    with pytest.raises(CronError) as caught:
        parse_cron(text)
    assert fragment in str(caught.value)


def test_day_of_month_and_week_combine_with_or_when_both_restricted() -> None:
    c = parse_cron("0 0 1 * mon")
    assert c.day_matches(datetime(2026, 6, 1).date())  # the 1st (a Monday anyway)
    assert c.day_matches(datetime(2026, 7, 1).date())  # the 1st, a Wednesday
    assert c.day_matches(datetime(2026, 7, 6).date())  # a Monday, not the 1st
    assert not c.day_matches(datetime(2026, 7, 7).date())
    starred = parse_cron("0 0 1 * */1")  # a starred field is unrestricted: AND
    assert not starred.day_matches(datetime(2026, 7, 6).date())
    assert starred.day_matches(datetime(2026, 7, 1).date())


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("2h", 7200), ("1d", 86400), ("1d12h", 129600), ("1d2h30m", 95400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(duration_text(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0m", "no time at all"),
        ("2h1d", "days, hours and minutes in that order"),
        ("367d", "longer than 366 days"),
        ("", "is not a duration"),
        ("90", "is not a duration"),
    ],
)
def test_bad_durations(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration(text)


# -- holding and ending ------------------------------------------------------------------------


def test_a_weekend_freeze_holds_from_friday_evening_for_62_hours() -> None:
    w = window("0 18 * * 5", "62h", tz="Asia/Shanghai")
    sh = ZoneInfo("Asia/Shanghai")
    friday = at(2026, 7, 3, 18, 0, tz=sh)
    assert w.span_at(friday - 60) is None
    span = w.span_at(friday)
    assert span is not None and span.opened == friday and span.ends == friday + 62 * 3600
    assert w.span_at(friday + 62 * 3600 - 1) is not None
    assert w.span_at(friday + 62 * 3600) is None  # Monday 08:00: closed again
    assert w.next_opening(friday) == friday + 7 * 86400


def test_overlapping_openings_extend_the_span() -> None:
    w = window("0 * * * *", "90m")  # every hour for 90 minutes: never closes
    span = w.span_at(at(2026, 7, 3, 12, 10))
    assert span is not None and not span.exact  # "at least until"
    gaps = window("0 0,1 * * *", "90m")  # 00:00-01:30 and 01:00-02:30 chain into 00:00-02:30
    span = gaps.span_at(at(2026, 7, 3, 0, 30))
    assert span is not None and span.exact and span.ends == at(2026, 7, 3, 2, 30)


# -- DST: both edges, in the window's timezone --------------------------------------------------


def test_spring_forward_gap_opens_shifted_by_the_gap() -> None:
    # 2026-03-08: New York's clocks jump from 02:00 EST to 03:00 EDT; 02:30 never happens.
    w = window("30 2 * * *", "1h", tz="America/New_York")
    opened = at(2026, 3, 8, 3, 30, tz=NY)  # 02:30 read with the old offset: 03:30 EDT
    assert w.span_at(opened - 1) is None
    span = w.span_at(opened)
    assert span is not None and span.opened == opened and span.ends == opened + 3600
    # Either side of the change it opens at 02:30 local, one elapsed hour long.
    assert w.next_opening(opened) == at(2026, 3, 9, 2, 30, tz=NY)
    assert w.holding_opening(at(2026, 3, 7, 2, 30, tz=NY)) == at(2026, 3, 7, 2, 30, tz=NY)


def test_spring_forward_duration_is_elapsed_time() -> None:
    # Opens 01:00 EST; two elapsed hours later it is 04:00 EDT (the clock skipped an hour).
    w = window("0 1 8 3 *", "2h", tz="America/New_York")
    span = w.span_at(at(2026, 3, 8, 1, 30, tz=NY))
    assert span is not None and span.ends == at(2026, 3, 8, 4, 0, tz=NY)


def test_fall_back_repeated_time_opens_once_at_its_first_occurrence() -> None:
    # 2026-11-01: New York's clocks fall back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
    w = window("30 1 * * *", "30m", tz="America/New_York")
    first = at(2026, 11, 1, 1, 30, tz=NY, fold=0)
    second = at(2026, 11, 1, 1, 30, tz=NY, fold=1)
    assert second - first == 3600
    assert w.holding_opening(first) == first
    assert w.span_at(first + 1800) is None  # closed after 30 elapsed minutes
    assert w.span_at(second) is None  # the second 01:30 is not an opening
    assert w.next_opening(first) == at(2026, 11, 2, 1, 30, tz=NY)


def test_fall_back_duration_is_elapsed_time() -> None:
    # Opens 00:00 EDT; three elapsed hours later it is 02:00 EST (an hour was repeated).
    w = window("0 0 1 11 *", "3h", tz="America/New_York")
    span = w.span_at(at(2026, 11, 1, 0, 30, tz=NY))
    assert span is not None and span.ends == at(2026, 11, 1, 2, 0, tz=NY)


# -- the verdict -------------------------------------------------------------------------------


def test_deny_wins_over_allow_and_allow_windows_restrict() -> None:
    allow = window("0 9 * * 1-5", "8h", kind=Kind.ALLOW, name="office")
    deny = window("0 12 * * *", "1h", name="lunch", projects=("prod*",))
    windows = [allow, deny]
    monday_10 = at(2026, 7, 6, 10, 0)
    assert freeze_verdict(windows, "prod-eu", monday_10) is None
    block = freeze_verdict(windows, "prod-eu", at(2026, 7, 6, 12, 30))  # inside both
    assert block is not None and [s.window.name for s in block.deny] == ["lunch"]
    assert freeze_verdict(windows, "dev", at(2026, 7, 6, 12, 30)) is None  # lunch is prod only
    evening = freeze_verdict(windows, "dev", at(2026, 7, 6, 18, 0))
    assert evening is not None and not evening.deny
    assert evening.next_allow == at(2026, 7, 7, 9, 0) and evening.next_allow_window is allow
    # Overriding the deny window lets a start through; overriding an allow window lifts it.
    assert (
        freeze_verdict(windows, "prod-eu", at(2026, 7, 6, 12, 30), overridden=frozenset({"lunch"}))
        is None
    )
    assert (
        freeze_verdict(windows, "dev", at(2026, 7, 6, 18, 0), overridden=frozenset({"office"}))
        is None
    )


def test_states_show_open_and_next() -> None:
    w = window("0 18 * * 5", "62h", projects=("prod*",))
    states = window_states([w], "prod", at(2026, 7, 4, 12, 0))
    assert len(states) == 1 and states[0].span is not None
    assert states[0].next_opening == at(2026, 7, 10, 18, 0)
    assert window_states([w], "dev", at(2026, 7, 4, 12, 0)) == []


def test_override_by_user_or_group() -> None:
    w = window("0 0 * * *", "1h", override=frozenset({"U1LEAD", "S0LEADS"}))
    assert may_override(w, "U1LEAD", frozenset())
    assert may_override(w, "U2OTHER", frozenset({"S0LEADS"}))
    assert not may_override(w, "U2OTHER", frozenset({"S0DEVS"}))
    assert not may_override(w, "", frozenset({"S0LEADS"}))

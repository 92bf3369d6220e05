from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.times import (
    DEFAULT_MAX_LEAD,
    check_when,
    format_utc,
    from_epoch_ms,
    parse_start_time,
    to_epoch_ms,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHANGHAI = "Asia/Shanghai"


def ok(text: str, *, tz: str | None = SHANGHAI, now: datetime = NOW) -> tuple[datetime, str]:
    parsed = parse_start_time(text, now=now, tz=tz, max_lead=timedelta(days=400))
    assert parsed.error is None, parsed.error
    assert parsed.ok
    assert parsed.when is not None
    assert parsed.when.tzinfo is UTC
    assert parsed.understood is not None
    return parsed.when, parsed.understood


def refused(text: str, *, tz: str | None = SHANGHAI, now: datetime = NOW, **kw: timedelta) -> str:
    parsed = parse_start_time(text, now=now, tz=tz, **kw)
    assert parsed.when is None
    assert parsed.understood is None
    assert parsed.error is not None
    assert not parsed.ok
    return parsed.error


@pytest.mark.parametrize("text", ["", "   ", "now", "NOW", " Now \n"])
def test_empty_and_now_mean_start_now(text: str) -> None:
    parsed = parse_start_time(text, now=NOW, tz=SHANGHAI)
    assert parsed.when is None
    assert parsed.error is None
    assert parsed.understood == "now"


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("+30m", timedelta(minutes=30)),
        ("+2h", timedelta(hours=2)),
        ("+1d", timedelta(days=1)),
        ("+1h30m", timedelta(hours=1, minutes=30)),
        ("+ 1d 2h 5m", timedelta(days=1, hours=2, minutes=5)),
        ("+2H", timedelta(hours=2)),
        ("in 45m", timedelta(minutes=45)),
        ("IN 3h", timedelta(hours=3)),
    ],
)
def test_relative_times(text: str, delta: timedelta) -> None:
    when, understood = ok(text, tz=None)
    assert when == NOW + delta
    assert understood == f"{' '.join(text.split())} = {format_utc(NOW + delta)}"


def test_relative_times_are_shown_in_the_persons_timezone_too() -> None:
    _, understood = ok("+2h", tz=SHANGHAI)
    assert understood == "+2h = 2026-11-20 22:00 Asia/Shanghai = 2026-11-20 14:00 UTC"
    _, understood = ok("+2h", tz="UTC")
    assert understood == "+2h = 2026-11-20 14:00 UTC"


def test_relative_from_a_non_utc_now_is_still_utc() -> None:
    now = datetime(2026, 11, 20, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    when, _ = ok("+1h", now=now)
    assert when == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["+90s", "+5 sec", "in 30 seconds"])
def test_relative_seconds_are_refused(text: str) -> None:
    assert "minutes, hours or days" in refused(text)


def test_zero_relative_is_refused() -> None:
    assert "leave the time empty" in refused("+0m")


@pytest.mark.parametrize(
    ("text", "tz", "utc", "understood"),
    [
        (
            "2026-12-01 10:00",
            SHANGHAI,
            datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
            "2026-12-01 10:00 Asia/Shanghai = 2026-12-01 02:00 UTC",
        ),
        (
            "2026-12-01T10:00",
            "America/New_York",
            datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
            "2026-12-01 10:00 America/New_York = 2026-12-01 15:00 UTC",
        ),
        (
            "2026-12-01 10:00",
            None,
            datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
            "2026-12-01 10:00 UTC",
        ),
        (
            "2026-12-01T10:00+08:00",
            "America/New_York",
            datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
            "2026-12-01 10:00 +08:00 = 2026-12-01 02:00 UTC",
        ),
        (
            "2026-12-01 10:00 -05:30",
            SHANGHAI,
            datetime(2026, 12, 1, 15, 30, tzinfo=UTC),
            "2026-12-01 10:00 -05:30 = 2026-12-01 15:30 UTC",
        ),
        ("2026-12-01T10:00:30Z", SHANGHAI, datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC), None),
        (
            "2026-12-01 10:00 Europe/Berlin",
            SHANGHAI,
            datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
            "2026-12-01 10:00 Europe/Berlin = 2026-12-01 09:00 UTC",
        ),
        ("2026-12-01 10:00 UTC", SHANGHAI, datetime(2026, 12, 1, 10, 0, tzinfo=UTC), None),
        ("2026/12/01 10:00", SHANGHAI, datetime(2026, 12, 1, 2, 0, tzinfo=UTC), None),
        ("20261201T1000", SHANGHAI, datetime(2026, 12, 1, 2, 0, tzinfo=UTC), None),
        ("1795000000000", SHANGHAI, datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC), None),
        ("1796000000", SHANGHAI, datetime(2026, 11, 30, 0, 53, 20, tzinfo=UTC), None),
    ],
)
def test_absolute_times(text: str, tz: str | None, utc: datetime, understood: str | None) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    when, got = ok(text, tz=tz, now=now)
    assert when == utc
    assert got.endswith(format_utc(utc))
    if understood is not None:
        assert got == understood


def test_epoch_milliseconds_are_read_exactly() -> None:
    when, understood = ok("1795000000123", now=datetime(2026, 11, 1, tzinfo=UTC))
    assert to_epoch_ms(when) == 1795000000123
    assert "(epoch milliseconds)" in understood


@pytest.mark.parametrize("text", ["12345", "17950000000001", "20261201"])
def test_other_numbers_are_refused(text: str) -> None:
    assert "epoch milliseconds (13 digits)" in refused(text)


def test_date_without_time_is_refused() -> None:
    assert refused("2026-12-01") == '"2026-12-01" has no time of day: write e.g. 2026-12-01 09:00'


@pytest.mark.parametrize("text", ["garbage", "tomorrow 10am", "10:00", "2026-13-01 10:00", "+"])
def test_unreadable_text_is_refused_with_examples(text: str) -> None:
    error = refused(text)
    assert "cannot read" in error
    assert '"+30m"' in error
    assert "in your timezone, Asia/Shanghai" in error


def test_examples_name_utc_without_a_user_timezone() -> None:
    assert "in UTC" in refused("garbage", tz=None)


def test_too_long_text_is_refused() -> None:
    assert "too long" in refused("2026-12-01 10:00 " + "x" * 200)


def test_past_time_is_refused_and_says_how_it_was_read() -> None:
    # 11:00 UTC, an hour ago; "now" is said in the person's timezone, not in UTC.
    parsed = parse_start_time("2026-11-20 19:00", now=NOW, tz=SHANGHAI)
    assert parsed.error == (
        '"2026-11-20 19:00" is in the past (it is now 2026-11-20 20:00 Asia/Shanghai): '
        "understood as 2026-11-20 19:00 Asia/Shanghai = 2026-11-20 11:00 UTC"
    )
    # The time as read is kept, so a form can show it for correction.
    assert parsed.refused == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    assert "(it is now 2026-11-20 12:00 UTC)" in refused("2026-11-20 11:00", tz=None)
    assert parse_start_time("garbage", now=NOW, tz=SHANGHAI).refused is None


def test_now_itself_is_accepted() -> None:
    when, _ = ok("2026-11-20T12:00Z")
    assert when == NOW


def test_beyond_max_lead_is_refused() -> None:
    assert ok("+30d")  # the limit itself is allowed
    error = refused("+30d1m", max_lead=DEFAULT_MAX_LEAD)
    assert "is more than 30 days ahead" in error
    assert "the latest allowed is 2026-12-20 20:00 Asia/Shanghai" in error
    assert "understood as +30d1m = 2026-12-20 20:01 Asia/Shanghai = 2026-12-20 12:01 UTC" in error
    assert "the latest allowed is 2026-12-20 12:00 UTC" in refused("+30d1m", tz=None)
    assert "more than 2 hours ahead" in refused("+3h", max_lead=timedelta(hours=2))
    assert "more than 1 day ahead" in refused("+2d", max_lead=timedelta(days=1))


def test_unknown_timezones_are_refused_not_guessed() -> None:
    assert 'unknown timezone "Mars/Olympus"' in refused("2026-12-01 10:00", tz="Mars/Olympus")
    assert 'unknown timezone "Mars/Olympus"' in refused("2026-12-01 10:00 Mars/Olympus")
    assert "unknown timezone" in refused("2026-12-01 10:00", tz="../../etc/passwd")
    # An offset makes the person's timezone irrelevant.
    when, _ = ok("2026-12-01T10:00+01:00", tz="Mars/Olympus")
    assert when == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_offset_and_zone_name_together_are_refused() -> None:
    assert "keep one" in refused("2026-12-01T10:00+01:00 Europe/Berlin")


def test_skipped_local_time_is_refused() -> None:
    # 2026-03-08 02:30 never happens in New York: clocks jump from 02:00 to 03:00.
    error = refused("2026-03-08 02:30", tz="America/New_York", now=datetime(2026, 3, 1, tzinfo=UTC))
    assert "does not exist in America/New_York" in error


def test_repeated_local_time_takes_the_first_and_says_so() -> None:
    # 2026-11-01 01:30 happens twice in New York (EDT, then EST): take the earlier one.
    when, understood = ok(
        "2026-11-01 01:30", tz="America/New_York", now=datetime(2026, 10, 1, tzinfo=UTC)
    )
    assert when == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert "the first of the two" in understood


@pytest.mark.parametrize("text", ["9999-12-31T23:59-05:00", "0001-01-01T00:00+01:00"])
def test_out_of_range_dates_are_refused(text: str) -> None:
    assert "cannot read" in refused(text)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_start_time("+1h", now=datetime(2026, 1, 1), tz=None)


def test_epoch_ms_round_trip_and_rounding() -> None:
    dt = datetime(2026, 12, 1, 2, 0, 0, 123456, tzinfo=UTC)
    assert to_epoch_ms(dt) == 1796090400123
    assert from_epoch_ms(1796090400123) == dt.replace(microsecond=123000)
    assert to_epoch_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert to_epoch_ms(datetime(1970, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))) == 0
    # Before the epoch rounds down too (floor, not towards zero).
    assert to_epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == -1
    with pytest.raises(ValueError, match="timezone-aware"):
        to_epoch_ms(datetime(2026, 1, 1))


def test_check_when() -> None:
    assert check_when(NOW, now=NOW) is None
    assert check_when(NOW + DEFAULT_MAX_LEAD, now=NOW) is None
    past = check_when(NOW - timedelta(seconds=1), now=NOW)
    assert past is not None
    assert past.startswith("is in the past")
    far = check_when(NOW + DEFAULT_MAX_LEAD + timedelta(seconds=1), now=NOW)
    assert far is not None
    assert far.startswith("is more than 30 days ahead")
    assert check_when(NOW + timedelta(hours=3), now=NOW, max_lead=timedelta(hours=2)) is not None


def test_check_when_names_times_in_the_persons_timezone() -> None:
    past = check_when(NOW - timedelta(hours=1), now=NOW, tz="America/New_York")
    assert past == "is in the past (it is now 2026-11-20 07:00 America/New_York)"
    assert check_when(NOW - timedelta(hours=1), now=NOW, tz="Mars/Olympus") == (
        "is in the past (it is now 2026-11-20 12:00 UTC)"
    )


def test_format_utc() -> None:
    assert format_utc(datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=8)))) == (
        "2026-12-01 02:00 UTC"
    )
    assert format_utc(datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC)) == "2026-12-01 02:00:05 UTC"

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.core.times import DEFAULT_MAX_LEAD, from_epoch_ms, parse_start_time, to_epoch_ms

from .fuzzing import fuzz
from .strategies import chat_text

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"]
zones = st.sampled_from([None, *ZONES])
time_words = st.lists(
    st.sampled_from(
        [
            *("+", "in", "2026-12-01", "2026/12/01", "10:00", "T", "Z", "+08:00", "UTC", "now"),
            *("Asia/Shanghai", "Mars/Base", "1795000000000", "30m", "2h", "1d", "s", " "),
        ]
    ),
    max_size=6,
).map("".join)


@fuzz
@given(st.one_of(chat_text, time_words), st.one_of(zones, st.text(max_size=30)))
def test_never_raises_and_answers_consistently(text: str, tz: str | None) -> None:
    parsed = parse_start_time(text, now=NOW, tz=tz)
    assert (parsed.error is None) != (parsed.understood is None)
    if parsed.error is not None:
        assert parsed.when is None
    if parsed.when is not None:
        assert parsed.when.tzinfo is UTC
        assert NOW <= parsed.when <= NOW + DEFAULT_MAX_LEAD


@fuzz
@given(st.datetimes(min_value=datetime(2026, 11, 21), max_value=datetime(2026, 12, 19)), zones)
def test_local_times_round_trip_in_the_users_zone(local: datetime, tz: str | None) -> None:
    local = local.replace(microsecond=0)
    parsed = parse_start_time(local.isoformat(sep=" "), now=NOW, tz=tz)
    if parsed.error is not None:
        assert "does not exist" in parsed.error  # only a time skipped by a clock change
        return
    assert parsed.when is not None
    zone = ZoneInfo(tz) if tz else UTC
    assert parsed.when.astimezone(zone).replace(tzinfo=None) == local


@fuzz
@given(
    st.datetimes(
        min_value=datetime(2026, 11, 21),
        max_value=datetime(2026, 12, 19),
        timezones=st.sampled_from([ZoneInfo(z) for z in ZONES]),
    ),
    zones,
)
def test_times_with_offsets_mean_the_same_instant(moment: datetime, tz: str | None) -> None:
    parsed = parse_start_time(moment.isoformat(), now=NOW, tz=tz)
    assert parsed.error is None, parsed.error
    assert parsed.when == moment


@fuzz
@given(st.integers(0, 40), st.integers(0, 1000), st.integers(0, 100_000))
def test_relative_times_add_exactly(days: int, hours: int, minutes: int) -> None:
    delta = timedelta(days=days, hours=hours, minutes=minutes)
    parsed = parse_start_time(f"+{days}d{hours}h{minutes}m", now=NOW, tz=None)
    if not delta:
        assert parsed.error is not None
    elif delta > DEFAULT_MAX_LEAD:
        assert parsed.error is not None
        assert "more than 30 days ahead" in parsed.error
    else:
        assert parsed.when == NOW + delta


@fuzz
@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_epoch_ms_round_trips(ms: int) -> None:
    # Every millisecond from year 1 to year 9999, the range of datetime.
    assert to_epoch_ms(from_epoch_ms(ms)) == ms

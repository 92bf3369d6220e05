"""Reading a scheduled start time that a person typed, and DRS's epoch-millisecond form.

Accepted (surrounding blanks and case ignored):

- empty or ``now``: start now (``when`` is None);
- a relative time ``+30m``, ``+2h``, ``+1d``, ``+1h30m`` (units d, h, m; an optional ``in ``
  instead of ``+``). Seconds are refused: a start seconds away is a start now;
- an ISO 8601 date and time, with ``T`` or a blank between them (``2026-12-01 10:00``,
  ``2026-12-01T10:00:00+08:00``, ``...Z``; ``/`` may separate the date). With an offset the
  offset counts; without one, the time is read in the person's Slack timezone ``tz`` (UTC when
  None), or in an IANA zone name written after it (``2026-12-01 10:00 Asia/Shanghai``, ``... UTC``).
  A date without a time of day is refused, as is a local time skipped by a clock change;
- epoch milliseconds (13 digits) or epoch seconds (10 digits).

Times in the past and times further ahead than the allowed lead are refused, saying the time
now (or the latest allowed) in the person's timezone. Every accepted time comes back with
``understood``, a sentence showing how it was read, in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_MAX_LEAD = timedelta(days=30)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TEXT = 80
_RELATIVE = re.compile(r"(?:\+|in\s+)\s*((?:\d{1,6}\s*[dhm]\s*)+)", re.IGNORECASE)
_RELATIVE_PART = re.compile(r"(\d+)\s*([dhm])", re.IGNORECASE)
_RELATIVE_SECONDS = re.compile(r"(?:\+|in\s+)\s*\d+\s*s(?:ec(?:ond)?s?)?", re.IGNORECASE)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_HAS_TIME = re.compile(r"[T\s]\d", re.IGNORECASE)
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}")


@dataclass(frozen=True, slots=True)
class TimeParse:
    """The result of :func:`parse_start_time`: exactly one of ``error`` and ``understood`` is set.

    ``when`` is an aware UTC datetime, or None to start now (also None when ``error`` is set).
    ``refused`` is the time as read when it was refused only for being in the past or too far
    ahead (so a form can show it for correction), else None.
    """

    when: datetime | None
    error: str | None
    understood: str | None
    refused: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_start_time(
    text: str,
    *,
    now: datetime,
    tz: str | None,
    max_lead: timedelta = DEFAULT_MAX_LEAD,
) -> TimeParse:
    """Read a start time (see the module docstring). Never raises for any ``text`` or ``tz``.

    ``now`` must be timezone-aware (``ValueError`` otherwise). ``tz`` is the person's IANA
    timezone name from Slack; an unknown name is reported as an error for times without offset.
    """
    _require_aware(now)
    raw = " ".join(text.split())
    if not raw or raw.lower() == "now":
        return TimeParse(when=None, error=None, understood="now")
    if len(raw) > _MAX_TEXT:
        return _fail(f"{_quote(raw)} is too long for a time. {_examples(tz)}")
    try:
        when, shown = _read(raw, now=now, tz=tz)
    except _Refused as refused:
        return _fail(str(refused))
    except (ValueError, OverflowError):
        # Out-of-range dates and offsets (year 0, 9999 plus an offset) land here.
        return _fail(f"cannot read {_quote(raw)} as a time. {_examples(tz)}")
    utc_text = format_utc(when)
    understood = utc_text if shown == utc_text else f"{shown} = {utc_text}"
    problem = check_when(when, now=now, max_lead=max_lead, tz=tz)
    if problem is not None:
        message = f"{_quote(raw)} {problem}: understood as {understood}"
        return TimeParse(when=None, error=message, understood=None, refused=when)
    return TimeParse(when=when, error=None, understood=understood)


def check_when(
    when: datetime,
    *,
    now: datetime,
    max_lead: timedelta = DEFAULT_MAX_LEAD,
    tz: str | None = None,
) -> str | None:
    """Why ``when`` cannot be a start time (past, or beyond ``max_lead``), or None if it can.

    For times that did not come from text, such as a date picker's epoch seconds. The times
    it names are in ``tz``, the person's timezone (see :func:`format_in`).
    """
    _require_aware(when)
    _require_aware(now)
    if when < now:
        return f"is in the past (it is now {format_in(now, tz)})"
    if when - now > max_lead:
        latest = format_in(now + max_lead, tz)
        return f"is more than {_describe(max_lead)} ahead (the latest allowed is {latest})"
    return None


def to_epoch_ms(dt: datetime) -> int:
    """Epoch milliseconds of an aware datetime, rounded down, as DRS's ``start_time`` wants."""
    _require_aware(dt)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds (``OverflowError`` when out of range)."""
    return _EPOCH + timedelta(milliseconds=ms)


EPOCH_SECONDS_MAX = 253_402_300_799
"""The last second a :class:`~datetime.datetime` can hold: 9999-12-31 23:59:59 UTC."""


def from_epoch_seconds(value: object) -> datetime | str:
    """The aware UTC datetime of a date picker's epoch seconds, or why it is not one.

    Slack's ``datetimepicker`` sends whole seconds since 1970 as a JSON integer. Anything else
    (a string, a float, a bool, None, a number before 1970 or after the year 9999) comes back
    as a sentence saying what to do instead, never as an exception: a forged payload is shown
    a field error like any other mistake. Costs O(1) whatever the value.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        return "is not a date and time: pick the date and time again, or choose Now"
    if not 0 <= value <= EPOCH_SECONDS_MAX:
        return "is not a date between 1970 and 9999: pick the date and time again, or choose Now"
    return _EPOCH + timedelta(seconds=value)


def format_utc(dt: datetime) -> str:
    """``2026-12-01 02:00 UTC`` (seconds shown only when not zero)."""
    utc = dt.astimezone(UTC)
    pattern = "%Y-%m-%d %H:%M:%S" if utc.second or utc.microsecond else "%Y-%m-%d %H:%M"
    return f"{utc.strftime(pattern)} UTC"


def format_in(dt: datetime, tz: str | None) -> str:
    """``2026-12-01 10:00 Asia/Shanghai``: ``dt`` in the IANA timezone ``tz`` (a person's
    Slack timezone); :func:`format_utc` when ``tz`` is None, UTC or unknown."""
    zone = _zone(tz) if tz else None
    if zone is None or zone is UTC:
        return format_utc(dt)
    return _format_local(dt.astimezone(zone), tz or "")


class _Refused(Exception):
    """Input understood well enough to say precisely what is wrong with it."""


def _read(raw: str, *, now: datetime, tz: str | None) -> tuple[datetime, str]:
    relative = _RELATIVE.fullmatch(raw)
    if relative is not None:
        return _read_relative(raw, relative.group(1), now=now, tz=tz)
    if _RELATIVE_SECONDS.fullmatch(raw):
        raise _Refused(
            f"{_quote(raw)}: give a relative time in minutes, hours or days "
            "(+30m, +2h, +1d), or leave it empty to start now"
        )
    if raw.isascii() and raw.isdigit():
        return _read_epoch(raw)
    return _read_iso(raw, tz=tz)


def _read_relative(raw: str, parts: str, *, now: datetime, tz: str | None) -> tuple[datetime, str]:
    delta = sum(
        (int(n) * _UNITS[unit.lower()] for n, unit in _RELATIVE_PART.findall(parts)),
        timedelta(),
    )
    if not delta:
        raise _Refused(f"{_quote(raw)} is now: leave the time empty to start now")
    when = now.astimezone(UTC) + delta
    local = format_in(when, tz)
    return when, raw if local == format_utc(when) else f"{raw} = {local}"


def _read_epoch(raw: str) -> tuple[datetime, str]:
    if len(raw) == 13:
        return from_epoch_ms(int(raw)), f"{raw} (epoch milliseconds)"
    if len(raw) == 10:
        return _EPOCH + timedelta(seconds=int(raw)), f"{raw} (epoch seconds)"
    raise _Refused(
        f"{_quote(raw)}: a number must be epoch milliseconds (13 digits) or seconds "
        "(10 digits), or write a date and time such as 2026-12-01 10:00"
    )


def _read_iso(raw: str, *, tz: str | None) -> tuple[datetime, str]:
    text, zone_name = _split_zone(raw)
    text = text.replace("/", "-")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(f"cannot read {_quote(raw)} as a time. {_examples(tz)}") from None
    if not _HAS_TIME.search(text):
        day = parsed.date().isoformat()
        raise _Refused(f"{_quote(raw)} has no time of day: write e.g. {day} 09:00")
    if parsed.tzinfo is not None:
        if zone_name is not None:
            raise _Refused(f"{_quote(raw)} has both an offset and a zone name: keep one")
        return parsed.astimezone(UTC), _format_local(parsed, _offset_label(parsed))
    name = zone_name or tz or "UTC"
    zone = _zone(name)
    if zone is None:
        raise _Refused(
            f"unknown timezone {_quote(name)}: give the time with an offset, "
            "e.g. 2026-12-01T10:00+08:00"
        )
    local = parsed.replace(tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != parsed:
        raise _Refused(
            f"{_quote(raw)} does not exist in {name}: the clocks skip it. Pick another time"
        )
    label = name
    other = parsed.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if other != utc:
        label += " (the first of the two, clocks go back then)"
    return utc, _format_local(parsed, label)


def _split_zone(raw: str) -> tuple[str, str | None]:
    """Split a trailing zone name (``Asia/Shanghai``, ``UTC``) off ``raw``."""
    head, _, last = raw.rpartition(" ")
    if head and _ZONE_NAME.fullmatch(last) and ("/" in last or last.upper() in {"UTC", "GMT"}):
        return head, "UTC" if last.upper() in {"UTC", "GMT"} else last
    return raw, None


def _zone(name: str) -> tzinfo | None:
    if name.upper() in {"UTC", "GMT", "Z"}:
        return UTC
    if not _ZONE_NAME.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _offset_label(dt: datetime) -> str:
    offset = dt.utcoffset() or timedelta()
    if not offset:
        return "UTC"
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _format_local(dt: datetime, label: str) -> str:
    pattern = "%Y-%m-%d %H:%M:%S" if dt.second or dt.microsecond else "%Y-%m-%d %H:%M"
    return f"{dt.strftime(pattern)} {label}"


def _describe(delta: timedelta) -> str:
    if delta % timedelta(days=1) == timedelta():
        days = delta.days
        return f"{days} day" + ("s" if days != 1 else "")
    hours = delta / timedelta(hours=1)
    return f"{hours:g} hours"


def _examples(tz: str | None) -> str:
    where = f"in your timezone, {tz}" if tz else "in UTC"
    return (
        f'Examples: "2026-12-01 10:00" ({where}), "2026-12-01T10:00+08:00", '
        '"+30m", "+2h", "+1d", or empty to start now'
    )


def _quote(text: str) -> str:
    return f'"{text}"' if len(text) <= 40 else f'"{text[:39]}…"'


def _fail(message: str) -> TimeParse:
    return TimeParse(when=None, error=message, understood=None)


def _require_aware(dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")

"""Five-field cron schedules (minute hour day-of-month month day-of-week), read and searched.

Pure. Each field is ``*``, a number, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n``
(from ``a`` to the field's end), or a comma-separated list of these. Months may be written
``jan``..``dec`` and days of the week ``sun``..``sat`` (any case); day of week 0 and 7 are both
Sunday. Ranges do not wrap (``fri-mon`` is refused: write ``fri-sat,sun-mon``).

Day-of-month and day-of-week, when **both** are restricted, combine with OR, as in Vixie cron
and POSIX: ``0 0 1 * mon`` fires on the 1st and on every Monday. A field that begins with
``*`` (``*``, ``*/2``) counts as unrestricted for this rule, again as Vixie cron does.

Times are wall-clock times in a timezone (:mod:`zoneinfo`):

* a wall time that does not exist (clocks spring forward over it) fires once, shifted forward
  by the length of the gap: 02:30 on a night that skips 02:00-03:00 fires at 03:30 (the
  reading of the old offset, Python's ``fold=0``);
* a wall time that happens twice (clocks fall back over it) fires once, at its first
  occurrence.

Searches are bounded: they walk calendar days, look only at days the day fields match, and stop
at a limit the caller gives; a day costs at most 24 x 60 conversions, and only the day that
holds the answer (and the one of the starting instant) is converted at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MAX_CRON_TEXT = 200
"""The longest schedule text read; longer is refused before any parsing."""

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day of week", 0, 7, _DAYS, 0),
)


class CronError(ValueError):
    """The schedule cannot be read; the message says which field and what to write."""


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed schedule. ``text`` is as written; the sets hold the values each field allows
    (day of week 0-6, Sunday 0)."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, day: date) -> bool:
        """Does ``day`` (a calendar date in the schedule's timezone) have openings?"""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week

    def openings_on(self, day: date, zone: ZoneInfo) -> list[float]:
        """The instants (epoch seconds) the schedule fires on local ``day``, in order."""
        if not self.day_matches(day):
            return []
        found = {
            _instant(day, hour, minute, zone) for hour in self.hours for minute in self.minutes
        }
        return sorted(found)

    def last_at_or_before(self, t: float, zone: ZoneInfo, *, after: float) -> float | None:
        """The latest opening in ``(after, t]``, or None. Walks back at most the days between
        the two instants (plus one for the shifts of a DST gap)."""
        day = _local_day(t, zone)
        stop = _local_day(after, zone) - timedelta(days=1)
        while day >= stop:
            hits = [o for o in self.openings_on(day, zone) if after < o <= t]
            if hits:
                return hits[-1]
            day -= timedelta(days=1)
        return None

    def next_after(self, t: float, zone: ZoneInfo, *, within: float) -> float | None:
        """The earliest opening in ``(t, t + within]``, or None."""
        end = t + within
        day = _local_day(t, zone) - timedelta(days=1)
        stop = _local_day(end, zone) + timedelta(days=1)
        while day <= stop:
            hits = [o for o in self.openings_on(day, zone) if t < o <= end]
            if hits:
                return hits[0]
            day += timedelta(days=1)
        return None


def parse_cron(text: str) -> Cron:
    """Read a five-field schedule; raises :class:`CronError` saying what to fix."""
    if not isinstance(text, str):
        raise CronError('a schedule is a string of five fields, such as "0 18 * * 5"')
    if len(text) > MAX_CRON_TEXT:
        raise CronError(f"the schedule is {len(text)} characters long; at most {MAX_CRON_TEXT}")
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"{text!r} has {len(parts)} field(s); a schedule has five: minute hour "
            'day-of-month month day-of-week, such as "0 18 * * 5" (Fridays at 18:00)'
        )
    values = [_parse_field(part, spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(v % 7 for v in values[4])
    return Cron(
        text=text,
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )


def _parse_field(text: str, spec: _Field) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(item, spec)
    return values


def _parse_item(item: str, spec: _Field) -> set[int]:
    where = f"{spec.name} {item!r}"
    if not item:
        raise CronError(f"{spec.name}: an empty item in a list (two commas, or a trailing one)")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or not step_text.isascii() or len(step_text) > 3:
            raise CronError(f"{where}: the step after '/' must be a whole number such as 5")
        step = int(step_text)
        if step < 1:
            raise CronError(f"{where}: the step must be at least 1")
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, spec, where), _value(last, spec, where)
        if low > high:
            raise CronError(
                f"{where}: a range goes from low to high ({spec.low}-{spec.high}); "
                "split a wrapping range into two, such as fri-sat,sun-mon"
            )
    else:
        low = _value(base, spec, where)
        high = spec.high if slash else low
    return set(range(low, high + 1, step))


def _value(text: str, spec: _Field, where: str) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not text.isdigit() or not text.isascii() or len(text) > 2:
        named = f" or a name ({', '.join(spec.names)})" if spec.names else ""
        raise CronError(f"{where}: expected a number {spec.low}-{spec.high}{named}")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise CronError(f"{where}: {value} is out of range {spec.low}-{spec.high}")
    return value


def _instant(day: date, hour: int, minute: int, zone: ZoneInfo) -> float:
    # fold=0: a wall time in a gap reads with the offset before it (shifted forward by the
    # gap), one that happens twice is its first occurrence.
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()


def _local_day(t: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(t, UTC).astimezone(zone).date()

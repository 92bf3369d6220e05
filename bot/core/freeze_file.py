"""The policy file's ``[[freeze]]`` tables, checked into :class:`~bot.core.freeze.FreezeWindow`.

Every problem is one message naming the window (``freeze "year-end"``, or ``freeze #2`` when it
has no usable name) and what to fix; :func:`bot.core.policy_file.load_policy` reports them with
the rest of the file's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.cron import Cron, CronError, parse_cron
from bot.core.freeze import FreezeWindow, Kind, parse_duration

FREEZE_KEYS = (
    "name",
    "schedule",
    "duration",
    "timezone",
    "projects",
    "kind",
    "override",
    "reason",
)
MAX_WINDOWS = 100
OPENS_WITHIN_YEARS = 5

_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}\Z")
_OVERRIDER_RE = re.compile(r"\A(?:[UW][A-Z0-9]{2,31}|S[A-Z0-9]{2,31})\Z")
_GLOB_RE = re.compile(r"\A[A-Za-z0-9_.*?-]{1,64}\Z")
_REASON_MAX = 300
# A fixed span of days (a leap day included): whether a schedule ever opens depends only on
# its day fields, never on when the file is read.
_FIRST_DAY = date(2024, 1, 1)


def load_freezes(raw: object, problems: list[str]) -> tuple[FreezeWindow, ...]:
    """The windows of ``raw`` (the ``freeze`` value: an array of tables), problems appended."""
    if not isinstance(raw, list):
        problems.append("freeze: write each window as a [[freeze]] table (an array of tables)")
        return ()
    if len(raw) > MAX_WINDOWS:
        problems.append(f"freeze: {len(raw)} windows; at most {MAX_WINDOWS}")
        return ()
    windows: list[FreezeWindow] = []
    seen: set[str] = set()
    for number, table in enumerate(raw, start=1):
        window = _load_window(number, table, problems)
        if window is None:
            continue
        if window.name in seen:
            problems.append(f'freeze "{window.name}": another window has this name; rename one')
            continue
        seen.add(window.name)
        windows.append(window)
    return tuple(windows)


def _load_window(number: int, raw: object, problems: list[str]) -> FreezeWindow | None:
    where = f"freeze #{number}"
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a [[freeze]] table")
        return None
    name = raw.get("name")
    if isinstance(name, str) and _NAME_RE.match(name):
        where = f'freeze "{name}"'
    else:
        problems.append(
            f"{where}: name is missing or not 1-64 letters, digits, spaces, '_', '.', ':', '-': "
            'give the window a name, such as name = "year-end"'
        )
    start = len(problems)
    for key in raw:
        if key not in FREEZE_KEYS:
            problems.append(
                f"{where}: unknown key {_show(key)} (known keys: {', '.join(FREEZE_KEYS)})"
            )
    schedule = _schedule(raw, where, problems)
    duration = _duration(raw, where, problems)
    timezone = _timezone(raw, where, problems)
    projects = _strings(raw, "projects", where, _GLOB_RE, "a project name or glob", problems)
    override = _strings(raw, "override", where, _OVERRIDER_RE, "a user or group ID", problems)
    kind = _kind(raw, where, problems)
    reason = _reason(raw, where, problems)
    if schedule is not None and not _ever_opens(schedule):
        problems.append(
            f"{where}: schedule {schedule.text!r} never opens: no date in {OPENS_WITHIN_YEARS} "
            "years matches its day of month, month and day of week; fix those fields"
        )
        return None
    if len(problems) > start or not isinstance(name, str) or not _NAME_RE.match(name):
        return None
    assert schedule is not None and duration is not None and timezone is not None
    return FreezeWindow(
        name=name,
        schedule=schedule,
        duration=duration,
        timezone=timezone,
        projects=tuple(projects),
        kind=kind,
        override=frozenset(override),
        reason=reason,
    )


def _schedule(raw: Mapping[Any, object], where: str, problems: list[str]) -> Cron | None:
    value = raw.get("schedule")
    if value is None:
        problems.append(f'{where}: schedule is missing: a cron such as "0 18 * * 5"')
        return None
    if not isinstance(value, str):
        problems.append(f'{where}.schedule: must be a string such as "0 18 * * 5"')
        return None
    try:
        return parse_cron(value)
    except CronError as exc:
        problems.append(f"{where}.schedule: {exc}")
        return None


def _duration(raw: Mapping[Any, object], where: str, problems: list[str]) -> int | None:
    value = raw.get("duration")
    if value is None:
        problems.append(f'{where}: duration is missing: how long it stays open, such as "62h"')
        return None
    try:
        return parse_duration(value)  # type: ignore[arg-type]  # checked inside
    except ValueError as exc:
        problems.append(f"{where}.duration: {exc}")
        return None


def _timezone(raw: Mapping[Any, object], where: str, problems: list[str]) -> str | None:
    value = raw.get("timezone", "UTC")
    if not isinstance(value, str) or not value or len(value) > 64:
        problems.append(f'{where}.timezone: must be an IANA name such as "Asia/Shanghai"')
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append(
            f"{where}.timezone: {_show(value)} is not a known IANA timezone; write one such "
            'as "Asia/Shanghai", "Europe/Berlin" or "UTC"'
        )
        return None
    return value


def _strings(
    raw: Mapping[Any, object],
    key: str,
    where: str,
    pattern: re.Pattern[str],
    what: str,
    problems: list[str],
) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        problems.append(f"{where}.{key}: must be a list of strings, each {what}")
        return []
    found: list[str] = []
    for item in value[:1000]:
        if isinstance(item, str) and pattern.match(item):
            found.append(item)
        else:
            problems.append(f"{where}.{key}: {_show(item)} is not {what}")
    if len(value) > 1000:
        problems.append(f"{where}.{key}: {len(value)} entries; at most 1000")
    return found


def _kind(raw: Mapping[Any, object], where: str, problems: list[str]) -> Kind:
    value = raw.get("kind", "deny")
    if isinstance(value, str) and value in {k.value for k in Kind}:
        return Kind(value)
    problems.append(f'{where}.kind: {_show(value)} is not "deny" or "allow"')
    return Kind.DENY


def _reason(raw: Mapping[Any, object], where: str, problems: list[str]) -> str:
    value = raw.get("reason", "")
    if not isinstance(value, str) or len(value) > _REASON_MAX:
        problems.append(f"{where}.reason: must be a string of at most {_REASON_MAX} characters")
        return ""
    return value.strip()


def _ever_opens(schedule: Cron) -> bool:
    days = (_FIRST_DAY + timedelta(days=n) for n in range(366 * OPENS_WITHIN_YEARS))
    return any(schedule.day_matches(day) for day in days)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"

"""Change-freeze windows: when a project's jobs may not start (deny) or may only start (allow).

Pure. A window opens at each time of its cron ``schedule`` (wall-clock time in its
``timezone``; see :mod:`bot.core.cron` for the DST rules) and stays open for ``duration`` of
elapsed time. It applies to the projects its globs match (every project when it names none).

The rule, for a project and the moment a job would start (:func:`freeze_verdict`):

* inside any deny window applying to the project: refused;
* else, when any allow window applies to the project, the moment must fall inside one;
* deny wins over allow: a moment inside both is refused.

A window named in ``overridden`` (the glass was broken for it) does not refuse; overriding any
of a project's allow windows lifts the allow rule.

Bounded work: the only openings that can hold an instant ``t`` lie in ``(t - duration, t]``, and
durations are at most :data:`MAX_DURATION_DAYS` days, so the backward search walks at most that
many days; forward searches stop at a horizon the caller gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.core.cron import Cron
from bot.core.wildcard import glob_match

MAX_DURATION_DAYS = 366
"""The longest a window may stay open (one opening to its end)."""

NEXT_HORIZON = 400 * 86400.0
"""How far ahead the next opening of a window is looked for."""

CHAIN_LIMIT = 16
"""Overlapping openings followed to find when a held window ends; beyond, "at least until"."""

_DURATION_RE = re.compile(r"\A(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?\Z")

# Instants outside these years are not searched (no calendar arithmetic near year 1 or 9999).
_EARLIEST, _LATEST = 0.0, 253_000_000_000.0  # 1970 .. about year 9987


class Kind(StrEnum):
    DENY = "deny"  # no start inside
    ALLOW = "allow"  # starts only inside (some) allow window


def parse_duration(text: str) -> int:
    """``30m``, ``2h``, ``1d``, ``1d12h``, ``1d2h30m`` as seconds; raises ValueError saying
    what to write. At least a minute, at most :data:`MAX_DURATION_DAYS` days."""
    if not isinstance(text, str) or len(text) > 32:
        raise ValueError('a duration is a string such as "30m", "2h", "1d" or "1d12h"')
    found = _DURATION_RE.match(text.strip().lower())
    if found is None or not any(found.groups()):
        raise ValueError(
            f"{text!r} is not a duration: write days, hours and minutes in that order, such as "
            '"30m", "2h", "1d" or "1d12h"'
        )
    days, hours, minutes = (int(g) if g else 0 for g in found.groups())
    seconds = days * 86400 + hours * 3600 + minutes * 60
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all: a window must stay open a while")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION_DAYS} days, the longest allowed")
    return seconds


def duration_text(seconds: int) -> str:
    """``seconds`` written as :func:`parse_duration` reads it (``1d12h``)."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    parts = [(days, "d"), (hours, "h"), (rest // 60, "m")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0m"


@dataclass(frozen=True, slots=True)
class FreezeWindow:
    """One ``[[freeze]]`` table, checked. ``projects`` empty = every project."""

    name: str
    schedule: Cron
    duration: int  # seconds of elapsed time
    timezone: str
    projects: tuple[str, ...] = ()
    kind: Kind = Kind.DENY
    override: frozenset[str] = frozenset()
    reason: str = ""
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))

    def applies_to(self, project: str) -> bool:
        return not self.projects or any(glob_match(p, project) for p in self.projects)

    def holding_opening(self, t: float) -> float | None:
        """The latest opening whose span holds instant ``t``, or None when ``t`` is outside."""
        if not _EARLIEST + self.duration <= t <= _LATEST:
            return None
        return self.schedule.last_at_or_before(t, self.zone, after=t - self.duration)

    def next_opening(self, t: float, within: float = NEXT_HORIZON) -> float | None:
        """The first opening after ``t`` within ``within`` seconds."""
        if not _EARLIEST <= t <= _LATEST - within:
            return None
        return self.schedule.next_after(t, self.zone, within=within)

    def state_at(self, t: float) -> WindowState:
        """Whether the window is open at ``t``, and when it opens next (after the open span,
        when open)."""
        span = self.span_at(t)
        return WindowState(self, span, self.next_opening(t if span is None else span.ends))

    def span_at(self, t: float) -> Span | None:
        """The open span holding ``t`` (following overlapping openings), or None."""
        opened = self.holding_opening(t)
        if opened is None:
            return None
        searched, end = t, opened + self.duration
        for _ in range(CHAIN_LIMIT):
            # The last opening before the span ends carries it furthest (any opening after
            # ``searched`` ends later than the span so far).
            later = self.schedule.last_at_or_before(end, self.zone, after=searched)
            if later is None:
                return Span(self, opened, end, exact=True)
            searched, end = end, later + self.duration
        return Span(self, opened, end, exact=False)


@dataclass(frozen=True, slots=True)
class Span:
    """Window ``window`` open from ``opened`` until ``ends``; ``exact`` False: at least until
    then (openings keep overlapping beyond what was followed)."""

    window: FreezeWindow
    opened: float
    ends: float
    exact: bool = True


@dataclass(frozen=True, slots=True)
class Block:
    """Why a start at a moment is refused: the deny windows holding it, or (``deny`` empty)
    that the moment is outside every allow window of the project, the first of which opens
    next at ``next_allow`` (None: none within the horizon)."""

    deny: tuple[Span, ...] = ()
    allow: tuple[FreezeWindow, ...] = ()
    next_allow: float | None = None
    next_allow_window: FreezeWindow | None = None

    @property
    def windows(self) -> tuple[FreezeWindow, ...]:
        """The windows that refuse: whoever overrides must be listed in each one's override
        (for the allow rule, in any allow window's)."""
        return tuple(s.window for s in self.deny) if self.deny else self.allow


def applying(windows: Iterable[FreezeWindow], project: str) -> list[FreezeWindow]:
    return [w for w in windows if w.applies_to(project)]


def freeze_verdict(
    windows: Sequence[FreezeWindow],
    project: str,
    t: float,
    *,
    overridden: frozenset[str] = frozenset(),
) -> Block | None:
    """Why a start of ``project`` at ``t`` is refused, or None when it may start then."""
    mine = applying(windows, project)
    deny = tuple(
        span
        for w in mine
        if w.kind is Kind.DENY and w.name not in overridden
        for span in [w.span_at(t)]
        if span is not None
    )
    if deny:
        return Block(deny=deny)
    allow = [w for w in mine if w.kind is Kind.ALLOW]
    if not allow or any(w.name in overridden for w in allow):
        return None
    if any(w.holding_opening(t) is not None for w in allow):
        return None
    upcoming = [(o, w) for w in allow for o in [w.next_opening(t)] if o is not None]
    first = min(upcoming, key=lambda pair: pair[0], default=None)
    return Block(
        allow=tuple(allow),
        next_allow=None if first is None else first[0],
        next_allow_window=None if first is None else first[1],
    )


@dataclass(frozen=True, slots=True)
class WindowState:
    """A window as ``/startjobs freezes`` shows it: open now (``span``) and its next opening."""

    window: FreezeWindow
    span: Span | None
    next_opening: float | None


def window_states(windows: Sequence[FreezeWindow], project: str, t: float) -> list[WindowState]:
    """The windows applying to ``project``: whether each is open at ``t``, and when it opens
    next (after the open span, when open)."""
    return [w.state_at(t) for w in applying(windows, project)]


def may_override(window: FreezeWindow, user: str, user_groups: frozenset[str]) -> bool:
    """Is ``user`` (in ``user_groups``) listed in ``window``'s override?"""
    return bool(user) and (user in window.override or not window.override.isdisjoint(user_groups))

"""The follow-up's pace: soon after a start or a transition, around a scheduled start, within
the budget of DRS status calls per request per minute."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from bot.core.followup_schedule import (
    STATUS_PAGE,
    Pace,
    budget_gap,
    first_delay,
    next_delay,
    status_calls,
)
from bot.drs import wire

DEFAULT = Pace(interval=30.0, budget=20)


def _quiet_rounds(pace: Pace, until: float, calls: int = 1) -> list[float]:
    """When the rounds of a request whose jobs never move run, from a start at 0."""
    t = first_delay(pace)
    rounds = []
    while t <= until:
        rounds.append(t)
        t += next_delay(pace, since_start=t, since_change=None, scheduled_in=None, calls=calls)
    return rounds


def test_a_round_asks_once_per_page_of_jobs() -> None:
    assert STATUS_PAGE == wire.PAGE_SIZE  # what the DRS client puts in one call
    assert [status_calls(n) for n in (0, 1, 100, 101, 250, 1000)] == [0, 1, 1, 2, 3, 10]


def test_the_budget_sets_the_shortest_gap() -> None:
    assert budget_gap(1, None) == 0.0
    assert budget_gap(1, 20) == 3.0  # 20 rounds a minute
    assert budget_gap(3, 20) == 10.0  # 6 rounds (18 calls) a minute
    assert budget_gap(7, 20) == 30.0  # 2 rounds (14 calls)
    assert budget_gap(30, 20) == 90.0  # one round alone is over the budget: 1.5 minutes
    assert budget_gap(0, 20) == 0.0  # no status call before the first round


def test_a_start_is_asked_about_soon_then_less_often() -> None:
    rounds = _quiet_rounds(DEFAULT, 300)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(rounds)]
    # 2 s after the start, then at most 5 s apart in the first two minutes (the doubling from
    # 2 s would ask again after 2 s, the budget of 20 calls a minute after 3 s at the least) ...
    assert rounds[:5] == [2.0, 5.0, 10.0, 15.0, 20.0]
    assert _quiet_rounds(Pace(interval=30.0), 20) == [2.0, 4.0, 8.0, 13.0, 18.0]
    assert max(b - a for a, b in itertools.pairwise(rounds) if a < 120) == 5.0
    # ... then every interval.
    assert gaps[-3:] == [30.0, 30.0, 30.0]
    assert len([t for t in rounds if t < 60]) == 12  # status calls in the first minute


def test_the_old_fixed_pace_is_the_interval_alone() -> None:
    fixed = Pace(interval=30.0, first=30.0, early_gap=30.0)
    assert _quiet_rounds(fixed, 200) == [30.0, 60.0, 90.0, 120.0, 150.0, 180.0]


def test_a_transition_starts_the_pace_over() -> None:
    def late(pace: Pace, since_change: float | None) -> float:
        return next_delay(
            pace, since_start=600.0, since_change=since_change, scheduled_in=None, calls=1
        )

    assert late(DEFAULT, None) == 30.0
    assert late(DEFAULT, 0.0) == 3.0  # 2 s, but the budget allows a call every 3 s
    assert late(DEFAULT, 8.0) == 8.0
    assert late(Pace(interval=30.0), 0.0) == 2.0


def test_a_scheduled_start_is_asked_about_shortly_after_its_time() -> None:
    # Five minutes before the scheduled time: every interval, and not past the time + 2 s.
    assert next_delay(DEFAULT, since_start=200, since_change=200, scheduled_in=300, calls=1) == 30
    assert next_delay(DEFAULT, since_start=300, since_change=300, scheduled_in=12, calls=1) == 14
    # Once the time has passed, the first two minutes count from it.
    assert next_delay(DEFAULT, since_start=400, since_change=400, scheduled_in=-2, calls=1) == 3
    assert next_delay(DEFAULT, since_start=400, since_change=400, scheduled_in=-60, calls=1) == 5
    assert next_delay(DEFAULT, since_start=400, since_change=400, scheduled_in=-200, calls=1) == 30


def test_a_small_interval_is_kept_and_the_budget_wins_over_it() -> None:
    assert first_delay(Pace(interval=0.2)) == 0.2
    assert (
        next_delay(
            Pace(interval=0.2), since_start=50, since_change=None, scheduled_in=None, calls=1
        )
        == 0.2
    )
    assert (
        next_delay(
            Pace(interval=0.2, budget=6),
            since_start=50,
            since_change=None,
            scheduled_in=None,
            calls=1,
        )
        == 10.0
    )


# -- properties over whole follow-ups ------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    rounds: list[float]  # when each round ran
    seen: dict[float, float]  # transition time -> the round that saw it


def _follow(pace: Pace, calls: int, transitions: list[float], until: float) -> Run:
    """Simulate a follow-up: DRS moves a job at each of ``transitions``; every round sees the
    transitions since the one before."""
    pending = sorted(transitions)
    rounds: list[float] = []
    seen: dict[float, float] = {}
    changed: float | None = None
    t = first_delay(pace)
    while t <= until:
        rounds.append(t)
        while pending and pending[0] <= t:
            seen[pending.pop(0)] = t
            changed = t
        since_change = None if changed is None else t - changed
        delay = next_delay(
            pace, since_start=t, since_change=since_change, scheduled_in=None, calls=calls
        )
        assert delay > 0
        t += delay
    return Run(rounds, seen)


paces = st.builds(
    Pace,
    interval=st.floats(5.0, 120.0),
    first=st.floats(0.5, 5.0),
    early=st.floats(0.0, 300.0),
    early_gap=st.floats(1.0, 10.0),
    budget=st.one_of(st.none(), st.integers(1, 60)),
)
transition_times = st.lists(st.floats(0.0, 600.0), max_size=12)


@given(pace=paces, jobs=st.integers(1, 1000), transitions=transition_times)
def test_no_minute_holds_more_status_calls_than_the_budget(
    pace: Pace, jobs: int, transitions: list[float]
) -> None:
    calls = status_calls(jobs)
    run = _follow(pace, calls, transitions, until=900.0)
    if pace.budget is None:
        return
    for start in run.rounds:
        in_minute = [t for t in run.rounds if start <= t < start + 60.0 - 1e-6]
        assert len(in_minute) * calls <= max(pace.budget, calls)


@given(pace=paces, jobs=st.integers(1, 1000), transitions=transition_times)
def test_a_transition_is_seen_within_the_gap_the_pace_promises(
    pace: Pace, jobs: int, transitions: list[float]
) -> None:
    calls = status_calls(jobs)
    run = _follow(pace, calls, transitions, until=900.0)
    floor = budget_gap(calls, pace.budget)
    for moved, seen in run.seen.items():
        if moved < run.rounds[0]:
            continue  # before the first round, which comes ``first`` seconds after the start
        early = moved < pace.early
        promised = min(pace.early_gap, pace.interval) if early else pace.interval
        assert seen - moved <= max(promised, floor) + 1e-9


@given(jobs=st.integers(1, 200), transitions=st.lists(st.floats(0.0, 120.0), max_size=12))
def test_by_default_a_transition_in_the_first_two_minutes_shows_within_ten_seconds(
    jobs: int, transitions: list[float]
) -> None:
    run = _follow(DEFAULT, status_calls(jobs), transitions, until=300.0)
    assert all(seen - moved <= 6.0 for moved, seen in run.seen.items())

"""The requests decision forms showed, kept for their submissions: bounded, and forgotten
when stale or decided."""

from __future__ import annotations

from dataclasses import replace

from bot.core.request import RequestState, StartRequest
from bot.service.shown import ShownRequests
from tests.slack import sample_requests


def request(rid: str, jobs: int = 1) -> StartRequest:
    return sample_requests.request(jobs, id=rid)


def test_a_form_is_kept_for_its_time_and_forgotten_once_decided() -> None:
    now = [0.0]
    shown = ShownRequests(lambda: now[0], keep_seconds=60)
    first = request("SJ-A")
    shown.keep(first)
    shown.keep(request("SJ-B"))
    assert shown.get("SJ-A") is first and shown.get("SJ-C") is None
    shown.forget("SJ-A")
    assert shown.get("SJ-A") is None
    now[0] = 61.0
    assert shown.get("SJ-B") is None and len(shown) == 0
    shown.keep(replace(first, state=RequestState.APPROVED))  # nothing to decide on
    assert len(shown) == 0


def test_forms_and_their_jobs_are_bounded_oldest_first() -> None:
    shown = ShownRequests(lambda: 0.0, max_forms=3, max_jobs=10)
    for i in range(5):
        shown.keep(request(f"SJ-{i}"))
    assert [shown.get(f"SJ-{i}") is not None for i in range(5)] == [False, False, True, True, True]
    shown.keep(request("SJ-BIG", jobs=8))  # 3 + 8 > 10 jobs: the oldest goes
    assert [shown.get(f"SJ-{i}") is not None for i in (2, 3, 4)] == [False, True, True]
    assert shown.get("SJ-BIG") is not None
    shown.keep(request("SJ-HUGE", jobs=11))  # never fits: not kept, nothing else lost
    assert shown.get("SJ-HUGE") is None and shown.get("SJ-BIG") is not None
    shown.keep(request("SJ-BIG", jobs=2))  # shown again: replaces, not counted twice
    shown.keep(request("SJ-5", jobs=7))  # 1 + 1 + 2 + 7 > 10: SJ-3 goes
    assert [shown.get(rid) is not None for rid in ("SJ-3", "SJ-4", "SJ-BIG", "SJ-5")] == [
        False,
        True,
        True,
        True,
    ]

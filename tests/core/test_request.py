from __future__ import annotations

import pytest

from bot.core.request import (
    FINAL_STATES,
    TRANSITIONS,
    RequestState,
    StartState,
    can_transition,
    comes_from,
    start_comes_from,
)


def test_only_pending_can_be_decided() -> None:
    decisions = {
        RequestState.APPROVED,
        RequestState.REJECTED,
        RequestState.CANCELLED,
        RequestState.EXPIRED,
    }
    for state in RequestState:
        for target in decisions:
            assert can_transition(state, target) == (state is RequestState.PENDING)


def test_a_start_needs_an_approval_first() -> None:
    assert not can_transition(RequestState.PENDING, RequestState.STARTING)
    assert can_transition(RequestState.APPROVED, RequestState.STARTING)
    assert not can_transition(RequestState.APPROVED, RequestState.DONE)


TERMINAL = {RequestState.REJECTED, RequestState.CANCELLED, RequestState.EXPIRED}


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_ended_without_a_start_is_terminal(state: RequestState) -> None:
    assert state.is_final
    assert all(not can_transition(state, target) for target in RequestState)


def test_unknown_only_settles_forward() -> None:
    assert TRANSITIONS[RequestState.UNKNOWN] == {RequestState.DONE, RequestState.FAILED}
    assert not can_transition(RequestState.UNKNOWN, RequestState.STARTING)


def test_started_requests_never_go_back_to_a_decision_or_a_send() -> None:
    started = FINAL_STATES - TERMINAL
    for state in started:
        for target in (RequestState.PENDING, RequestState.APPROVED, RequestState.STARTING):
            assert not can_transition(state, target)
    # A task failing after its start, and a Retry, move between the started states.
    assert can_transition(RequestState.DONE, RequestState.FAILED)
    assert can_transition(RequestState.FAILED, RequestState.DONE)


def test_the_store_derives_its_conditions_from_the_tables() -> None:
    assert comes_from(RequestState.APPROVED) == (RequestState.PENDING,)
    assert comes_from(RequestState.STARTING) == (RequestState.APPROVED,)
    assert start_comes_from(StartState.SENT) is StartState.CLAIMED
    assert start_comes_from(StartState.RECORDED) is StartState.SENT
    assert start_comes_from(StartState.POSTED) is StartState.RECORDED

from __future__ import annotations

import pytest

from bot.core.request import FINAL_STATES, TRANSITIONS, RequestState, can_transition


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


@pytest.mark.parametrize("state", sorted(FINAL_STATES - {RequestState.UNKNOWN}))
def test_final_states_are_final(state: RequestState) -> None:
    assert state.is_final
    assert all(not can_transition(state, target) for target in RequestState)


def test_unknown_only_settles_forward() -> None:
    assert TRANSITIONS[RequestState.UNKNOWN] == {RequestState.DONE, RequestState.FAILED}
    assert not can_transition(RequestState.UNKNOWN, RequestState.STARTING)
    assert not can_transition(RequestState.DONE, RequestState.UNKNOWN)

"""The start form's date picker: whatever value a payload carries, the answer is a start time
or an error on that field, never an exception (which Slack shows as a generic failure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.times import EPOCH_SECONDS_MAX, from_epoch_seconds
from bot.slack.ui.forms import read_start_form
from bot.slack.ui.ids import ActionId, BlockId, When
from tests.core.fuzzing import fuzz

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"
FIELD = BlockId.START_AT.value


def form_with(picked: object) -> dict[str, object]:
    return {
        BlockId.PROJECT.value: {ActionId.PROJECT.value: {"selected_option": {"value": "prod"}}},
        BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: {"value": JOB}},
        BlockId.REASON.value: {ActionId.REASON.value: {"value": "CHG-1"}},
        BlockId.WHEN.value: {ActionId.WHEN.value: {"selected_option": {"value": When.AT.value}}},
        FIELD: {ActionId.START_AT.value: {"selected_date_time": picked}},
    }


def read(picked: object) -> tuple[int | None, str | None]:
    form = read_start_form(
        form_with(picked), allowed_projects=frozenset({"prod"}), max_jobs=10, now=NOW
    )
    assert set(form.errors) <= {FIELD}, form.errors  # no other field is blamed
    return form.start_time_ms, form.errors.get(FIELD)


@pytest.mark.parametrize(
    "forged",
    [10**12, -(10**12), 2**63, -(2**63), 2**64 + 1, 10**400, EPOCH_SECONDS_MAX + 1, -1],
)
def test_out_of_range_epochs_are_a_field_error_saying_what_to_do(forged: int) -> None:
    ms, error = read(forged)
    assert ms is None
    assert error == (
        "The start time is not a date between 1970 and 9999: pick the date and time again, "
        "or choose Now."
    )


@pytest.mark.parametrize("forged", ["1795000000", 1795000000.0, True, [], {}, "soon"])
def test_values_that_are_not_whole_seconds_are_a_field_error(forged: object) -> None:
    ms, error = read(forged)
    assert ms is None
    assert error is not None and "pick the date and time again, or choose Now" in error


def test_the_range_edges() -> None:
    assert read(0)[1] is not None and "in the past" in str(read(0)[1])
    assert read(EPOCH_SECONDS_MAX)[1] is not None and "ahead" in str(read(EPOCH_SECONDS_MAX)[1])
    assert from_epoch_seconds(EPOCH_SECONDS_MAX) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert from_epoch_seconds(0) == datetime(1970, 1, 1, tzinfo=UTC)
    in_an_hour = int((NOW + timedelta(hours=1)).timestamp())
    assert read(in_an_hour) == (in_an_hour * 1000, None)


def test_nothing_picked_asks_for_a_time() -> None:
    assert read(None) == (None, "Pick the date and time to start at, or choose Now.")


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=20) | st.integers(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@fuzz
@given(
    picked=st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=0, max_value=EPOCH_SECONDS_MAX)
    | json_values
)
def test_any_value_is_a_start_time_or_a_field_error(picked: object) -> None:
    ms, error = read(picked)
    assert (ms is None) != (error is None)
    if ms is not None:
        assert isinstance(picked, int)
        assert ms == picked * 1000
        assert NOW <= datetime.fromtimestamp(ms / 1000, UTC) <= NOW + timedelta(days=30)
    else:
        assert error is not None and error.endswith(".") and len(error) < 300
        assert error.startswith(("The start time ", "Pick the date and time"))

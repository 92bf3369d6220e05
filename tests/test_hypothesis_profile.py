"""The property tests run derandomized by default, so a green run means the same every time."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.fuzzing import fuzz
from tests.hypothesis_profiles import (
    DEFAULT_PROFILE,
    FUZZ_EXAMPLES_ENV,
    LONG_PROFILE,
    PROFILE_ENV,
    chosen_profile,
    load_profile,
)

default_run = pytest.mark.skipif(
    os.environ.get(PROFILE_ENV, DEFAULT_PROFILE) != DEFAULT_PROFILE,
    reason=f"{PROFILE_ENV} selects another profile for this run",
)


def test_the_default_profile_is_derandomized_without_a_database() -> None:
    assert chosen_profile({}) == DEFAULT_PROFILE
    assert chosen_profile({PROFILE_ENV: " "}) == DEFAULT_PROFILE
    ci = settings.get_profile(DEFAULT_PROFILE)
    assert ci.derandomize is True
    assert ci.database is None
    assert ci.deadline is None  # a wall-clock limit would make the result depend on the machine


def test_the_long_profile_is_random_and_selected_by_name() -> None:
    assert chosen_profile({PROFILE_ENV: LONG_PROFILE}) == LONG_PROFILE
    assert settings.get_profile(LONG_PROFILE).derandomize is False
    with pytest.raises(ValueError, match="'lnog' is not one of ci, long"):
        chosen_profile({PROFILE_ENV: "lnog"})


def test_the_long_profile_raises_the_fuzz_count_unless_it_is_set() -> None:
    current = settings.default
    try:
        env: dict[str, str] = {PROFILE_ENV: LONG_PROFILE}
        assert load_profile(env) == LONG_PROFILE
        assert int(env[FUZZ_EXAMPLES_ENV]) > 200
        env = {PROFILE_ENV: LONG_PROFILE, FUZZ_EXAMPLES_ENV: "7"}
        load_profile(env)
        assert env[FUZZ_EXAMPLES_ENV] == "7"
        env = {}
        assert load_profile(env) == DEFAULT_PROFILE
        assert env == {}
    finally:
        settings.register_profile("restored", current)
        settings.load_profile("restored")


@default_run
def test_this_run_and_its_shared_settings_are_derandomized() -> None:
    assert settings.default.derandomize is True
    assert settings.default.database is None
    assert fuzz.derandomize is True  # settings built by test modules inherit the profile


@default_run
def test_two_runs_of_a_property_draw_the_same_examples() -> None:
    drawn: list[list[str]] = []

    @given(st.text())
    def record(text: str) -> None:
        drawn[-1].append(text)

    for _ in range(2):
        drawn.append([])
        record()
    assert len(drawn[0]) > 10
    assert drawn[0] == drawn[1]

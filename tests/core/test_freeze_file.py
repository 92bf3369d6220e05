"""The policy file's [[freeze]] tables: read into the policy, or one message per problem."""

from __future__ import annotations

import tomllib

import pytest

from bot.core.freeze import Kind
from bot.core.policy_file import PolicyError, load_policy

EXAMPLE = """
[[freeze]]
name = "year-end"
schedule = "0 18 * * 5"
duration = "62h"
timezone = "Asia/Shanghai"
projects = ["prod*"]
kind = "deny"
override = ["S0DBALEADS"]
reason = "CHG freeze: year-end close"

[[freeze]]
name = "office hours"
schedule = "0 9 * * mon-fri"
duration = "8h"
kind = "allow"
"""


def test_the_documented_example_loads() -> None:
    policy = load_policy(tomllib.loads(EXAMPLE))
    year_end, office = policy.freezes
    assert year_end.name == "year-end" and year_end.duration == 62 * 3600
    assert year_end.timezone == "Asia/Shanghai" and year_end.projects == ("prod*",)
    assert year_end.override == {"S0DBALEADS"} and year_end.reason == "CHG freeze: year-end close"
    assert office.kind is Kind.ALLOW and office.timezone == "UTC" and office.projects == ()
    assert office.applies_to("anything") and not year_end.applies_to("dev")


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(tomllib.loads(text))
    return caught.value.problems


def test_one_message_per_problem_naming_the_window() -> None:
    found = problems(
        """
[[freeze]]
name = "bad"
schedule = "0 25 * * *"
duration = "2x"
timezone = "Mars/Olympus"
kind = "maybe"
override = ["alice"]
colour = "red"
"""
    )
    assert len(found) == 6, found
    assert all(p.startswith('freeze "bad"') for p in found)
    text = "\n".join(found)
    assert "hour '25': 25 is out of range 0-23" in text
    assert "'2x' is not a duration" in text
    assert "'Mars/Olympus' is not a known IANA timezone" in text
    assert '\'maybe\' is not "deny" or "allow"' in text
    assert "'alice' is not a user or group ID" in text
    assert "unknown key 'colour'" in text


def test_a_window_that_never_opens_is_refused() -> None:
    (found,) = problems('[[freeze]]\nname = "feb30"\nschedule = "0 0 30 2 *"\nduration = "1h"\n')
    assert found.startswith('freeze "feb30": schedule') and "never opens" in found


def test_missing_and_duplicate_names() -> None:
    found = problems(
        '[[freeze]]\nschedule = "0 0 * * *"\nduration = "1h"\n'
        '[[freeze]]\nname = "a"\nschedule = "0 0 * * *"\nduration = "1h"\n'
        '[[freeze]]\nname = "a"\nschedule = "0 1 * * *"\nduration = "1h"\n'
    )
    assert found[0].startswith("freeze #1: name is missing")
    assert found[1] == 'freeze "a": another window has this name; rename one'
    assert len(found) == 2


def test_freeze_must_be_an_array_of_tables() -> None:
    (found,) = problems('freeze = "always"\n')
    assert "[[freeze]] table" in found

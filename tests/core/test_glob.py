"""Name patterns are matched in time linear in pattern x name, with the same meaning as before.

The bot once compiled a pattern into a regular expression (``*`` -> ``.*``), which backtracks
exponentially: ``*?*?*?*?*?*?*?*?*?*?*?*?*Z`` against a 40-character name ran for minutes on the
event loop. :func:`regex_glob` keeps that implementation as the reference for what a pattern
means; the property tests hold :func:`glob_match` to it on inputs small enough for it.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.selection import PATTERN_MAX, Selection, read_selection
from bot.core.wildcard import glob_match

from .fuzzing import fuzz

NAME_40 = "mig-shop-orders-to-rds-cutover-wave-0001"
ISSUE_PATTERN = "*?*?*?*?*?*?*?*?*?*?*?*?*Z"  # 26 characters, as reported


def regex_glob(pattern: str, name: str) -> bool:
    """The former matcher: a regular expression, fully matched (exponential on some inputs)."""
    parts = re.split(r"([*?])", pattern)
    regex = "".join(".*" if p == "*" else "." if p == "?" else re.escape(p) for p in parts)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Time per call: the fastest of five rounds (the least disturbed) of up to ``calls``
    calls, each round cut short after 50 ms (so a slow matcher fails in seconds, not hours)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        done = 0
        while done < calls and (done == 0 or time.perf_counter() - start < 0.05):
            fn()
            done += 1
        best = min(best, (time.perf_counter() - start) / done)
    return best


# --- the same meaning as the regular expression ---------------------------------------------------

patterns = st.text(alphabet=st.sampled_from("ab*?.[]\n\u00e9"), max_size=10)
names = st.text(alphabet=st.sampled_from("ab.[]\n\u00e9*?"), max_size=12)


@fuzz
@given(pattern=patterns, name=names)
def test_agrees_with_the_regular_expression(pattern: str, name: str) -> None:
    assert glob_match(pattern, name) == regex_glob(pattern, name)


@fuzz
@given(pattern=st.text(alphabet="ab-*?", max_size=10), name=st.text(alphabet="ab-", max_size=14))
def test_agrees_with_fnmatch_without_brackets(pattern: str, name: str) -> None:
    assert glob_match(pattern, name) == fnmatch.fnmatchcase(name, pattern)


@fuzz
@given(pattern=st.text(max_size=8), name=st.text(max_size=10))
def test_agrees_on_any_text(pattern: str, name: str) -> None:
    assert glob_match(pattern, name) == regex_glob(pattern, name)


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("?", "", False),
        ("a*a", "a", False),  # the first and the last piece may not overlap
        ("a*a", "aa", True),
        ("*?*?*", "ab", True),
        ("*?*?*", "a", False),
        ("ab*ab*ab", "ababab", True),
        ("ab*ab*ab", "abab", False),
        ("*a?c*", "xxabcxx", True),
        ("*a?c*", "xxacxx", False),
        ("mig-shop-??.[1]*", "mig-shop-01.[1]-tail", True),
        ("mig-shop-??.[1]*", "mig-shop-01.1", False),
        ("MIG*", "mig-1", False),
        ("a*b", "a\nb", True),
    ],
)
def test_examples(pattern: str, name: str, matched: bool) -> None:
    assert glob_match(pattern, name) is matched
    assert regex_glob(pattern, name) is matched


# --- linear time ---------------------------------------------------------------------------------


def test_the_reported_pattern_costs_no_more_than_a_trivial_one() -> None:
    # First a pattern the old matcher took seconds over (so this fails quickly against it),
    # then the reported one, which took it hours; both against a realistic 40-character name.
    trivial = per_call(lambda: glob_match("mig-*", NAME_40), 2000)
    for pattern in ("*?" * 8 + "*Z", ISSUE_PATTERN):
        worst = per_call(lambda p=pattern: glob_match(p, NAME_40), 200)  # type: ignore[misc]
        assert not glob_match(pattern, NAME_40)
        assert worst < 50 * trivial, (pattern, worst, trivial)


# Patterns that make a backtracking matcher, or a careless search, do the most work on names of
# "a"s ending in "b": the ends match, and every place in between almost matches.
WORST = {
    "wildcards": "*?" * (PATTERN_MAX // 2 - 1) + "*b",
    "stars between letters": "*a" * (PATTERN_MAX // 2 - 2) + "*c*b",
    "long pieces with ?": ("*" + "a" * 30 + "?") * 5 + "*" + "a" * 30 + "?c*b",
    "long literal piece": "*" + "a" * 150 + "c*b",
    "question marks": "a" * 50 + "?" * 100 + "*c*b",
}


@pytest.mark.parametrize("kind", sorted(WORST))
def test_longest_worst_patterns_grow_linearly_with_the_name(kind: str) -> None:
    pattern = WORST[kind]
    assert isinstance(read_selection(pattern), Selection)  # a pattern people may type
    short, long = "a" * 5000 + "b", "a" * 20000 + "b"
    assert glob_match(pattern, long) is (kind == "wildcards")
    t_short = per_call(lambda: glob_match(pattern, short), 20)
    t_long = per_call(lambda: glob_match(pattern, long), 5)
    # Linear is 4x (a fixed cost per call makes it less); backtracking would be 4 ** wildcards.
    # The 20 us allow for the timer's and the machine's noise on calls this short.
    assert t_long < 12 * t_short + 2e-5, (kind, t_short, t_long)

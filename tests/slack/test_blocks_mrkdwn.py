"""The mrkdwn helpers and Block Kit primitives the builders rest on."""

from __future__ import annotations

import os

import pytest
from blockkit_checks import assert_safe_mrkdwn
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m

EXAMPLES = settings(
    max_examples=int(os.environ.get("STARTJOBS_FUZZ_EXAMPLES", "200")), deadline=None
)
markup_heavy = st.text(alphabet=st.sampled_from("<>&!@#|*_`~ \n abcU0;"), max_size=400)


def test_escape_replaces_exactly_three_characters() -> None:
    assert m.escape("<!channel> & <@U1> <http://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;"
    )
    assert (
        m.escape("\"quotes\" 'single' *bold* _i_ `code`") == "\"quotes\" 'single' *bold* _i_ `code`"
    )
    assert m.escape("&amp;") == "&amp;amp;"  # already-escaped text is escaped again: shown as typed


@EXAMPLES
@given(text=markup_heavy | st.text(max_size=400), limit=st.integers(1, 300))
def test_clip_stays_within_the_limit_and_never_splits_an_entity(text: str, limit: int) -> None:
    out = m.clip(text, limit)
    assert len(out) <= limit
    assert_safe_mrkdwn(out)
    if len(m.escape(text)) <= limit:
        assert out == m.escape(text)
    else:
        assert out.endswith(m.ELLIPSIS)


@EXAMPLES
@given(text=markup_heavy, limit=st.integers(2, 120))
def test_inline_is_one_line(text: str, limit: int) -> None:
    out = m.inline(text, limit)
    assert "\n" not in out
    assert len(out) <= limit
    assert_safe_mrkdwn(out)


@EXAMPLES
@given(text=markup_heavy, limit=st.integers(2, 500))
def test_cut_markup_never_leaves_half_an_entity_or_half_a_mention(text: str, limit: int) -> None:
    built = (
        f"{m.mention('U01ALICE')} {m.escape(text)} {m.slack_date(1_790_000_000)} {m.escape(text)}"
    )
    out = kit.cut_markup(built, limit)
    assert len(out) <= limit
    assert_safe_mrkdwn(out)


def test_code_spans() -> None:
    assert m.code("DRS.M00304") == "`DRS.M00304`"
    assert m.code("a`b<c>") == "`a'b&lt;c&gt;`"
    assert m.code("  ") == "`-`"
    assert m.code("x\ny") == "`x y`"


def test_plain_cuts_without_escaping() -> None:
    assert m.plain("a <b> & c", 50) == "a <b> & c"
    assert m.plain("x" * 30, 24) == "x" * 23 + "…"
    with pytest.raises(ValueError, match="limit"):
        m.plain("x", 0)
    with pytest.raises(ValueError, match="limit"):
        m.clip("x", 0)


def test_mention_only_for_user_ids() -> None:
    assert m.mention("U01ALICE") == "<@U01ALICE>"
    assert m.mention("W0ENTERPRISE") == "<@W0ENTERPRISE>"
    assert m.mention("<!channel>") == "`&lt;!channel&gt;`"
    assert m.mention("u01alice") == "`u01alice`"


def test_slack_date_has_a_utc_fallback() -> None:
    assert m.slack_date(1_790_000_000) == (
        "<!date^1790000000^{date_short_pretty} {time}|2026-09-21 14:13 UTC>"
    )
    assert m.slack_date(1_790_000_000.9, "{date_num}").startswith("<!date^1790000000^{date_num}|")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (86400, "1 d"),
        (90000, "1 d 1 h"),
        (-120, "2 min"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert m.duration(seconds) == text


def test_relative() -> None:
    assert m.relative(1000, 1000) == "now"
    assert m.relative(1000 + 3600, 1000) == "in 1 h"
    assert m.relative(1000 - 600, 1000) == "10 min ago"


def test_count() -> None:
    assert m.count(1, "job") == "1 job"
    assert m.count(1000, "job") == "1,000 jobs"
    assert m.count(2, "child", "children") == "2 children"


def test_line_sections_pack_lines_within_the_section_limit() -> None:
    lines = [f"line {i} " + "x" * 190 for i in range(100)]
    sections = kit.line_sections(lines)
    texts = [s["text"]["text"] for s in sections]
    assert all(len(t) <= 3000 for t in texts)
    assert "\n".join(texts).split("\n") == lines  # nothing lost, order kept
    assert len(sections) == 7
    (one,) = kit.line_sections(["y" * 5000])
    assert len(one["text"]["text"]) == 3000
    assert kit.line_sections([]) == []


def test_button_and_option_values_over_the_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="button value"):
        kit.button("x", "a", "v" * 2001)
    with pytest.raises(ValueError, match="option value"):
        kit.option("x", "v" * 151)


def test_fields_are_capped_at_ten() -> None:
    assert len(kit.fields([f"f{i}" for i in range(12)])["fields"]) == 10


def test_plain_never_returns_blank_text() -> None:
    assert m.plain(" \n ", 10) == "-"

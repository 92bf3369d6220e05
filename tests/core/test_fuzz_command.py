from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.command import (
    Help,
    History,
    Invalid,
    Start,
    Status,
    is_project_word,
    parse_command,
    unescape_slack,
)

from .fuzzing import fuzz
from .strategies import chat_text, job_ids

projects = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(is_project_word)
time_texts = st.sampled_from(["+2h", "now", "2026-12-01 10:00", "2026-12-01T10:00+08:00"])


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@fuzz
@given(chat_text)
def test_never_raises(text: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Help | History | Status | Start | Invalid)
    if isinstance(result, Invalid):
        assert result.message
    if isinstance(result, Status):
        assert result.args


@fuzz
@given(st.text())
def test_unescape_undoes_slack_escaping(text: str) -> None:
    assert unescape_slack(slack_escape(text)) == text


@fuzz
@given(
    st.none() | projects,
    st.lists(job_ids, min_size=1, max_size=10),
    st.none() | time_texts,
)
def test_start_round_trips(project: str | None, ids: list[str], time_text: str | None) -> None:
    text = " ".join([*([project] if project else []), *ids])
    if time_text is not None:
        text += f" at {time_text}"
    assert parse_command(slack_escape(text)) == Start(
        project=project, job_text=" ".join(ids), time_text=time_text
    )


@fuzz
@given(projects, st.text(min_size=1, max_size=30))
def test_name_pattern_round_trips_through_quoting(project: str, pattern: str) -> None:
    assume(pattern.strip() == pattern)
    assume(not pattern.startswith("--"))
    quoted = "'" + pattern.replace("'", "'\"'\"'") + "'"
    result = parse_command(slack_escape(f"{project} --name {quoted}"))
    # Typographic quotes inside the pattern become plain ones, which may unbalance quoting.
    if any(q in pattern for q in "“”„‘’"):
        assert isinstance(result, Start | Invalid)
    else:
        assert result == Start(project=project, name_pattern=pattern)

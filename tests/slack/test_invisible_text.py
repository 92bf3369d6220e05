"""Text shown in Slack cannot hide characters or reorder itself: bidi controls and zero-width
characters in job names, reasons and DRS messages are shown as visible ``[U+XXXX]`` markers."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from blockkit_checks import all_text, check_message, check_view
from hypothesis import given
from hypothesis import strategies as st
from sample_requests import NOW, job, request

from bot.core.model import JobInfo, Outcome
from bot.core.request import RequestState, StartRequest
from bot.slack.listeners.options import job_option
from bot.slack.ui import answers, blocks, decisions, kit, outcome
from bot.slack.ui import mrkdwn as m
from tests.core.fuzzing import fuzz

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
HIDDEN = BIDI + ZERO_WIDTH
# "mig-shop-1" that reads "mig-shop-1" but is not: a zero-width space inside, and a name that
# shows its end first ("...1-pohs-gim" displayed as "mig-shop-1").
LOOKALIKE = "mig-shop\u200b-1"
REVERSED = "\u202e1-pohs-gim"


def shown(text: str) -> list[str]:
    return [c for c in text if c in HIDDEN or unicodedata.category(c) == "Cf"]


@pytest.mark.parametrize("ch", list(HIDDEN))
def test_each_hidden_character_becomes_a_visible_marker(ch: str) -> None:
    marker = f"[U+{ord(ch):04X}]"
    assert m.reveal(f"a{ch}b") == f"a{marker}b"
    assert m.escape(f"<{ch}>") == f"&lt;{marker}&gt;"
    assert m.inline(f"x{ch}y") == f"x{marker}y"
    assert m.plain(f"x{ch}y", 75) == f"x{marker}y"
    assert m.code(f"x{ch}y") == f"`x{marker}y`"


def test_ordinary_text_is_unchanged() -> None:
    for text in ("mig-shop-1", "迁移任务-订单库", "café – naïve", "Ünïcödé ✓", "مهاجرت"):
        assert m.reveal(text) == text
        assert m.escape(text) == text


def test_clip_counts_the_markers_and_never_splits_one() -> None:
    assert m.clip("ab\u202ecd", 12) == "ab[U+202E]cd"
    assert m.clip("ab\u202ecd", 11) == "ab[U+202E]…"
    assert m.clip("ab\u202ecd", 10) == "ab…"  # the marker does not fit whole: it is left out


def _spoofing_request(state: RequestState) -> StartRequest:
    jobs = (
        job(0, name=LOOKALIKE),
        job(1, name=REVERSED, outcome=Outcome.FAILED, error_msg="ok\u202e deliaf"),
        job(2, name="a\u2066b\u2069c", drs_status="FULL\u200bTRANSFER"),
    )
    return dataclasses.replace(
        request(3),
        jobs=jobs,
        reason="CHG-1\u202e9999",
        state=state,
        decided_by="U02BOB",
        decided_at=NOW,
        decision_comment="looks\u200bgood",
    )


@pytest.mark.parametrize("state", [RequestState.PENDING, RequestState.DONE])
def test_messages_and_modals_show_no_hidden_characters(state: RequestState) -> None:
    req = _spoofing_request(state)
    texts: list[str] = []
    for msg in (
        blocks.request_message(req, now=NOW),
        outcome.outcome_message(req, failures=[], mention_requester=True),
        answers.history_message([req], now=NOW),
        answers.job_status_message([JobInfo(job_id=job(0).job_id, name=REVERSED)]),
    ):
        check_message(msg)
        texts.append(all_text(msg.blocks) + msg.text)
    for view in (decisions.approve_modal(req, now=NOW), decisions.reject_modal(req, now=NOW)):
        check_view(view)
        texts.append(all_text(view["blocks"]))
    texts.append(str(job_option(JobInfo(job_id=job(0).job_id, name=LOOKALIKE))))
    everything = "\n".join(texts)
    assert shown(everything) == []
    assert "mig-shop[U+200B]-1" in everything
    assert "[U+202E]1-pohs-gim" in everything


@fuzz
@given(text=st.text(alphabet=st.sampled_from([*HIDDEN, "a", "<", "&", " ", "é"])) | st.text())
def test_no_shown_text_carries_a_hidden_character(text: str) -> None:
    for out in (
        m.escape(text),
        m.inline(text, 200),
        m.clip(text, 50),
        m.code(text),
        m.plain(text, 75),
        kit.plain_text(text, 24)["text"],
    ):
        assert shown(out) == []

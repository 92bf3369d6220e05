"""Hypothesis strategies for job IDs and chat-like text, shared by the core property tests."""

from __future__ import annotations

from hypothesis import strategies as st

ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


def _group(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=ALNUM, min_size=size, max_size=size)


job_ids: st.SearchStrategy[str] = st.tuples(*(_group(n) for n in (8, 4, 4, 4, 12))).map("-".join)
"""Valid, lower-case DRS job IDs (not only hex: letters anywhere, as real IDs have)."""

separators: st.SearchStrategy[str] = st.lists(
    st.sampled_from(["\n", ",", ";", " ", "\t", ", ", "\r\n", "\u00a0", " ; "]),
    min_size=1,
    max_size=3,
).map("".join)

# Text that reaches deep into the parsers: their keywords, quotes, escapes and separators.
chat_words = st.sampled_from(
    [
        "help",
        "status",
        "history",
        "at",
        "AT",
        "--name",
        "--status",
        "--type",
        "--name=",
        "--bogus",
        "prod",
        "CONFIGURATION",
        "sync",
        "'",
        '"',
        "“",
        "’",
        "\\",
        "&amp;",
        "&lt;",
        "&gt;",
        "job_id",
        "+2h",
        "now",
        "2026-12-01",
        "10:00",
        ",",
        ";",
        "\n",
        "9a470239-2308-4bb5-a6bc-1040402fjb21",
    ]
)
chat_text: st.SearchStrategy[str] = st.one_of(
    st.text(),
    st.lists(st.one_of(chat_words, job_ids, st.text(max_size=5)), max_size=12).map(" ".join),
)

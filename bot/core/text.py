"""Plain formatting that answers to people share, whatever shows them: a person's mention and
a time readable without help."""

from __future__ import annotations

import re
from datetime import UTC, datetime

USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
"""A Slack user id (``U…``, or ``W…`` in Enterprise Grid)."""


def mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything not shaped like one as an inline code span."""
    if USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return "`" + user_id.replace("`", "'")[:40] + "`"


def utc_text(epoch_s: float) -> str:
    """``2026-12-01 02:00 UTC``: a time readable without Slack's help (fallbacks, CSV, logs)."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M UTC")

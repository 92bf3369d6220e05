"""What every message builder shares: the :class:`Message` value, its limits, and the
title of a request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.request import StartRequest
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m

# Characters of job lines per message; with the rest of a message this stays well under the
# ~13k characters of blocks at which Slack has been seen to answer msg_blocks_too_long.
ROWS_BUDGET = 6500
MAX_CALL_FAILURES = 5
MAX_EVENTS = 25
MAX_HISTORY = 20
MAX_STATUS_JOBS = 60
STATUS_MESSAGE_ROWS = 10
TEXT_MAX = 3000  # the notification text; chat.update allows 4,000
REQUEST_JOBS_LISTED = 15  # jobs listed by name on a request message; more go to a CSV
SOURCE_MAX = 400


@dataclass(frozen=True, slots=True)
class Message:
    """A message to post: ``text`` is the notification fallback, ``blocks`` what is shown."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        """``text`` and ``blocks`` for ``chat.postMessage`` / ``chat.update`` / ``respond``."""
        return {"text": self.text, "blocks": self.blocks}


def message(text: str, blocks: list[kit.Block]) -> Message:
    if len(blocks) > kit.MESSAGE_BLOCKS_MAX:
        raise AssertionError("a message builder produced more than 50 blocks")
    return Message(text=kit.cut_markup(text, TEXT_MAX), blocks=blocks)


def capped(lines: Sequence[str], max_rows: int, budget: int = ROWS_BUDGET) -> tuple[list[str], int]:
    """The first lines that fit in ``max_rows`` and ``budget`` characters, and how many did not."""
    shown: list[str] = []
    used = 0
    for line in lines[:max_rows]:
        if shown and used + len(line) > budget:
            break
        shown.append(line)
        used += len(line) + 1
    return shown, len(lines) - len(shown)


def title(req: StartRequest) -> str:
    """For plain_text (a header), which Slack shows literally: not escaped."""
    return f"Start {m.count(len(req.jobs), 'DRS job')} · {req.project}"


def title_md(req: StartRequest) -> str:
    return f"Start {m.count(len(req.jobs), 'DRS job')} · {m.inline(req.project, 80)}"

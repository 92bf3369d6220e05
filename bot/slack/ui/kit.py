"""Block Kit primitives as plain dicts, cut to Slack's limits where a limit applies.

Text handed to these functions is already mrkdwn (escaped by the caller with
:mod:`bot.slack.ui.mrkdwn`) unless the parameter says ``plain``. Limits are Slack's: section text
3,000, header 150, button text 75, button value 2,000, ten fields per section.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.slack.ui import mrkdwn

Block = dict[str, Any]

SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150


def cut_markup(text: str, limit: int) -> str:
    """Cut already-escaped mrkdwn to ``limit`` characters.

    Never splits an entity (``&amp;``) or a piece of markup (``<@U1>``, ``<!date^…>``): every
    ``<`` in escaped text is markup made here, so an unclosed one is dropped whole.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp = head.rfind("&", max(0, len(head) - 4))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    if head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]
    return head + mrkdwn.ELLIPSIS


def plain_text(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": mrkdwn.plain(text, limit), "emoji": True}


def md(text: str, limit: int = SECTION_TEXT_MAX) -> Block:
    return {"type": "mrkdwn", "text": cut_markup(text, limit)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain_text(text, HEADER_MAX)}


def section(text: str, *, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": md(text)}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def fields(items: Sequence[str]) -> Block:
    """A section of up to ten two-column fields."""
    return {
        "type": "section",
        "fields": [md(item, FIELD_TEXT_MAX) for item in items[:FIELDS_MAX]],
    }


def context(*texts: str, block_id: str | None = None) -> Block:
    block: Block = {
        "type": "context",
        "elements": [md(t) for t in texts[:CONTEXT_ELEMENTS_MAX]],
    }
    if block_id is not None:
        block["block_id"] = block_id
    return block


def divider() -> Block:
    return {"type": "divider"}


def confirm(title: str, text: str, ok: str, deny: str, *, danger: bool = False) -> Block:
    """A confirmation dialog (title 100, text 300, buttons 30 characters)."""
    dialog: Block = {
        "title": plain_text(title, 100),
        "text": md(text, 300),
        "confirm": plain_text(ok, 30),
        "deny": plain_text(deny, 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm_dialog: Block | None = None,
) -> Block:
    if len(value) > BUTTON_VALUE_MAX:
        raise ValueError("button value is longer than Slack allows")
    element: Block = {
        "type": "button",
        "text": plain_text(text, BUTTON_TEXT_MAX),
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        element["style"] = style
    if confirm_dialog is not None:
        element["confirm"] = confirm_dialog
    return element


def actions(block_id: str, elements: Sequence[Block]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def line_sections(lines: Iterable[str], *, limit: int = SECTION_TEXT_MAX) -> list[Block]:
    """Pack lines into as few sections as fit, each within ``limit`` characters."""
    blocks: list[Block] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = cut_markup(raw, limit)
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            blocks.append(section("\n".join(current)))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        blocks.append(section("\n".join(current)))
    return blocks


def option(text: str, value: str, description: str | None = None) -> Block:
    if len(value) > OPTION_VALUE_MAX:
        raise ValueError("option value is longer than Slack allows")
    opt: Block = {"text": plain_text(text, OPTION_TEXT_MAX), "value": value}
    if description:
        opt["description"] = plain_text(description, OPTION_TEXT_MAX)
    return opt

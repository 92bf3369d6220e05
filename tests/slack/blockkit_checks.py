"""Checks of Block Kit payloads against Slack's limits, shared by the builder tests.

Two independent layers: ``slack_sdk.models`` (Slack's own length validators, run by
``to_dict()``; a round trip that drops a key we sent means the key is misspelled or misplaced),
and our own assertions for what slack_sdk does not check — blocks per message or view, known block
types, the aggregate size, and mrkdwn that could mention, link or notify.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
# Slack has answered msg_blocks_too_long near 13k characters of blocks; keep a margin.
MESSAGE_JSON_MAX = 12_000
MESSAGE_TEXT_MAX = 4_000  # chat.update's limit for the top-level text

MESSAGE_BLOCK_TYPES = frozenset({"section", "header", "context", "divider", "actions"})
VIEW_BLOCK_TYPES = MESSAGE_BLOCK_TYPES | {"input"}
ELEMENT_TYPES = frozenset(
    {
        "button",
        "static_select",
        "plain_text_input",
        "radio_buttons",
        "datetimepicker",
        "file_input",
        "multi_external_select",
    }
)

# The only markup our builders emit: user mentions, channel links and dates. Everything else
# that starts with "<" would be user text that escaped escaping.
_ALLOWED_MARKUP = re.compile(r"<@[UW][A-Z0-9]+>|<#[CG][A-Z0-9]+>|<!date\^\d+\^[^|<>]+\|[^|<>]+>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


def _texts(node: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every text object (``{"type": "mrkdwn"|"plain_text", "text": ...}``) with its path."""
    if isinstance(node, Mapping):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield path, node
        for key, value in node.items():
            yield from _texts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _texts(value, f"{path}[{i}]")


def _elements(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        if node.get("type") in ELEMENT_TYPES:
            yield node
        for value in node.values():
            yield from _elements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _elements(value)


def assert_safe_mrkdwn(text: str, where: str = "") -> None:
    """No markup but ours, and no bare ``&``: user text was escaped."""
    rest = _ALLOWED_MARKUP.sub("", text)
    assert "<" not in rest, f"unescaped markup at {where}: {text[:300]!r}"
    assert ">" not in rest, f"unescaped markup at {where}: {text[:300]!r}"
    assert "&" not in _ENTITY.sub("", rest), f"bare & at {where}: {text[:300]!r}"


def _check_text_limits(blocks: Sequence[Mapping[str, Any]]) -> None:
    for path, obj in _texts(list(blocks)):
        if obj["type"] == "mrkdwn":
            assert_safe_mrkdwn(obj["text"], path)
        assert obj["text"].strip(), f"empty text at {path}"
    for i, block in enumerate(blocks):
        kind = block["type"]
        if "block_id" in block:
            assert len(block["block_id"]) <= 255
        if kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000, f"section {i} text too long"
            fields = block.get("fields", [])
            assert len(fields) <= 10, f"section {i} has {len(fields)} fields"
            for f in fields:
                assert len(f["text"]) <= 2000
        elif kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= 150
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
        elif kind == "input":
            assert len(block["label"]["text"]) <= 2000
    for element in _elements(list(blocks)):
        if "action_id" in element:
            assert len(element["action_id"]) <= 255
        if element["type"] == "button":
            assert len(element["text"]["text"]) <= 75
            assert len(element["value"]) <= 2000
            dialog = element.get("confirm")
            if dialog:
                assert len(dialog["title"]["text"]) <= 100
                assert len(dialog["text"]["text"]) <= 300
                assert len(dialog["confirm"]["text"]) <= 30
                assert len(dialog["deny"]["text"]) <= 30
        for opt in element.get("options", []):
            assert len(opt["text"]["text"]) <= 75
            assert len(opt["value"]) <= 150
            if "description" in opt:
                assert len(opt["description"]["text"]) <= 75
        if element["type"] == "plain_text_input":
            assert element.get("max_length", 3000) <= 3000
            assert len(element.get("initial_value", "")) <= element.get("max_length", 3000)


def _round_trip(blocks: Sequence[Mapping[str, Any]]) -> None:
    parsed = Block.parse_all([dict(b) for b in blocks])
    assert all(p is not None for p in parsed), "slack_sdk does not know a block type"
    again = [p.to_dict() for p in parsed]  # runs Slack's validators; raises when over a limit
    assert again == list(blocks), "slack_sdk dropped or changed something we sent"


def check_blocks(blocks: Sequence[Mapping[str, Any]], *, allowed: frozenset[str]) -> None:
    for block in blocks:
        assert block["type"] in allowed, f"unexpected block type {block['type']!r}"
    _check_text_limits(blocks)
    _round_trip(blocks)


def check_message(message: Any) -> None:
    """A Message (``.text``, ``.blocks``) as chat.postMessage / chat.update would take it."""
    blocks = message.blocks
    assert 1 <= len(blocks) <= MESSAGE_BLOCKS_MAX, f"{len(blocks)} blocks"
    check_blocks(blocks, allowed=MESSAGE_BLOCK_TYPES)
    size = len(json.dumps(blocks, ensure_ascii=False))
    assert size <= MESSAGE_JSON_MAX, f"blocks are {size} characters"
    assert message.text.strip()
    assert len(message.text) <= MESSAGE_TEXT_MAX
    assert_safe_mrkdwn(message.text, "text")


def check_view(view: Mapping[str, Any]) -> None:
    """A modal as views.open / views.update would take it."""
    assert view["type"] == "modal"
    blocks = view["blocks"]
    assert 1 <= len(blocks) <= VIEW_BLOCKS_MAX
    for key in ("title", "submit", "close"):
        if key in view:
            assert view[key]["type"] == "plain_text"
            assert 1 <= len(view[key]["text"]) <= 24, f"{key} too long: {view[key]['text']!r}"
    assert len(view.get("private_metadata", "")) <= 3000
    assert len(view.get("callback_id", "")) <= 255
    check_blocks(blocks, allowed=VIEW_BLOCK_TYPES)
    validated = View(**dict(view)).to_dict()  # runs the view's own validators too
    assert validated["blocks"] == blocks
    assert len(json.dumps(view)) <= 250_000


def all_text(blocks: Sequence[Mapping[str, Any]]) -> str:
    """Every text object of the blocks joined, for substring assertions."""
    return "\n".join(obj["text"] for _, obj in _texts(list(blocks)))


def mrkdwn_text(blocks: Sequence[Mapping[str, Any]]) -> str:
    """Every mrkdwn text of the blocks joined: the text Slack parses for mentions and links.

    ``plain_text`` (headers, labels, options) is shown literally and never parsed, so a raw
    ``<!channel>`` there is inert.
    """
    return "\n".join(obj["text"] for _, obj in _texts(list(blocks)) if obj["type"] == "mrkdwn")


def action_ids(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(e["action_id"]) for e in _elements(list(blocks)) if "action_id" in e]

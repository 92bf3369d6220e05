"""Block Kit and modal checks the fake Slack applies, as real Slack rejects them.

Each check returns a list of problems in Slack's own wording style
(``"[ERROR] must be at most 3000 characters [json-pointer:/blocks/0/text]"``); an empty
list means the payload passes. Only limits that matter to this project are checked, and
every one of them is a documented Slack limit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

MESSAGE_BLOCK_LIMIT = 50
MODAL_BLOCK_LIMIT = 100
VIEW_MAX_BYTES = 250_000

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "call",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)

# Element types whose current value Slack reports in ``view.state.values``.
STATEFUL_ELEMENTS = frozenset(
    {
        "checkboxes",
        "channels_select",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
    }
)


class ArgumentError(ValueError):
    """An argument Slack could not even parse (``invalid_blocks_format`` and the like)."""


def parse_json_arg(value: object, *, name: str) -> Any:
    """Decode a form field that carries JSON; JSON bodies pass their value through as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ArgumentError(f"{name} is not valid JSON") from exc
    return value


def _err(problem: str, pointer: str) -> str:
    return f"[ERROR] {problem} [json-pointer:{pointer}]"


def _text_of(obj: object) -> str | None:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else None
    return None


def _check_text(obj: object, pointer: str, *, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [_err("must be a text object", pointer)]
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        return [_err(f"type must be one of {', '.join(allowed)}", pointer + "/type")]
    text = _text_of(obj)
    if text is None or not text:
        return [_err("must be more than 0 characters", pointer + "/text")]
    if len(text) > limit:
        return [_err(f"must be at most {limit} characters", pointer + "/text")]
    return []


def _check_max(value: object, limit: int, pointer: str) -> list[str]:
    if isinstance(value, str) and len(value) > limit:
        return [_err(f"must be at most {limit} characters", pointer)]
    return []


def _check_options(options: object, pointer: str) -> list[str]:
    if not isinstance(options, list):
        return [_err("must be an array", pointer)]
    errors: list[str] = []
    if len(options) > 100:
        errors.append(_err("must be at most 100 items", pointer))
    for i, option in enumerate(options):
        at = f"{pointer}/{i}"
        if not isinstance(option, dict):
            errors.append(_err("must be an option object", at))
            continue
        errors += _check_text(option.get("text"), at + "/text", limit=75)
        errors += _check_max(option.get("value"), 150, at + "/value")
    return errors


def _check_confirm(confirm: object, pointer: str) -> list[str]:
    if not isinstance(confirm, dict):
        return [_err("must be a confirmation dialog object", pointer)]
    errors = _check_text(confirm.get("title"), pointer + "/title", limit=100, plain_only=True)
    errors += _check_text(confirm.get("text"), pointer + "/text", limit=300)
    errors += _check_text(confirm.get("confirm"), pointer + "/confirm", limit=30, plain_only=True)
    errors += _check_text(confirm.get("deny"), pointer + "/deny", limit=30, plain_only=True)
    return errors


def _check_element(element: object, pointer: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [_err("must be an element object with a type", pointer)]
    kind = element["type"]
    errors = _check_max(element.get("action_id"), 255, pointer + "/action_id")
    if kind == "button":
        errors += _check_text(element.get("text"), pointer + "/text", limit=75, plain_only=True)
        errors += _check_max(element.get("value"), 2000, pointer + "/value")
        errors += _check_max(element.get("url"), 3000, pointer + "/url")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(_err("style must be primary or danger", pointer + "/style"))
    if "options" in element and kind != "image":
        errors += _check_options(element["options"], pointer + "/options")
    if "option_groups" in element:
        groups = element["option_groups"]
        if not isinstance(groups, list) or len(groups) > 100:
            errors.append(_err("must be an array of at most 100 items", pointer + "/option_groups"))
        else:
            for i, group in enumerate(groups):
                at = f"{pointer}/option_groups/{i}"
                label = group.get("label") if isinstance(group, dict) else None
                errors += _check_text(label, at + "/label", limit=75, plain_only=True)
                errors += _check_options(
                    group.get("options") if isinstance(group, dict) else None, at + "/options"
                )
    if "placeholder" in element:
        errors += _check_text(
            element["placeholder"], pointer + "/placeholder", limit=150, plain_only=True
        )
    if kind == "plain_text_input":
        max_length = element.get("max_length")
        if isinstance(max_length, int) and max_length > 3000:
            errors.append(_err("must be at most 3000", pointer + "/max_length"))
        errors += _check_max(element.get("initial_value"), 3000, pointer + "/initial_value")
    if "confirm" in element:
        errors += _check_confirm(element["confirm"], pointer + "/confirm")
    return errors


def _elements_of(block: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Interactive elements of one block, with their json-pointer suffix."""
    kind = block.get("type")
    if kind in ("actions", "context_actions"):
        for i, element in enumerate(block.get("elements") or []):
            yield f"/elements/{i}", element
    elif kind == "section" and "accessory" in block:
        yield "/accessory", block["accessory"]
    elif kind == "input" and "element" in block:
        yield "/element", block["element"]


def _check_block(block: object, pointer: str) -> list[str]:
    if not isinstance(block, dict):
        return [_err("must be a block object", pointer)]
    kind = block.get("type")
    if kind not in KNOWN_BLOCK_TYPES:
        return [_err(f"unsupported type: {kind!r}", pointer + "/type")]
    errors = _check_max(block.get("block_id"), 255, pointer + "/block_id")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(_err("must provide text or fields", pointer))
        if "text" in block:
            errors += _check_text(block["text"], pointer + "/text", limit=3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(_err("must be an array of at most 10 items", pointer + "/fields"))
            else:
                for i, item in enumerate(fields):
                    errors += _check_text(item, f"{pointer}/fields/{i}", limit=2000)
    elif kind == "header":
        errors += _check_text(block.get("text"), pointer + "/text", limit=150, plain_only=True)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            errors.append(_err("must be more than 0 characters", pointer + "/text"))
        else:
            errors += _check_max(text, 12000, pointer + "/text")
    elif kind in ("actions", "context_actions", "context"):
        elements = block.get("elements")
        limit = 10 if kind == "context" else 25
        if not isinstance(elements, list) or not elements:
            errors.append(_err("must be a non-empty array", pointer + "/elements"))
        elif len(elements) > limit:
            errors.append(_err(f"must be at most {limit} items", pointer + "/elements"))
    elif kind == "input":
        errors += _check_text(block.get("label"), pointer + "/label", limit=2000, plain_only=True)
        if "hint" in block:
            errors += _check_text(block["hint"], pointer + "/hint", limit=2000, plain_only=True)
        if not isinstance(block.get("element"), dict):
            errors.append(_err("missing required field: element", pointer + "/element"))
    seen_actions: set[str] = set()
    for suffix, element in _elements_of(block):
        errors += _check_element(element, pointer + suffix)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen_actions:
                errors.append(_err("duplicate action_id in block", pointer + suffix + "/action_id"))
            seen_actions.add(action_id)
    return errors


def check_blocks(blocks: object, *, limit: int) -> list[str]:
    """Problems with a ``blocks`` array for a surface that holds at most ``limit`` blocks."""
    if not isinstance(blocks, list):
        return [_err("must be an array", "/blocks")]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(_err(f"must be at most {limit} items", "/blocks"))
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        errors += _check_block(block, f"/blocks/{i}")
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if isinstance(block_id, str):
            if block_id in seen:
                errors.append(_err("duplicate block_id", f"/blocks/{i}/block_id"))
            seen.add(block_id)
    return errors


def blocks_text_length(blocks: list[Any]) -> int:
    """Characters of text across all blocks, the measure Slack's aggregate cap appears to use."""
    total = 0

    def walk(node: object) -> None:
        nonlocal total
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return total


def check_modal(view: object) -> list[str]:
    """Problems with a modal view object passed to views.open/update/push."""
    if not isinstance(view, dict):
        return [_err("must be a view object", "/view")]
    errors: list[str] = []
    if view.get("type") != "modal":
        errors.append(_err("type must be modal", "/view/type"))
    errors += _check_text(view.get("title"), "/view/title", limit=24, plain_only=True)
    for key in ("submit", "close"):
        if key in view and view[key] is not None:
            errors += _check_text(view[key], f"/view/{key}", limit=24, plain_only=True)
    blocks = view.get("blocks")
    errors += [
        e.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")
        for e in check_blocks(blocks, limit=MODAL_BLOCK_LIMIT)
    ]
    if (
        isinstance(blocks, list)
        and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        and not view.get("submit")
    ):
        errors.append(_err("submit is required when a view has input blocks", "/view/submit"))
    errors += _check_max(view.get("private_metadata"), 3000, "/view/private_metadata")
    errors += _check_max(view.get("callback_id"), 255, "/view/callback_id")
    errors += _check_max(view.get("external_id"), 255, "/view/external_id")
    return errors


def check_home(view: object) -> list[str]:
    """Problems with a Home tab view passed to views.publish (``type: home``)."""
    if not isinstance(view, dict):
        return [_err("must be a view object", "/view")]
    errors: list[str] = []
    if view.get("type") != "home":
        errors.append(_err("type must be home", "/view/type"))
    errors += [
        e.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")
        for e in check_blocks(view.get("blocks"), limit=MODAL_BLOCK_LIMIT)
    ]
    errors += _check_max(view.get("private_metadata"), 3000, "/view/private_metadata")
    errors += _check_max(view.get("callback_id"), 255, "/view/callback_id")
    errors += _check_max(view.get("external_id"), 255, "/view/external_id")
    return errors


def view_too_large(view: object) -> bool:
    return len(json.dumps(view).encode()) > VIEW_MAX_BYTES


def fill_ids(blocks: list[Any], new_id: Callable[[], str]) -> list[Any]:
    """A copy of ``blocks`` where every block and interactive element has an id.

    Slack fills in a random ``block_id``/``action_id`` where the app gave none, and reports
    those back in payloads; the fake does the same so the driver can address every element.
    """
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", new_id())
        for _, element in _elements_of(block):
            if isinstance(element, dict):
                element.setdefault("action_id", new_id())
    return filled


def interactive_elements(blocks: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(block_id, element)`` for every interactive element in ``blocks``."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for _, element in _elements_of(block):
            if isinstance(element, dict):
                yield str(block.get("block_id", "")), element

"""Block Kit messages as terminal text, for ``startjobs demo``.

Pure: blocks in, lines of text out (their words through :mod:`bot.devkit.demo.mrkdwn`).
Buttons are numbered ``[1] Approve  [2] Reject`` in the order a person sees them;
:func:`buttons_of` gives what those numbers stand for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.devkit.demo.mrkdwn import Viewer, text_of

JSON = dict[str, Any]

RULE = "─" * 40


@dataclass(frozen=True)
class Button:
    """A clickable element of a message, by its number as shown."""

    number: int
    block_id: str
    action_id: str
    value: str
    label: str
    url: str | None = None
    confirm: JSON | None = None


def buttons_of(blocks: Sequence[Any]) -> list[Button]:
    """Every button in ``blocks`` (action blocks and section accessories), numbered from 1."""
    found: list[Button] = []
    for block_id, element in _clickables(blocks):
        confirm = element.get("confirm")
        found.append(
            Button(
                number=len(found) + 1,
                block_id=block_id,
                action_id=str(element.get("action_id", "")),
                value=str(element.get("value", "")),
                label=text_of(element.get("text"), Viewer()),
                url=str(element["url"]) if element.get("url") else None,
                confirm=confirm if isinstance(confirm, dict) else None,
            )
        )
    return found


def _clickables(blocks: Sequence[Any]) -> Iterator[tuple[str, JSON]]:
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section" and block.get("accessory") is not None:
            candidates = [block["accessory"]]
        for element in candidates:
            if isinstance(element, dict) and element.get("type") == "button":
                yield str(block.get("block_id", "")), element


def render_blocks(blocks: Sequence[Any], viewer: Viewer) -> list[str]:
    """The lines a person reads for ``blocks``; buttons numbered as :func:`buttons_of` does."""
    lines: list[str] = []
    number = 0

    def button_label(element: JSON) -> str:
        nonlocal number
        number += 1
        return f"[{number}] {text_of(element.get('text'), viewer)}"

    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            title = text_of(block.get("text"), viewer)
            lines += [title, "═" * min(max(len(title), 3), 60)]
        elif kind == "section":
            if block.get("text") is not None:
                lines += text_of(block.get("text"), viewer).splitlines() or [""]
            for item in block.get("fields") or []:
                lines += _field_lines(text_of(item, viewer))
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                lines.append("  " + button_label(accessory))
        elif kind == "context":
            texts = [
                text_of(e, viewer) if e.get("type") != "image" else f"[{e.get('alt_text', '')}]"
                for e in block.get("elements") or []
                if isinstance(e, dict)
            ]
            lines += ["  " + line for line in "  ".join(texts).splitlines()]
        elif kind == "divider":
            lines.append(RULE)
        elif kind == "actions":
            shown = [
                button_label(e)
                for e in block.get("elements") or []
                if isinstance(e, dict) and e.get("type") == "button"
            ]
            others = [
                f"({e.get('type')})"
                for e in block.get("elements") or []
                if isinstance(e, dict) and e.get("type") != "button"
            ]
            lines.append("  ".join(shown + others))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines += _rich_text(block).splitlines()
        elif kind != "input":
            lines.append(f"[{kind} block]")
    return lines


def _field_lines(text: str) -> list[str]:
    """A two-column field ``*Title*\\nvalue`` as ``  Title: value``."""
    title, _, rest = text.partition("\n")
    if not rest:
        return [f"  {title}"]
    more = rest.splitlines()
    return [f"  {title}: {more[0]}", *(f"    {line}" for line in more[1:])]


def _rich_text(block: Mapping[str, Any]) -> str:
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Mapping):
            if node.get("type") == "text":
                out.append(str(node.get("text", "")))
            for child in node.get("elements") or []:
                walk(child)

    walk(block)
    return "".join(out)

"""A modal's inputs, and the modal as terminal text, for ``startjobs demo``.

Pure. :func:`input_fields` numbers a view's inputs in the order a person sees them and says
what each takes; :func:`render_view` shows the modal with those numbers, the values so far and
any inline errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.devkit.demo.mrkdwn import Viewer, text_of
from bot.devkit.demo.render import render_blocks
from bot.devkit.sim.slack_validate import STATEFUL_ELEMENTS


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class InputField:
    """One input of a modal, numbered as :func:`render_view` shows it."""

    number: int
    block_id: str
    action_id: str
    kind: str  # the element type: plain_text_input, static_select, datetimepicker, ...
    label: str
    optional: bool
    hint: str
    placeholder: str
    initial: object  # the element's initial value: text, option value(s) or epoch seconds
    choices: tuple[Choice, ...] = ()
    multiline: bool = False
    max_length: int | None = None
    min_length: int | None = None

    @property
    def is_choice(self) -> bool:
        return (
            bool(self.choices)
            or self.kind.endswith("select")
            or self.kind
            in (
                "radio_buttons",
                "checkboxes",
            )
        )

    @property
    def is_multi(self) -> bool:
        return self.kind.startswith("multi_") or self.kind == "checkboxes"

    def choice_label(self, value: object) -> str:
        if isinstance(value, Mapping):  # an option itself, as external selects hold them
            return text_of(value.get("text"), Viewer()) or str(value.get("value", ""))
        for choice in self.choices:
            if choice.value == value:
                return choice.label
        return str(value)


def input_fields(view: Mapping[str, Any]) -> list[InputField]:
    """The inputs of ``view`` in order, numbered from 1."""
    fields: list[InputField] = []
    for block in view.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element")
        if not isinstance(element, dict) or element.get("type") not in STATEFUL_ELEMENTS:
            continue
        options = list(element.get("options") or [])
        for group in element.get("option_groups") or []:
            options += list(group.get("options") or [])
        choices = tuple(
            Choice(
                value=str(o.get("value", "")),
                label=text_of(o.get("text"), Viewer()),
                description=text_of(o.get("description"), Viewer()),
            )
            for o in options
            if isinstance(o, dict)
        )
        fields.append(
            InputField(
                number=len(fields) + 1,
                block_id=str(block.get("block_id", "")),
                action_id=str(element.get("action_id", "")),
                kind=str(element.get("type")),
                label=text_of(block.get("label"), Viewer()),
                optional=bool(block.get("optional", False)),
                hint=text_of(block.get("hint"), Viewer()),
                placeholder=text_of(element.get("placeholder"), Viewer()),
                initial=_initial(element),
                choices=choices,
                multiline=bool(element.get("multiline", False)),
                max_length=_int(element.get("max_length")),
                min_length=_int(element.get("min_length")),
            )
        )
    return fields


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _initial(element: Mapping[str, Any]) -> object:
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons", "external_select"):
        option = element.get("initial_option")
        return option.get("value") if isinstance(option, dict) else None
    if kind in ("multi_static_select", "checkboxes", "multi_external_select"):
        return [o.get("value") for o in element.get("initial_options") or [] if isinstance(o, dict)]
    for key in (
        "initial_value",
        "initial_date_time",
        "initial_date",
        "initial_time",
        "initial_user",
        "initial_users",
        "initial_conversation",
        "initial_channel",
    ):
        if key in element:
            return element[key]
    return None


def value_text(field_: InputField, value: object, viewer: Viewer) -> str:
    """A field's value as a person reads it (``-`` for nothing)."""
    if value is None or value == "" or value == []:
        return "-"
    if field_.kind == "datetimepicker" and isinstance(value, int):
        moment = datetime.fromtimestamp(value, viewer.zone)
        return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"
    if field_.is_multi and isinstance(value, list):
        return ", ".join(field_.choice_label(v) for v in value)
    if field_.is_choice or isinstance(value, Mapping):
        return field_.choice_label(value)
    return " ".join(str(value).split())


def render_view(
    view: Mapping[str, Any],
    viewer: Viewer,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, object] | None = None,
) -> list[str]:
    """A modal: its title, its blocks, its inputs numbered ``[1]`` with their current values
    (``values`` by block id overrides the initial ones) and any inline ``errors``, and its
    submit and close buttons."""
    fields = {f.block_id: f for f in input_fields(view)}
    lines = [f"┏━ {text_of(view.get('title'), viewer)}"]
    body: list[str] = []
    for block in view.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") != "input":
            body += render_blocks([block], viewer)
            continue
        f = fields.get(str(block.get("block_id", "")))
        if f is None:
            body.append(f"{text_of(block.get('label'), viewer)}: (not supported in the demo)")
            continue
        value = values.get(f.block_id, f.initial) if values is not None else f.initial
        body += field_lines(f, value, viewer)
        problem = (errors or {}).get(f.block_id)
        if problem:
            body.append(f"      ❌ {problem}")
    lines += [f"┃ {line}" if line else "┃" for line in body]
    buttons = [
        f"[{text_of(view.get(key), viewer)}]"
        for key in ("submit", "close")
        if isinstance(view.get(key), dict)
    ]
    lines.append("┗━ " + "  ".join(buttons))
    return lines


def field_lines(f: InputField, value: object, viewer: Viewer) -> list[str]:
    """One input as ``[n] Label (optional): value``, with its choices and hint."""
    optional = " (optional)" if f.optional and "optional" not in f.label.lower() else ""
    shown = value_text(f, value, viewer)
    if shown == "-" and f.placeholder:
        shown = f"- (e.g. {f.placeholder.removeprefix('e.g. ')})"
    lines = [f"[{f.number}] {f.label}{optional}: {shown}"]
    if f.kind == "file_input":
        lines[0] += "  (no uploads in the demo: paste the IDs instead)"
    for i, choice in enumerate(f.choices, 1):
        extra = f" — {choice.description}" if choice.description else ""
        lines.append(f"      {i}) {choice.label}{extra}")
    if f.hint:
        lines.append(f"      {f.hint}")
    return lines

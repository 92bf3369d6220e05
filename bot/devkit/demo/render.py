"""Block Kit as terminal text, for ``startjobs demo``.

Pure functions: blocks, views and mrkdwn in, lines of text out. Mentions become ``@name``,
channels ``#name``, ``<!date^…>`` a time in the viewer's own timezone, emoji a symbol, and
Slack's ``*bold*``/``_italic_``/`` `code` `` marks are dropped so the words read plainly.
Buttons are numbered ``[1] Approve  [2] Reject`` in the order a person sees them, and so are
the inputs of a modal; :func:`buttons_of` and :func:`input_fields` give what those numbers
stand for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.devkit.sim.slack_validate import STATEFUL_ELEMENTS

JSON = dict[str, Any]

RULE = "─" * 40

# The emoji the bot uses, as the symbols Slack shows; any other stays ``:name:``.
EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "grey_question": "❔",
    "question": "❓",
    "heavy_minus_sign": "➖",
    "warning": "⚠️",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "no_entry": "⛔",
    "no_entry_sign": "🚫",
    "heavy_multiplication_x": "✖️",
    "information_source": "ℹ️",
    "clock3": "🕒",
    "white_circle": "⚪",
    "wastebasket": "🗑️",
    "small_blue_diamond": "🔹",
    "repeat": "🔁",
    "rocket": "🚀",
    "tada": "🎉",
    "mag": "🔍",
    "lock": "🔒",
    "bell": "🔔",
    "memo": "📝",
    "page_facing_up": "📄",
    "calendar": "📆",
    "eyes": "👀",
}

_MARKUP = re.compile(r"<([^<>\n]*)>")
_CODE = re.compile(r"```(.*?)```|`([^`\n]*)`", re.DOTALL)
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)?\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)?_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)?~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
_DATE_TOKEN = re.compile(r"\{([a-z_]+)\}")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


@dataclass(frozen=True)
class Viewer:
    """Who reads: names for ids, and the timezone dates are shown in."""

    names: Mapping[str, str] = field(default_factory=dict)  # user or group id -> name
    channels: Mapping[str, str] = field(default_factory=dict)  # channel id -> name
    tz: str = "UTC"
    now: float = 0.0

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")


# --- mrkdwn ------------------------------------------------------------------------------------


def mrkdwn(text: str, viewer: Viewer) -> str:
    """Slack mrkdwn as the plain words a person reads in the client."""
    pieces: list[str] = []

    def hold(match: re.Match[str]) -> str:
        pieces.append(_markup(match.group(1), viewer))
        return f"\x00{len(pieces) - 1}\x00"

    held = _MARKUP.sub(hold, text)
    out: list[str] = []
    last = 0
    for code in _CODE.finditer(held):
        out.append(_styled(held[last : code.start()]))
        out.append(code.group(1) if code.group(1) is not None else code.group(2))
        last = code.end()
    out.append(_styled(held[last:]))
    joined = unescape("".join(out))
    return _PLACEHOLDER.sub(lambda m: pieces[int(m.group(1))], joined)


def unescape(text: str) -> str:
    """Undo exactly Slack's three escapes (``&lt;`` ``&gt;`` ``&amp;``), nothing else."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emoji(text: str) -> str:
    """``:name:`` replaced by its symbol where it is one the bot uses."""
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _styled(text: str) -> str:
    for pattern in (_BOLD, _ITALIC, _STRIKE):
        text = pattern.sub(lambda m: m.group(1) or "", text)
    return emoji(text)


def _markup(inner: str, viewer: Viewer) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        return "@" + (viewer.names.get(uid) or label or uid)
    if target.startswith("#"):
        cid = target[1:]
        return "#" + (viewer.channels.get(cid) or label or cid)
    if target.startswith("!date^"):
        return _date(target, label, viewer)
    if target.startswith("!subteam^"):
        gid = target.removeprefix("!subteam^")
        return "@" + (viewer.names.get(gid) or label.lstrip("@") or gid)
    if target.startswith("!"):
        return "@" + target[1:]
    return f"{label} ({target})" if label else target


def _date(target: str, fallback: str, viewer: Viewer) -> str:
    parts = target.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1]), viewer.zone)
    except (IndexError, ValueError, OverflowError, OSError):
        return fallback
    fmt = parts[2] if len(parts) > 2 else "{date_num} {time}"
    today = datetime.fromtimestamp(viewer.now, viewer.zone).date() if viewer.now else None
    unknown = False

    def token(match: re.Match[str]) -> str:
        nonlocal unknown
        value = _date_token(match.group(1), moment, today, viewer.now)
        if value is None:
            unknown = True
            return ""
        return value

    shown = _DATE_TOKEN.sub(token, fmt)
    if unknown:
        return unescape(fallback) if fallback else shown
    if "{time" in fmt:
        shown += f" {moment.tzname()}"
    return shown


def _date_token(name: str, moment: datetime, today: date | None, now: float) -> str | None:
    day = moment.day
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    pretty: str | None = None
    if today is not None:
        delta = (moment.date() - today).days
        pretty = {0: "today", -1: "yesterday", 1: "tomorrow"}.get(delta)
    simple = {
        "date_num": moment.strftime("%Y-%m-%d"),
        "date": f"{moment.strftime('%B')} {day}{suffix}, {moment.year}",
        "date_short": f"{moment.strftime('%b')} {day}, {moment.year}",
        "date_long": f"{moment.strftime('%A, %B')} {day}{suffix}, {moment.year}",
        "time": moment.strftime("%H:%M"),
        "time_secs": moment.strftime("%H:%M:%S"),
    }
    if name in simple:
        return simple[name]
    if name in ("date_pretty", "date_short_pretty", "date_long_pretty"):
        return pretty or simple[name.removesuffix("_pretty")]
    if name == "ago" and now:
        return _ago(moment.timestamp() - now)
    return None


def _ago(delta: float) -> str:
    span = timedelta(seconds=abs(round(delta)))
    if span < timedelta(minutes=1):
        words = f"{span.seconds} seconds"
    elif span < timedelta(hours=1):
        words = f"{span.seconds // 60} minutes"
    elif span < timedelta(days=1):
        words = f"{span.seconds // 3600} hours"
    else:
        words = f"{span.days} days"
    return f"in {words}" if delta > 0 else f"{words} ago"


def text_of(obj: object, viewer: Viewer) -> str:
    """A text object (``plain_text`` or ``mrkdwn``) as words; anything else as ``""``."""
    if not isinstance(obj, Mapping):
        return ""
    raw = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(raw, viewer)
    return emoji(raw) if obj.get("emoji", True) else raw


# --- buttons -----------------------------------------------------------------------------------


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


# --- blocks ------------------------------------------------------------------------------------


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


# --- modals ------------------------------------------------------------------------------------


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

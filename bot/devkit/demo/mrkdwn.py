"""Slack's text as the words a person reads, for ``startjobs demo``.

Pure: mrkdwn and text objects in, plain text out. Mentions become ``@name``, channels
``#name``, ``<!date^…>`` a time in the viewer's own timezone (:class:`Viewer`), emoji a
symbol, and Slack's ``*bold*``/``_italic_``/`` `code` `` marks are dropped so the words read
plainly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

"""Safe pieces of Slack mrkdwn.

Slack parses ``<...>`` in message text as mentions, links and special commands (``<!channel>``),
and ``&`` starts an entity. Any text a user or DRS supplied — reasons, comments, job names,
error messages, project names — goes through :func:`escape` (or a function built on it) before
it is put into mrkdwn, so it always renders as the characters that were typed. Only the markup
made here (mentions of validated user ids, dates) is emitted unescaped.

Characters that are invisible or reorder the text around them — bidi controls (U+202A–U+202E,
U+2066–U+2069, U+200E/U+200F, U+061C), zero-width ones (U+200B–U+200D, U+2060, U+FEFF) and
every other Unicode format character, plus the blank Hangul fillers — would let a job name
look like another (``mig-shop-1`` and ``mig-shop\u200b-1``) or show its end first. Both
:func:`escape` and :func:`plain` (so every text shown in a message or a modal) write each of
them as a visible ``[U+202E]`` instead, see :func:`reveal`.
"""

from __future__ import annotations

import re
import unicodedata

from bot.core.text import USER_ID, utc_text

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WHITESPACE = re.compile(r"\s+")
ELLIPSIS = "…"


# Invisible characters that are not format characters (category Cf): fillers that render as
# blank space, and the combining grapheme joiner.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u034f")


def _hidden(ch: str) -> bool:
    return ch in _INVISIBLE or unicodedata.category(ch) == "Cf"


def reveal(text: str) -> str:
    """``text`` with every invisible or reordering character (see the module docstring)
    written as ``[U+XXXX]``; all other characters unchanged. Linear in ``len(text)``."""
    if text.isascii():
        return text
    return "".join(f"[U+{ord(ch):04X}]" if _hidden(ch) else ch for ch in text)


def escape(text: str) -> str:
    """Replace ``&``, ``<`` and ``>`` with their entities (Slack's escaping rules), and reveal
    invisible characters (:func:`reveal`)."""
    return reveal(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Escape ``text`` and cut it so the result is at most ``limit`` characters.

    The cut never splits an entity; a cut text ends with ``…``.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for ch in text:
        piece = _ESCAPES.get(ch) or reveal(ch)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


def inline(text: str, limit: int = 200) -> str:
    """Like :func:`clip`, with every run of whitespace (newlines too) folded to one space.

    For text shown inside a single line: job names, DRS error messages, comments in a list.
    """
    return clip(_WHITESPACE.sub(" ", text).strip(), limit)


def code(text: str, limit: int = 80) -> str:
    """``text`` as an inline code span (ids, statuses, error codes), escaped and one line."""
    folded = _WHITESPACE.sub(" ", text).strip().replace("`", "'")
    return f"`{clip(folded, limit)}`" if folded else "`-`"


def plain(text: str, limit: int) -> str:
    """Text for a ``plain_text`` object: one line, cut, ``-`` if blank; not escaped, but
    invisible characters revealed (:func:`reveal`).

    Slack shows plain_text literally and never parses it for mentions or links.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    folded = reveal(_WHITESPACE.sub(" ", text).strip()) or "-"  # Slack refuses empty text
    return folded if len(folded) <= limit else folded[: limit - 1] + ELLIPSIS


def mention(user_id: str) -> str:
    """``<@U…>`` for a Slack user id; anything not shaped like one is shown escaped, as text."""
    if USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return code(user_id, 40)


def slack_date(epoch_s: float, fmt: str = "{date_short_pretty} {time}") -> str:
    """A time that Slack shows in each reader's own timezone, with a UTC fallback.

    ``fmt`` uses Slack's date tokens (``{date_short_pretty}``, ``{time}``, ``{date_num}``...).
    """
    return f"<!date^{int(epoch_s)}^{fmt}|{utc_text(epoch_s)}>"


def duration(seconds: float) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``2 h 5 min``, ``3 d 4 h``."""
    s = round(abs(seconds))
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def relative(at: float, now: float) -> str:
    """``in 2 h 5 min`` or ``12 min ago`` (``now`` when within a few seconds)."""
    delta = at - now
    if abs(delta) < 5:
        return "now"
    return f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 job``, ``1,000 jobs``."""
    word = singular if n == 1 else (plural if plural is not None else singular + "s")
    return f"{n:,} {word}"

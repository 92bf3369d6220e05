"""Reading a person's typed answer to one modal input, for ``startjobs demo``.

Pure: :func:`read_answer` turns a line into the value Slack's client would submit for that
input (text, an option value, epoch seconds...), or says what is wrong with it the way the
client would (a required input left empty, text too long, a choice that does not exist).
Anything the bot itself validates is left to the bot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.devkit.demo.inputs import InputField

KEEP_WORDS = ("", ".")
CLEAR_WORD = ":clear"
CLOSE_WORD = ":close"
SUBMIT_WORD = ":submit"
EXTERNAL_SELECTS = frozenset({"external_select", "multi_external_select"})
_LABELLED = re.compile(r"\s*(?:\[(\d+)\]|(\d+)|([^=\[\]]+?))\s+=\s+(.*)", re.DOTALL)

_RELATIVE = re.compile(r"\+\s*((?:\d{1,5}\s*[mhd]\s*)+)", re.IGNORECASE)
_RELATIVE_PART = re.compile(r"(\d+)\s*([mhd])", re.IGNORECASE)
_UNITS = {"m": 60, "h": 3600, "d": 86400}
_DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})")


class AnswerError(ValueError):
    """The answer cannot go into this input; the message says what to type instead."""


@dataclass(frozen=True)
class Answer:
    """What to do with a field: ``keep`` its value, or submit ``value`` (None = empty)."""

    keep: bool = False
    value: object = None


def prompt_hint(f: InputField, tz: str) -> str:
    """How to answer ``f``, shown in its prompt."""
    if f.kind in EXTERNAL_SELECTS:
        return "type part of a name to search"
    if f.kind == "datetimepicker":
        return f"YYYY-MM-DD HH:MM in {tz}, or +10m / +2h / +1d"
    if f.kind == "datepicker":
        return "YYYY-MM-DD"
    if f.kind == "timepicker":
        return "HH:MM"
    if f.choices:
        numbers = ", ".join(f"{i} {c.label}" for i, c in enumerate(f.choices, 1))
        return ("numbers, comma-separated: " if f.is_multi else "") + numbers
    return ""


def read_answer(f: InputField, line: str, *, tz: str, now: float, current: object) -> Answer:
    """The answer ``line`` gives to ``f`` whose value is now ``current``.

    An empty line (or a lone ``.``) keeps the value; ``:clear`` empties it. Raises
    :class:`AnswerError` for an answer Slack's client would not accept.
    """
    text = line.strip()
    if text in KEEP_WORDS:
        if not f.optional and _empty(current):
            raise AnswerError("this field is required")
        return Answer(keep=True)
    if text.lower() == CLEAR_WORD:
        if not f.optional:
            raise AnswerError("this field is required")
        return Answer(value=[] if f.is_multi else None)
    if f.is_multi:
        return Answer(value=[_choice(f, part) for part in re.split(r"[,\s]+", text) if part])
    if f.is_choice:
        return Answer(value=_choice(f, text))
    if f.kind == "datetimepicker":
        return Answer(value=parse_when(text, tz=tz, now=now))
    if f.kind == "datepicker":
        try:
            return Answer(value=date.fromisoformat(text).isoformat())
        except ValueError:
            raise AnswerError("give a date as YYYY-MM-DD") from None
    if f.kind == "timepicker":
        try:
            return Answer(value=time.fromisoformat(text).strftime("%H:%M"))
        except ValueError:
            raise AnswerError("give a time as HH:MM") from None
    if f.kind == "number_input":
        try:
            float(text)
        except ValueError:
            raise AnswerError("give a number") from None
    if f.max_length is not None and len(text) > f.max_length:
        raise AnswerError(f"at most {f.max_length} characters (this is {len(text)})")
    if f.min_length is not None and len(text) < f.min_length:
        raise AnswerError(f"at least {f.min_length} characters")
    return Answer(value=text)


def labelled(line: str, fields: Sequence[InputField]) -> tuple[InputField, str] | None:
    """``(field, answer)`` when ``line`` reads ``label = answer`` (or ``3 = answer``) for one
    of ``fields``: a label matches case-insensitively, in full or by its start when only one
    label starts so. None when the line answers the current field."""
    match = _LABELLED.fullmatch(line)
    if match is None:
        return None
    number = match.group(1) or match.group(2)
    if number is not None:
        found = [f for f in fields if f.number == int(number)]
    else:
        name = " ".join(match.group(3).split()).casefold()
        found = [f for f in fields if f.label.casefold() == name]
        if not found:
            found = [f for f in fields if f.label.casefold().startswith(name)]
    return (found[0], match.group(4)) if len(found) == 1 else None


def search_options(answer: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The options in an app's answer to an options request (grouped ones flattened)."""
    if not answer:
        return []
    options = [o for o in answer.get("options") or [] if isinstance(o, dict)]
    for group in answer.get("option_groups") or []:
        if isinstance(group, dict):
            options += [o for o in group.get("options") or [] if isinstance(o, dict)]
    return options


def pick_options(
    options: Sequence[dict[str, Any]], line: str, *, multi: bool
) -> list[dict[str, Any]]:
    """The options ``line`` picks by number (several, comma-separated, when ``multi``)."""
    words = [w for w in re.split(r"[,\s]+", line.strip()) if w]
    if len(words) > 1 and not multi:
        raise AnswerError("pick one number")
    picked: list[dict[str, Any]] = []
    for word in words:
        if not word.isdigit() or not 1 <= int(word) <= len(options):
            raise AnswerError(f"pick numbers from 1 to {len(options)}")
        picked.append(options[int(word) - 1])
    return picked


def _empty(value: object) -> bool:
    return value is None or value == "" or value == []


def _choice(f: InputField, text: str) -> str:
    if text.isdigit() and 1 <= int(text) <= len(f.choices):
        return f.choices[int(text) - 1].value
    for choice in f.choices:
        if text.lower() in (choice.value.lower(), choice.label.lower()):
            return choice.value
    raise AnswerError(f"choose a number from 1 to {len(f.choices)}")


def parse_when(text: str, *, tz: str, now: float) -> int:
    """Epoch seconds of ``YYYY-MM-DD HH:MM`` read in ``tz``, or of ``+10m``/``+2h``/``+1d``
    from ``now`` (rounded down to the minute, as Slack's picker has no seconds)."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative is not None:
        seconds = sum(
            int(n) * _UNITS[unit.lower()] for n, unit in _RELATIVE_PART.findall(relative.group(1))
        )
        return int((now + seconds) // 60 * 60)
    absolute = _DATETIME.fullmatch(text.strip())
    if absolute is None:
        raise AnswerError(f"give the time as YYYY-MM-DD HH:MM (in {tz}) or as +10m, +2h, +1d")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    year, month, day, hour, minute = (int(g) for g in absolute.groups())
    try:
        moment = datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError as exc:
        raise AnswerError(f"not a real date or time: {exc}") from None
    # A wall time that a clock change skips does not survive a round trip through UTC.
    back = datetime.fromtimestamp(moment.timestamp(), zone)
    if (back.hour, back.minute) != (hour, minute):
        raise AnswerError(f"{hour:02d}:{minute:02d} does not exist on that day in {tz}")
    return int(moment.timestamp())

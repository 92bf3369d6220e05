"""The ``/startjobs`` slash command's text, read into one value.

Grammar (words are case-insensitive, Slack's ``&amp; &lt; &gt;`` escapes are undone first)::

    (empty)                                   open the request modal, nothing filled in
    help                                      usage
    history                                   recent requests
    freezes                                   change-freeze windows, now and next
    status <request ID or job IDs>            where a request or some jobs stand
    [project] [job ID ...] [options] [at <time>]
                                              open the request modal, prefilled

    options:  --name <pattern>   select the project's jobs by name (``*`` wildcards)
              --status <STATUS>  select the project's jobs in this DRS status
              --type migration|sync|cloudDataGuard   select by job type

The first word is a project name when it is not a job ID. ``at`` starts the time: everything
after it is the time text, read later in the person's timezone by :mod:`bot.core.times`.
Quoting follows the shell (``'...'``, ``"..."``, backslash); typographic quotes count as plain
ones, since chat clients often substitute them.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.jobids import JOB_ID_RE
from bot.core.status import KNOWN_STATUSES

PROJECT_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
"""What a project name looks like (also enforced by the policy loader)."""

RESERVED_WORDS = frozenset({"help", "history", "status", "at", "freezes"})
"""Words the grammar claims, so they cannot be project names."""

DB_USE_TYPES = ("migration", "sync", "cloudDataGuard")

SUBCOMMANDS = ("help", "history", "status", "freezes")
"""The first words that are not a project name or a job ID."""

USAGE = (
    "Usage: `/startjobs` opens the request form; "
    "`/startjobs [project] <job IDs> [at <time>]` opens it prefilled; "
    "`/startjobs [project] --name 'mig-shop-*' [--status CONFIGURATION] "
    "[--type migration|sync|cloudDataGuard]` selects jobs by name; "
    "`/startjobs status <request ID or job IDs>`; `/startjobs history`; `/startjobs freezes`; "
    "`/startjobs help`."
)

_OPTIONS = ("--name", "--status", "--type")
_UNESCAPE = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
_STATUS_WORD = re.compile(r"\A[A-Z_]{1,64}\Z")
_HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
_MAX_TEXT = 100_000


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class History:
    pass


@dataclass(frozen=True, slots=True)
class Freezes:
    """The change-freeze windows of the asker's projects: open now, and their next opening."""


@dataclass(frozen=True, slots=True)
class Status:
    """``args``: the words after ``status`` (a request ID or job IDs), commas split too."""

    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Start:
    """Open the request modal with these values filled in (None / empty = not given).

    ``job_text`` is the job IDs as typed, blank-separated, for
    :func:`bot.core.jobids.parse_job_ids`; ``time_text`` the text after ``at`` for
    :func:`bot.core.times.parse_start_time`.
    Explicit job IDs and the ``--name``/``--status``/``--type`` selection never come together.
    ``status_filter`` is an upper-case DRS status; ``db_use_type`` one of :data:`DB_USE_TYPES`.
    """

    project: str | None = None
    job_text: str = ""
    time_text: str | None = None
    name_pattern: str | None = None
    status_filter: str | None = None
    db_use_type: str | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """The text could not be read; ``message`` says what is wrong and how to write it."""

    message: str


Command = Help | History | Status | Start | Invalid | Freezes


def unescape_slack(text: str) -> str:
    """Undo Slack's ``&amp; &lt; &gt;`` escaping in one pass (``&amp;lt;`` becomes ``&lt;``)."""
    return _UNESCAPE.sub(lambda m: _ENTITIES[m.group(1)], text)


def parse_command(text: str) -> Command:
    """Read the slash command's text. Never raises: bad input gives :class:`Invalid`."""
    if len(text) > _MAX_TEXT:
        return Invalid(f"The command is too long ({len(text)} characters). {USAGE}")
    text = unescape_slack(text).translate(_QUOTES).strip()
    if not text:
        return Start()
    if text.split(None, 1)[0].lower() in _HELP_WORDS:
        return Help()
    try:
        words = shlex.split(text)
    except ValueError as exc:
        return Invalid(f"Cannot read the command: {_shlex_reason(exc)}. {USAGE}")
    if not words:
        return Start()
    keyword = words[0].lower()
    if keyword == "history":
        if len(words) > 1:
            return Invalid("`history` takes nothing after it: `/startjobs history`.")
        return History()
    if keyword == "freezes":
        if len(words) > 1:
            return Invalid("`freezes` takes nothing after it: `/startjobs freezes`.")
        return Freezes()
    if keyword == "status":
        args = tuple(a for word in words[1:] for a in re.split(r"[,;]+", word) if a)
        if not args:
            return Invalid(
                "`status` needs a request ID or job IDs: `/startjobs status <request ID>` "
                "or `/startjobs status <job ID> <job ID> ...`."
            )
        return Status(args)
    return _parse_start(words)


def is_project_word(word: str) -> bool:
    """True when ``word`` can only be meant as a project name (not a job ID, not a keyword)."""
    return (
        bool(PROJECT_NAME_RE.match(word))
        and word.lower() not in RESERVED_WORDS
        and not JOB_ID_RE.match(word.lower())
    )


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` that ``word`` is most likely a typo of (case ignored), or None
    when none is close: ``histroy`` gives ``history``, ``prdo`` gives ``prod``."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.7)
    return by_lower[found[0]] if found else None


def _parse_start(words: list[str]) -> Command:
    options: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            name = name.lower()
            if name not in _OPTIONS:
                known = ", ".join(_OPTIONS)
                return Invalid(f"Unknown option `{_short(name)}`; known options: {known}.")
            if name in options:
                return Invalid(f"`{name}` is given twice: give it once.")
            if not eq:
                if i + 1 >= len(words) or words[i + 1].startswith("--"):
                    return Invalid(f"`{name}` needs a value, e.g. {_example(name)}.")
                i += 1
                value = words[i]
            if not value.strip():
                return Invalid(f"`{name}` needs a value, e.g. {_example(name)}.")
            options[name] = value.strip()
        else:
            positional.append(word)
        i += 1

    time_text: str | None = None
    lowered = [w.lower() for w in positional]
    if "at" in lowered:
        cut = lowered.index("at")
        time_text = " ".join(positional[cut + 1 :]).strip()
        positional = positional[:cut]
        if not time_text:
            return Invalid("`at` needs a time after it, e.g. `at 2026-12-01 10:00` or `at +2h`.")

    project: str | None = None
    if positional and is_project_word(positional[0]):
        project = positional.pop(0)
    job_text = " ".join(positional)

    status_filter = options.get("--status")
    if status_filter is not None:
        status_filter = status_filter.upper()
        if not _STATUS_WORD.match(status_filter) or status_filter not in KNOWN_STATUSES:
            return Invalid(
                f"`--status {_short(status_filter)}` is not a DRS task status; "
                "e.g. `--status CONFIGURATION`."
            )
    db_use_type = options.get("--type")
    if db_use_type is not None:
        canonical = {t.lower(): t for t in DB_USE_TYPES}.get(db_use_type.lower())
        if canonical is None:
            return Invalid(
                f"`--type {_short(db_use_type)}` is not a job type; "
                f"use one of {', '.join(DB_USE_TYPES)}."
            )
        db_use_type = canonical
    if job_text and options:
        return Invalid("Give either job IDs or a selection (--name, --status, --type), not both.")
    return Start(
        project=project,
        job_text=job_text,
        time_text=time_text,
        name_pattern=options.get("--name"),
        status_filter=status_filter,
        db_use_type=db_use_type,
    )


def _shlex_reason(exc: ValueError) -> str:
    reason = str(exc).lower()
    if "quotation" in reason:
        return "a quote is not closed (check the ' and \" around the --name pattern)"
    if "escape" in reason:
        return "it ends with a lone backslash"
    return reason


def _example(option: str) -> str:
    return {
        "--name": "`--name 'mig-shop-*'`",
        "--status": "`--status CONFIGURATION`",
        "--type": "`--type migration`",
    }[option]


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"

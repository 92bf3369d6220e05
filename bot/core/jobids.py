"""Reading DRS job IDs out of text people paste.

A DRS job ID has the 8-4-4-4-12 shape of a UUID but is not hexadecimal: the last group often ends
in letters (``9a470239-2308-4bb5-a6bc-1040402fjb21``). IDs are lower-case; upper-case input is
accepted and normalised to lower-case, since a spreadsheet or a shouting paste is the only way an
upper-case ID arises.

Accepted input: IDs separated by newlines, commas, semicolons or any blanks, each optionally
wrapped in quotes or backticks; a leading ``job_id`` header is ignored; and a CSV table whose
header row has a ``job_id`` column (such as the table the bot itself attaches) is read by that
column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

JOB_ID_PATTERN = (
    r"(?<![0-9a-z-])[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}(?![0-9a-z-])"
)
"""The unanchored job ID pattern, for searching text: it finds IDs not glued to more letters,
digits or dashes (so no 12-character piece of a longer group)."""

JOB_ID_RE = re.compile(rf"\A{JOB_ID_PATTERN}\Z")
"""Matches a whole string that is exactly one (lower-case) job ID; ``match`` == ``fullmatch``."""

EXAMPLE_JOB_ID = "9a470239-2308-4bb5-a6bc-1040402fjb21"

NOT_A_JOB_ID = "not a job ID: expected 8-4-4-4-12 letters/digits"

HEADER = "job_id"

# Blanks (including non-breaking and zero-width spaces, and a byte-order mark from a CSV export),
# commas and semicolons all separate IDs.
_SEPARATORS = re.compile(r"[\s,;\u200b\u200c\u200d\u2060\ufeff]+")
_WRAPPERS = "\"'`“”‘’"
_GROUP_LENGTHS = (8, 4, 4, 4, 12)
_SHOWN_TOKEN = 48  # longest token quoted back in a message
_SHOWN_INVALID = 5  # invalid tokens named in problems()


@dataclass(frozen=True, slots=True)
class JobIdParse:
    """The result of :func:`parse_job_ids`.

    ``ids`` holds every valid ID once, lower-case, in order of first appearance; each matches
    :data:`JOB_ID_RE`. ``duplicates`` lists (once each) the IDs that appeared more than once.
    ``invalid`` pairs each distinct rejected token with the reason. ``too_many`` says ``ids`` is
    longer than the allowed maximum (``ids`` is not truncated).
    """

    ids: tuple[str, ...]
    duplicates: tuple[str, ...]
    invalid: tuple[tuple[str, str], ...]
    too_many: bool
    max_jobs: int

    @property
    def ok(self) -> bool:
        """At least one ID, none invalid, not too many: the IDs may be used as they are."""
        return bool(self.ids) and not self.invalid and not self.too_many

    def problems(self) -> list[str]:
        """Messages for people, each saying what to fix; empty exactly when :attr:`ok`.

        Duplicates are not a problem (they are collapsed).
        """
        found: list[str] = []
        if not self.ids and not self.invalid:
            found.append(f"no job IDs given: paste one or more, e.g. {EXAMPLE_JOB_ID}")
        if self.invalid:
            shown = "; ".join(
                f"{_shorten(token)!r} ({why})" for token, why in self.invalid[:_SHOWN_INVALID]
            )
            more = len(self.invalid) - _SHOWN_INVALID
            tail = f"; and {more} more" if more > 0 else ""
            what = "entry is not a job ID" if len(self.invalid) == 1 else "entries are not job IDs"
            found.append(f"{len(self.invalid)} {what}, fix or remove: {shown}{tail}")
        if self.too_many:
            found.append(
                f"{len(self.ids)} job IDs given, at most {self.max_jobs} per request: "
                "split them into several requests"
            )
        return found


def parse_job_ids(text: str, *, max_jobs: int) -> JobIdParse:
    """Read job IDs from ``text`` (see the module docstring for what is accepted).

    Never raises for any ``text``; ``max_jobs`` must be positive.
    """
    if max_jobs < 1:
        raise ValueError("max_jobs must be at least 1")
    tokens = _csv_column(text)
    if tokens is None:
        tokens = [t for t in _SEPARATORS.split(text) if t]
        if tokens and _unwrap(tokens[0]).lower() == HEADER:
            tokens = tokens[1:]
    return _collect(tokens, max_jobs)


def job_id_problem(token: str) -> str | None:
    """Why ``token`` (already lower-cased and unwrapped) is not a job ID, or None if it is one."""
    if JOB_ID_RE.match(token):
        return None
    if re.search(JOB_ID_PATTERN, token):
        return "has other text around a job ID: keep only the ID"
    groups = token.split("-")
    if len(groups) == len(_GROUP_LENGTHS) and all(g.isascii() and g.isalnum() for g in groups):
        got = "-".join(str(len(g)) for g in groups)
        return f"{NOT_A_JOB_ID}, got {got}"
    if any(not (c.isascii() and (c.isalnum() or c == "-")) for c in token):
        return f"{NOT_A_JOB_ID}, and only letters, digits and '-' may appear"
    return NOT_A_JOB_ID


def _collect(tokens: Iterable[str], max_jobs: int) -> JobIdParse:
    seen: dict[str, None] = {}
    duplicates: dict[str, None] = {}
    invalid: dict[str, str] = {}
    for raw in tokens:
        token = _unwrap(raw).lower()
        if not token:
            continue
        why = job_id_problem(token)
        if why is not None:
            invalid.setdefault(_unwrap(raw), why)
        elif token in seen:
            duplicates[token] = None
        else:
            seen[token] = None
    return JobIdParse(
        ids=tuple(seen),
        duplicates=tuple(duplicates),
        invalid=tuple(invalid.items()),
        too_many=len(seen) > max_jobs,
        max_jobs=max_jobs,
    )


def _csv_column(text: str) -> list[str] | None:
    """The ``job_id`` column of ``text`` if it is a CSV table with that header, else None."""
    stripped = text.lstrip("\ufeff \t\r\n")
    first_line = stripped.split("\n", 1)[0]
    delimiter = next((d for d in ",;\t" if d in first_line), None)
    if delimiter is None:
        return None
    try:
        rows = list(csv.reader(io.StringIO(stripped), delimiter=delimiter))
    except csv.Error:
        return None
    if len(rows) < 2:
        return None
    header = [_unwrap(cell).lower() for cell in rows[0]]
    # A first line that holds job IDs is data, not a header: "job_id, <id>, <id>" is a list.
    if HEADER not in header or any(JOB_ID_RE.match(cell) for cell in header):
        return None
    column = header.index(HEADER)
    return [row[column].strip() for row in rows[1:] if len(row) > column]


def _unwrap(token: str) -> str:
    return token.strip().strip(_WRAPPERS).strip()


def _shorten(token: str) -> str:
    return token if len(token) <= _SHOWN_TOKEN else token[: _SHOWN_TOKEN - 1] + "…"

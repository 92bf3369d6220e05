"""Choosing the jobs of a request by name: the selection as typed, checked, and resolved.

Pure: values in, values out, no I/O.

:func:`read_selection` checks a name pattern (``*`` any run of characters, ``?`` one character,
everything else literal, matched case-sensitively against the whole DRS task name by
:func:`~bot.core.wildcard.glob_match`), an optional DRS status and an optional job type.
:meth:`Selection.drs_name` is the pattern's literal prefix, safe to give DRS's job-list ``name``
filter: whether DRS reads that filter as a prefix or as a substring, every job the pattern
matches is in DRS's answer, and :func:`resolve` then keeps exactly the matching ones.
:func:`merge_ids` joins the IDs chosen in several ways into one list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.core.command import DB_USE_TYPES
from bot.core.model import JobInfo
from bot.core.status import KNOWN_STATUSES, is_startable
from bot.core.wildcard import glob_match

PATTERN_MAX = 200
"""Longest name pattern accepted (the modal's input allows as much)."""

DRS_NAME_MAX = 64
"""Longest literal prefix sent as DRS's ``name`` filter; a shorter prefix only widens the
answer, which :func:`resolve` narrows again."""

Field = Literal["pattern", "status", "type"]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which of a project's jobs to take: name pattern, and optionally status and job type.

    ``status`` is an upper-case DRS status or None (any); ``db_use_type`` one of
    :data:`~bot.core.command.DB_USE_TYPES` or None (every type).
    """

    pattern: str
    status: str | None = None
    db_use_type: str | None = None

    @property
    def drs_name(self) -> str | None:
        """The pattern's literal prefix for DRS's ``name`` filter, or None (list them all)."""
        prefix = re.split(r"[*?]", self.pattern, maxsplit=1)[0]
        return prefix[:DRS_NAME_MAX] or None

    @property
    def db_use_types(self) -> tuple[str, ...]:
        """The job types to list: DRS lists one type per query."""
        return (self.db_use_type,) if self.db_use_type else DB_USE_TYPES

    def matches(self, info: JobInfo) -> bool:
        """True when DRS's description of a job fits every part of the selection."""
        if info.name is None or not glob_match(self.pattern, info.name):
            return False
        if self.status is not None and (info.status or "").upper() != self.status:
            return False
        return self.db_use_type is None or info.db_use_type in (None, self.db_use_type)

    def describe(self) -> str:
        """Plain text, e.g. ``name mig-shop-* · status CONFIGURATION · any type``."""
        status = f"status {self.status}" if self.status else "any status"
        kind = f"type {self.db_use_type}" if self.db_use_type else "any type"
        return f"name {self.pattern} · {status} · {kind}"


@dataclass(frozen=True, slots=True)
class SelectionProblem:
    """Why a selection cannot be used; ``field`` says which input to mark."""

    field: Field
    message: str


def read_selection(
    pattern: str | None, status: str | None = None, db_use_type: str | None = None
) -> Selection | SelectionProblem | None:
    """Check a selection's parts as typed; None when no pattern is given (nothing selected).

    Status and type are matched case-insensitively and normalised; blanks mean "any".
    """
    text = (pattern or "").strip()
    if not text:
        return None
    if len(text) > PATTERN_MAX:
        return SelectionProblem(
            "pattern", f"The name pattern is {len(text)} characters; at most {PATTERN_MAX}."
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return SelectionProblem("pattern", "The name pattern holds control characters.")
    wanted_status = (status or "").strip().upper() or None
    if wanted_status is not None and wanted_status not in KNOWN_STATUSES:
        return SelectionProblem(
            "status",
            f"{_short(wanted_status)!r} is not a DRS task status; e.g. CONFIGURATION, "
            "or leave it empty for any status.",
        )
    wanted_type = (db_use_type or "").strip() or None
    if wanted_type is not None:
        canonical = {t.lower(): t for t in DB_USE_TYPES}.get(wanted_type.lower())
        if canonical is None:
            return SelectionProblem(
                "type",
                f"{_short(wanted_type)!r} is not a job type; use one of {', '.join(DB_USE_TYPES)}.",
            )
        wanted_type = canonical
    return Selection(text, wanted_status, wanted_type)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The jobs a selection matched, de-duplicated and sorted by name then ID.

    ``complete`` is False when the listing was cut short (DRS listed more jobs than the scan
    reads); the match may then be larger than ``jobs``, and it is refused.
    """

    selection: Selection
    jobs: tuple[JobInfo, ...]
    max_jobs: int
    complete: bool = True

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(j.job_id for j in self.jobs)

    @property
    def too_many(self) -> bool:
        return len(self.jobs) > self.max_jobs

    @property
    def not_startable(self) -> int:
        return sum(1 for j in self.jobs if not is_startable(j.status))

    def problem(self, project: str) -> str | None:
        """Why the match cannot become a request (none, or too many), else None."""
        what = self.selection.describe()
        if self.too_many:
            count = f"{len(self.jobs):,}" if self.complete else f"More than {self.max_jobs:,}"
            return (
                f"{count} jobs in {project} match {what}; at most {self.max_jobs:,} per "
                "request. Narrow the pattern or the status, or split the wave."
            )
        if not self.complete:
            return (
                f"Too many jobs in {project} have names starting like {self.selection.pattern!r} "
                "to check them all: make the part before the first * longer."
            )
        if not self.jobs:
            return (
                f"No job in {project} matches {what}. Names are matched in full and "
                "case-sensitively (use * for any characters); check the pattern and the status."
            )
        return None


def resolve(
    selection: Selection, listed: Iterable[JobInfo], *, max_jobs: int, complete: bool = True
) -> Resolved:
    """Keep the listed jobs that match ``selection``, each once, sorted by name then ID.

    ``complete`` False says the listing was cut short (see :class:`Resolved`).
    """
    seen: dict[str, JobInfo] = {}
    for info in listed:
        if info.job_id not in seen and selection.matches(info):
            seen[info.job_id] = info
    ordered = sorted(seen.values(), key=lambda i: (i.name or "", i.job_id))
    return Resolved(selection, tuple(ordered), max_jobs, complete)


def merge_ids(*sources: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """The union of ID lists in order of first appearance, and how many repeats were dropped."""
    merged: dict[str, None] = {}
    repeats = 0
    for source in sources:
        for job_id in source:
            if job_id in merged:
                repeats += 1
            else:
                merged[job_id] = None
    return tuple(merged), repeats


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"

"""Choosing the jobs of a request without typing their IDs: by name, and from a file.

Pure: values in, values out, no I/O.

*Select by name.* :func:`read_selection` checks a name pattern (``*`` any run of characters,
``?`` one character, everything else literal, matched case-sensitively against the whole DRS
task name by :func:`glob_match`, in time linear in pattern x name whatever is typed), an
optional DRS status and an optional job type. :meth:`Selection.drs_name` is the
pattern's literal prefix, safe to give DRS's job-list ``name`` filter: whether DRS reads that
filter as a prefix or as a substring, every job the pattern matches is in DRS's answer, and
:func:`resolve` then keeps exactly the matching ones.

*A file of IDs.* :func:`parse_id_file` reads an uploaded text or CSV file: one job ID per line
(blank lines and ``#`` comments skipped, a ``job_id`` header line allowed), or a table whose
header names a ``job_id`` column (the table the bot attaches to a request's thread is one).
Every problem names its line, so people can fix the file.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.core.command import DB_USE_TYPES
from bot.core.jobids import HEADER, JOB_ID_RE, job_id_problem
from bot.core.model import JobInfo
from bot.core.spreadsheet import safe_cell
from bot.core.status import KNOWN_STATUSES, is_startable

PATTERN_MAX = 200
"""Longest name pattern accepted (the modal's input allows as much)."""

DRS_NAME_MAX = 64
"""Longest literal prefix sent as DRS's ``name`` filter; a shorter prefix only widens the
answer, which :func:`resolve` narrows again."""

MAX_FILE_BYTES = 1024 * 1024
"""Largest uploaded list read (1 MiB holds over 27,000 job IDs, far beyond any request)."""

SHOWN_PROBLEMS = 5

Field = Literal["pattern", "status", "type"]


# --- select by name ----------------------------------------------------------------------------


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


def glob_match(pattern: str, name: str) -> bool:
    """True when ``pattern`` matches the whole of ``name`` (``*`` any run of characters, line
    breaks included; ``?`` exactly one character; everything else literal, case-sensitive).

    Costs at most O(len(pattern) x len(name)) whatever the pattern: no backtracking. A run of
    wildcards is first reduced to its ``?``s and at most one ``*`` (``*?*?`` is ``??*``); the
    pieces between stars hold only literals and ``?``, so each has one fixed length. The first
    piece must match at the start, the last at the end, and each piece in between is taken at
    its leftmost place after the previous one: taking a later place could only leave less room
    for the rest, so if the leftmost choice fails, every choice fails.
    """
    glob = _compile_glob(pattern)
    if glob.tail is None:  # no star: the name is exactly one piece
        return len(name) == glob.head.size and glob.head.at(name, 0)
    start, end = glob.head.size, len(name) - glob.tail.size
    if end < start or not glob.head.at(name, 0) or not glob.tail.at(name, end):
        return False
    for piece in glob.middle:
        found = piece.find(name, start, end)
        if found < 0:
            return False
        start = found + piece.size
    return True


@dataclass(frozen=True, slots=True)
class _Piece:
    """Literal characters and ``?``s between two stars: a fixed number of characters."""

    text: str
    regex: re.Pattern[str] | None  # None: no ``?``, plain string search suffices

    @property
    def size(self) -> int:
        return len(self.text)

    def at(self, name: str, pos: int) -> bool:
        """Does the piece match ``name`` exactly at ``pos``?"""
        if self.regex is None:
            return name.startswith(self.text, pos)
        return self.regex.match(name, pos) is not None

    def find(self, name: str, start: int, end: int) -> int:
        """The leftmost place in ``name[start:end]`` where the piece matches, or -1.

        The piece's regex has no quantifier and no alternation (literals and ``.``), so one
        attempt costs at most its length: a search is O(size x (end - start)).
        """
        if self.regex is None:
            return name.find(self.text, start, end)
        found = self.regex.search(name, start, end)
        return -1 if found is None else found.start()


@dataclass(frozen=True, slots=True)
class _Glob:
    head: _Piece
    middle: tuple[_Piece, ...]
    tail: _Piece | None  # None: the pattern has no star


def _piece(text: str) -> _Piece:
    if "?" not in text:
        return _Piece(text, None)
    regex = "".join("." if c == "?" else re.escape(c) for c in text)
    return _Piece(text, re.compile(regex, re.DOTALL))


@functools.lru_cache(maxsize=64)
def _compile_glob(pattern: str) -> _Glob:
    parts = _reduce_wildcards(pattern).split("*")
    if len(parts) == 1:
        return _Glob(_piece(parts[0]), (), None)
    middle = tuple(_piece(p) for p in parts[1:-1] if p)
    return _Glob(_piece(parts[0]), middle, _piece(parts[-1]))


def _reduce_wildcards(pattern: str) -> str:
    """``pattern`` with each run of wildcards written as its ``?``s, then one ``*`` if the run
    holds any (the same matches: a star next to a ``?`` may as well come after it)."""
    out: list[str] = []
    run_q, run_star = 0, False
    for c in pattern:
        if c == "?":
            run_q += 1
        elif c == "*":
            run_star = True
        else:
            out.append("?" * run_q + ("*" if run_star else "") + c)
            run_q, run_star = 0, False
    out.append("?" * run_q + ("*" if run_star else ""))
    return "".join(out)


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


# --- a file of IDs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineProblem:
    """One entry of an uploaded list that is not a job ID (``line`` counts from 1)."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        if not self.text:
            return f"line {self.line}: {self.reason}"
        shown = self.text if len(self.text) <= 48 else self.text[:47] + "…"
        reason = self.reason if self.reason.startswith("has ") else f"is {self.reason}"
        return f"line {self.line}: {shown!r} {reason}"


@dataclass(frozen=True, slots=True)
class IdFile:
    """An uploaded list, read. Usable exactly when :attr:`ok`.

    ``fatal`` is a problem with the file as a whole (too large, not text, a table without a
    ``job_id`` column, no IDs at all); ``problems`` are entries that are not job IDs, by line.
    ``ids`` holds every valid ID once, lower-case, in file order; ``repeats`` counts the
    repeated ones dropped.
    """

    ids: tuple[str, ...]
    problems: tuple[LineProblem, ...] = ()
    fatal: str | None = None
    repeats: int = 0
    max_jobs: int = 0

    @property
    def too_many(self) -> bool:
        return len(self.ids) > self.max_jobs

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.problems and not self.too_many and bool(self.ids)

    def message(self, name: str = "the file") -> str | None:
        """What to tell the uploader, or None when :attr:`ok`."""
        if self.fatal is not None:
            return f"{name}: {self.fatal}"
        if self.problems:
            shown = "; ".join(str(p) for p in self.problems[:SHOWN_PROBLEMS])
            more = len(self.problems) - SHOWN_PROBLEMS
            tail = f"; and {more:,} more" if more > 0 else ""
            what = (
                "1 line is not a job ID, fix or remove it"
                if len(self.problems) == 1
                else f"{len(self.problems):,} lines are not job IDs, fix or remove them"
            )
            return f"{name}: {what}: {shown}{tail}."
        if self.too_many:
            return (
                f"{name} lists {len(self.ids):,} job IDs; at most {self.max_jobs:,} per request: "
                "split it into several requests."
            )
        if not self.ids:
            return f"{name} holds no job IDs."
        return None


# Formats that are certainly not text, by their first bytes: people upload the spreadsheet
# instead of a CSV export more often than anything else.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive or an .xlsx/.docx document"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls/.doc)"),
    (b"%PDF", "a PDF"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
)
_NOT_TEXT = (
    "this is not a text file{what}: save the list as CSV or plain text (UTF-8) and upload that"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SEPARATORS = re.compile(r"[\s,;\u200b\u200c\u200d\u2060\ufeff]+")
_DELIMITERS = (",", ";", "\t")
_WRAPPERS = "\"'`“”‘’"
_ID_HEADERS = ("jobid", "id")  # header cells, lower-case with blanks, '_' and '-' removed


def parse_id_file(data: bytes, *, max_jobs: int, max_bytes: int = MAX_FILE_BYTES) -> IdFile:
    """Read an uploaded list of job IDs (see the module docstring). Never raises."""
    if len(data) > max_bytes:
        return IdFile((), fatal=_too_large(len(data), max_bytes), max_jobs=max_jobs)
    text = _decode(data)
    if isinstance(text, _Binary):
        return IdFile((), fatal=text.reason, max_jobs=max_jobs)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip() and not _comment(line)), None)
    if first is None:
        return IdFile((), fatal="the file is empty: it holds no job IDs", max_jobs=max_jobs)
    delimiter = _delimiter(lines[first])
    if delimiter is not None:
        header = [_unwrap(c) for c in _cells(lines[first], delimiter)]
        if not any(JOB_ID_RE.match(c.lower()) for c in header):
            return _read_table(lines, first, header, delimiter, max_jobs)
        if not all(JOB_ID_RE.match(c.lower()) for c in header if c):
            return IdFile(
                (),
                fatal=(
                    f"line {first + 1} has several columns but the file has no header row: add "
                    "one that names the column of job IDs job_id"
                ),
                max_jobs=max_jobs,
            )
    return _read_list(lines, max_jobs)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the file is {size / 1024:,.0f} KiB; at most {limit / 1024:,.0f} KiB is read. "
        "Split it into several requests"
    )


@dataclass(frozen=True, slots=True)
class _Binary:
    reason: str


def _decode(data: bytes) -> str | _Binary:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return _Binary(_NOT_TEXT.format(what=f" (it looks like {what})"))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return _Binary(_NOT_TEXT.format(what=""))
    elif b"\x00" in data:
        return _Binary(_NOT_TEXT.format(what=""))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Another 8-bit encoding (a spreadsheet export in a local code page): job IDs are
            # ASCII, so the text is usable when it is mostly ASCII; only other cells suffer.
            ascii_share = sum(1 for b in data if b < 128) / len(data)
            if ascii_share < 0.9:
                return _Binary(_NOT_TEXT.format(what=" (it is not UTF-8 text)"))
            text = data.decode("utf-8", errors="replace")
    if len(_CONTROL.findall(text[:65536])) > max(2, len(text[:65536]) // 100):
        return _Binary(_NOT_TEXT.format(what=""))
    return text


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _delimiter(line: str) -> str | None:
    counts = [(line.count(d), d) for d in _DELIMITERS if d in line]
    if not counts:
        return None
    return max(counts, key=lambda c: c[0])[1]


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _unwrap(token: str) -> str:
    return token.strip().strip(_WRAPPERS).strip()


def _header_key(cell: str) -> str:
    return re.sub(r"[\s_\-]+", "", cell.lower())


def _read_table(
    lines: Sequence[str], first: int, header: list[str], delimiter: str, max_jobs: int
) -> IdFile:
    keys = [_header_key(c) for c in header]
    column = next((keys.index(k) for k in _ID_HEADERS if k in keys), None)
    if column is None:
        shown = ", ".join(repr(c) for c in header[:6] if c) or "empty"
        more = " …" if len(header) > 6 else ""
        return IdFile(
            (),
            fatal=(
                f"the table has no {HEADER} column (its header on line {first + 1} is: "
                f"{shown}{more}); name the column of job IDs {HEADER}"
            ),
            max_jobs=max_jobs,
        )
    body = "\n".join(lines[first + 1 :])
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    found: list[tuple[int, str]] = []
    problems: list[LineProblem] = []
    try:
        for row in reader:
            line_no = first + 1 + reader.line_num
            if not any(cell.strip() for cell in row) or _comment(row[0] if row else ""):
                continue
            cell = _unwrap(row[column]) if len(row) > column else ""
            if not cell:
                problems.append(LineProblem(line_no, "", f"no value in the {HEADER} column"))
                continue
            found.append((line_no, cell))
    except csv.Error as exc:
        problems.append(LineProblem(first + 1 + reader.line_num, "", f"unreadable CSV: {exc}"))
    return _collect(found, problems, max_jobs)


def _read_list(lines: Sequence[str], max_jobs: int) -> IdFile:
    found: list[tuple[int, str]] = []
    header_seen = False
    for number, line in enumerate(lines, start=1):
        if _comment(line):
            continue
        for raw in _SEPARATORS.split(line):
            token = _unwrap(raw)
            if not token:
                continue
            if not found and not header_seen and token.lower() == HEADER:
                header_seen = True
                continue
            found.append((number, token))
    return _collect(found, [], max_jobs)


def _collect(
    found: Iterable[tuple[int, str]], problems: list[LineProblem], max_jobs: int
) -> IdFile:
    ids: dict[str, None] = {}
    repeats = 0
    for line_no, token in found:
        job_id = token.lower()
        why = job_id_problem(job_id)
        if why is not None:
            problems.append(LineProblem(line_no, token, why))
        elif job_id in ids:
            repeats += 1
        else:
            ids[job_id] = None
    problems.sort(key=lambda p: p.line)
    return IdFile(tuple(ids), tuple(problems), repeats=repeats, max_jobs=max_jobs)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"


# --- the frozen list as a table ------------------------------------------------------------------

LIST_CSV_HEADER = ("job_id", "name", "status_when_requested", "prepaid")


@dataclass(frozen=True, slots=True)
class ListedJob:
    """A row of :func:`frozen_list_csv`."""

    job_id: str
    name: str | None = None
    status: str | None = None
    prepaid: bool = False


def frozen_list_csv(jobs: Iterable[ListedJob]) -> str:
    """The jobs of a request as a CSV table (``\\r\\n`` line ends, header
    :data:`LIST_CSV_HEADER`). Its ``job_id`` column makes it a valid upload for a new request;
    the text cells go through :func:`~bot.core.spreadsheet.safe_cell`, so no spreadsheet runs
    them as formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(LIST_CSV_HEADER)
    for job in jobs:
        writer.writerow(
            (
                job.job_id,
                safe_cell(job.name),
                safe_cell(job.status) or "not found",
                "yes" if job.prepaid else "no",
            )
        )
    return out.getvalue()

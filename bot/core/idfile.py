"""Lists of job IDs as files: an uploaded list read, and a request's frozen list written.

Pure: values in, values out, no I/O.

:func:`parse_id_file` reads an uploaded text or CSV file: one job ID per line (blank lines and
``#`` comments skipped, a ``job_id`` header line allowed), or a table whose header names a
``job_id`` column. Every problem names its line, so people can fix the file.
:func:`frozen_list_csv` writes the jobs of a request as such a table (the one the bot attaches
to a request's thread), so that it reads back as an upload for a new request.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.jobids import HEADER, JOB_ID_RE, job_id_problem
from bot.core.spreadsheet import safe_cell

MAX_FILE_BYTES = 1024 * 1024
"""Largest uploaded list read (1 MiB holds over 27,000 job IDs, far beyond any request)."""

SHOWN_PROBLEMS = 5


# --- reading an uploaded list ------------------------------------------------------------------


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

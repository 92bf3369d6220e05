"""Outcome summaries of a request's jobs: the counts, the ordering people read, the CSV table."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.model import Outcome
from bot.core.request import RequestJob
from bot.core.spreadsheet import safe_cell

NO_ERROR_CODE = "(no code)"
"""The key under which :attr:`Summary.failed_by_code` counts failures that carried no code."""

NOT_SENT = "not_sent"
"""The ``outcome`` cell of :func:`jobs_csv` for a job with no outcome yet."""

CSV_HEADER = ("job_id", "name", "outcome", "error_code", "error_msg", "order_id", "drs_status")

# Rows are read top-down: what needs attention first.
_ROW_RANK: dict[Outcome | None, int] = {
    Outcome.FAILED: 0,
    Outcome.UNKNOWN: 1,
    None: 2,
    Outcome.SUCCESS: 3,
}


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts and orderings of a request's jobs.

    ``total == started + failed + unknown + not_sent``. ``rows`` holds every job exactly once:
    failures first, then unknown outcomes, then jobs not sent yet, then started ones, each group
    in input order. ``orders`` lists, in input order, every job that carries a DRS order id
    (prepaid starts). ``failed_by_code`` counts failed jobs per error code, most frequent first
    (ties by code); failures without a code count under :data:`NO_ERROR_CODE`.
    """

    total: int
    started: int
    failed: int
    unknown: int
    not_sent: int
    orders: tuple[tuple[str, str], ...]
    rows: tuple[RequestJob, ...]
    failed_by_code: tuple[tuple[str, int], ...]

    @property
    def all_known(self) -> bool:
        """Every job has a known outcome (started or failed)."""
        return self.unknown == 0 and self.not_sent == 0


def summarize(jobs: Sequence[RequestJob]) -> Summary:
    """Summarise ``jobs`` (see :class:`Summary` for what each field guarantees)."""
    counts = Counter(job.outcome for job in jobs)
    codes = Counter(
        (job.error_code or NO_ERROR_CODE) for job in jobs if job.outcome is Outcome.FAILED
    )
    return Summary(
        total=len(jobs),
        started=counts[Outcome.SUCCESS],
        failed=counts[Outcome.FAILED],
        unknown=counts[Outcome.UNKNOWN],
        not_sent=counts[None],
        orders=tuple((job.job_id, job.order_id) for job in jobs if job.order_id),
        # sorted() is stable, so each group keeps the input order.
        rows=tuple(sorted(jobs, key=lambda job: _ROW_RANK[job.outcome])),
        failed_by_code=tuple(sorted(codes.items(), key=lambda item: (-item[1], item[0]))),
    )


def jobs_csv(jobs: Sequence[RequestJob]) -> str:
    """A CSV table of ``jobs`` in input order, with the header :data:`CSV_HEADER`.

    Lines end with ``\\r\\n`` (RFC 4180; it also makes every cell holding a line break quoted,
    whichever break it is). Missing values are empty cells; a job with no outcome yet shows
    :data:`NOT_SENT`. Every text cell (DRS error messages and task names are text we do not
    control) goes through :func:`~bot.core.spreadsheet.safe_cell`, so opening the file never
    runs a formula, whatever separator the spreadsheet splits it on.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for job in jobs:
        writer.writerow(
            (
                safe_cell(job.job_id),
                safe_cell(job.name),
                job.outcome.value if job.outcome is not None else NOT_SENT,
                safe_cell(job.error_code),
                safe_cell(job.error_msg),
                safe_cell(job.order_id),
                safe_cell(job.drs_status),
            )
        )
    return out.getvalue()

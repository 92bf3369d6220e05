"""The outcome reply in a request's thread, the follow-up's notes, and the Retry button."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.model import CallFailure, Outcome
from bot.core.request import StartRequest
from bot.core.summary import summarize
from bot.slack.ui import describe as d
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId, BlockId
from bot.slack.ui.message import (
    MAX_CALL_FAILURES,
    Message,
    capped,
    message,
    title_md,
)

# --- the outcome reply in the thread ----------------------------------------------------------


def outcome_rows(req: StartRequest, max_rows: int) -> tuple[list[str], int]:
    rows = summarize(req.jobs).rows
    return capped([d.outcome_job_line(j) for j in rows], max(max_rows, 0))


def needs_csv(req: StartRequest, max_rows: int = 20) -> bool:
    """True when :func:`outcome_message` leaves jobs out, so the full CSV should be attached."""
    return outcome_rows(req, max_rows)[1] > 0


def outcome_message(
    req: StartRequest,
    *,
    failures: Sequence[CallFailure] = (),
    max_rows: int = 20,
    mention_requester: bool = False,
    attempt: int = 1,
    actor: str | None = None,
) -> Message:
    """The thread reply with every job's outcome.

    A summary line (started / failed / unknown / not sent, orders placed), each whole-call
    failure with its kind, HTTP status, error code, message and X-Request-Id, then per-job lines —
    failures first — with DRS's code and message, order id and latest DRS status, at most
    ``max_rows`` of them (then "… and N more — full table in the attached CSV"). ``attempt`` > 1
    marks a retry, started by ``actor`` when given.
    """
    summary = summarize(req.jobs)
    counts = d.counts_line(summary, scheduled=req.scheduled)
    retry = ""
    if attempt > 1:
        retry = f" — retry {attempt - 1}" + (f" by {m.mention(actor)}" if actor else "")
    lead = f"*{title_md(req)}*{retry}\n{counts}"
    if req.start_time_ms is not None:
        lead += f"\nDRS starts them {m.slack_date(req.start_time_ms / 1000)}."
    if mention_requester:
        lead = f"{_settled_words(req)}\n" + lead
    blocks: list[kit.Block] = [kit.section(lead)]
    refusals = d.job_refusals_text(summary, failures)
    if refusals:
        blocks.append(kit.section(refusals))
    for failure in failures[:MAX_CALL_FAILURES]:
        blocks.append(kit.section(d.call_failure_text(failure)))
    if len(failures) > MAX_CALL_FAILURES:
        blocks.append(
            kit.context(f"… and {len(failures) - MAX_CALL_FAILURES} more failed calls (see status)")
        )
    facts = [
        line
        for line in (
            d.failed_by_code_line(summary),
            d.phase_counts(j.drs_status for j in req.jobs),
        )
        if line
    ]
    if facts:
        blocks.append(kit.section("\n".join(facts)))
    lines, hidden = outcome_rows(req, max_rows)
    blocks += kit.line_sections(lines)
    notes: list[str] = []
    if hidden:
        notes.append(f"… and {hidden:,} more — full table in the attached CSV.")
    if summary.unknown:
        notes.append(
            f"{d.OUTCOME_ICON[Outcome.UNKNOWN]} _unknown_: DRS may or may not have started the "
            "job. The bot checks with DRS and updates this thread; do not start them again by hand."
        )
    if notes:
        blocks.append(kit.context(*notes))
    text = f"{m.inline(req.project, 80)}: " + ", ".join(
        f"{n:,} {word}"
        for n, word in (
            (summary.started, "scheduled" if req.scheduled else "started"),
            (summary.failed, "failed"),
            (summary.unknown, "unknown"),
            (summary.not_sent, "not sent"),
        )
        if n
    )
    if mention_requester:
        text = f"{_settled_words(req)} {text}"
    return message(text, blocks)


def _settled_words(req: StartRequest) -> str:
    if len(req.jobs) == 1:
        return f"{m.mention(req.requester_id)} the job settled."
    return f"{m.mention(req.requester_id)} all {len(req.jobs):,} jobs settled."


def settled_message(req: StartRequest) -> Message:
    """The follow-up's last word in the thread: mentions the requester, counts DRS's statuses."""
    summary = summarize(req.jobs)
    lines = [_settled_words(req), d.counts_line(summary, scheduled=req.scheduled)]
    now_line = d.phase_counts(j.drs_status for j in req.jobs)
    if now_line:
        lines.append(now_line)
    if summary.failed or summary.unknown:
        lines.append(
            f"Per-job details: the outcome above, or `/startjobs status {m.inline(req.id, 64)}`."
        )
    text = f"{_settled_words(req)} " + d.counts_line(summary, scheduled=req.scheduled)
    return message(text, [kit.section("\n".join(lines))])


def failed_after_start_text(req: StartRequest, job_ids: Sequence[str]) -> str:
    """A thread note, mentioning the requester: DRS accepted these jobs' start, then their
    tasks failed (with DRS's reason where it gave one)."""
    by_id = {j.job_id: j for j in req.jobs}
    one = len(job_ids) == 1
    lines = [
        f"{m.mention(req.requester_id)} :x: {m.count(len(job_ids), 'job')} of "
        f"{m.code(req.id, 64)} failed after DRS accepted the start:"
    ]
    for job_id in job_ids[:10]:
        job = by_id.get(job_id)
        label = d.job_label(job_id, job.name if job is not None else None)
        code = m.code(job.error_code if job is not None and job.error_code else "FAILED", 40)
        reason = f": {m.inline(job.error_msg, 300)}" if job is not None and job.error_msg else ""
        lines.append(f"• {label} — {code}{reason}")
    if len(job_ids) > 10:
        lines.append(
            f"… and {len(job_ids) - 10:,} more (`/startjobs status {m.inline(req.id, 64)}`)."
        )
    it = "it" if one else "them"
    lines.append(
        f"Starting {it} again from here will not help: see why in the DRS console, which can "
        f"retry a failed task."
    )
    return "\n".join(lines)


def retry_button_blocks(req: StartRequest, retryable: int) -> list[dict[str, Any]]:
    """A note and a Retry button for ``retryable`` failed jobs (none when there are none).

    Any approver of the project may click it; the listener re-checks who clicked and which jobs
    are still retryable.
    """
    if retryable <= 0:
        return []
    jobs = m.count(retryable, "job")
    return [
        kit.section(
            f":repeat: *{jobs} can be retried* — DRS was busy or throttled, or the job was "
            "confirmed not started. An approver can send them again."
        ),
        kit.actions(
            BlockId.RETRY_ACTIONS,
            [
                kit.button(
                    f"Retry {m.count(retryable, 'failed job')}",
                    ActionId.RETRY,
                    req.id,
                    style="primary",
                    confirm_dialog=kit.confirm(
                        f"Retry {jobs}?",
                        f"The bot sends these {jobs} to DRS again, once. Jobs that started in "
                        "the meantime are left alone.",
                        "Retry",
                        "Not now",
                    ),
                )
            ],
        ),
    ]

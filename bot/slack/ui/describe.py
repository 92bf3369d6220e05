"""Sentences and lines about requests and jobs, shared by the messages and the modals.

Every function returns escaped mrkdwn: user- and DRS-supplied text is passed through
:mod:`bot.slack.ui.mrkdwn` here, so callers only assemble. Emoji are used one way everywhere:
:data:`OUTCOME_ICON` for what batch-starting answered, :data:`PHASE_ICON` for what DRS says
now, ``:warning:`` for what needs a second look before approving.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from bot.core.model import CallFailure, CallFailureKind, JobInfo, Outcome
from bot.core.request import Approval, RequestJob, RequestState, StartRequest
from bot.core.status import Phase, failed_after_start, held_by_bot, is_startable, phase_of
from bot.core.summary import NO_ERROR_CODE, Summary, summarize
from bot.slack.ui import mrkdwn as m

NAME_MAX = 80
ERROR_MAX = 300
COMMENT_MAX = 500
WARN = ":warning:"

OUTCOME_ICON: dict[Outcome | None, str] = {
    Outcome.SUCCESS: ":white_check_mark:",
    Outcome.FAILED: ":x:",
    Outcome.UNKNOWN: ":grey_question:",
    None: ":heavy_minus_sign:",
}

PHASE_ICON: dict[Phase, str] = {
    Phase.STARTABLE: ":white_circle:",
    Phase.STARTING: ":hourglass_flowing_sand:",
    Phase.WAITING: ":clock3:",
    Phase.TRANSFERRING: ":white_check_mark:",
    Phase.FAILED: ":x:",
    Phase.GONE: ":wastebasket:",
    Phase.UNKNOWN: ":grey_question:",
    Phase.OTHER: ":small_blue_diamond:",
}

STATE_ICON: dict[RequestState, str] = {
    RequestState.PENDING: ":hourglass:",
    RequestState.APPROVED: ":hourglass_flowing_sand:",
    RequestState.STARTING: ":hourglass_flowing_sand:",
    RequestState.DONE: ":white_check_mark:",
    RequestState.FAILED: ":x:",
    RequestState.UNKNOWN: ":grey_question:",
    RequestState.REJECTED: ":no_entry_sign:",
    RequestState.CANCELLED: ":heavy_multiplication_x:",
    RequestState.EXPIRED: ":hourglass:",
}

# What an operator can do about the codes a batch start commonly returns (drs-api.md §3).
CODE_HINTS: dict[str, str] = {
    "DRS.M00304": "status does not allow starting (already started?)",
    "DRS.M01503": "too frequent: retry in a minute",
    "DRS.M01504": "another operation is running on the task: retry later",
    "APIGW.0308": "throttled: retry in a minute",
    "DRS.M05003": "task not found: check the ID and the project",
    "DRS.M05004": "task deleted or its resources released",
    "DRS.10000010": "task not found: check the ID and the project",
    "DRS.M00102": "the cloud account's IAM policy does not allow this",
    "DRS.M00103": "the cloud account's IAM policy does not allow this",
    "APIGW.0302": "the cloud account's IAM policy does not allow this",
}

FAILURE_TITLE: dict[CallFailureKind, str] = {
    CallFailureKind.AUTH: "DRS refused the bot's credentials or permissions",
    CallFailureKind.THROTTLED: "Throttled by the Huawei Cloud API gateway",
    CallFailureKind.BAD_REQUEST: "DRS rejected the request",
    CallFailureKind.SERVER: "DRS answered with a server error",
    CallFailureKind.TIMEOUT: "No answer from DRS in time",
    CallFailureKind.TRANSPORT: "Could not reach DRS",
    CallFailureKind.PROTOCOL: "Could not read DRS's answer",
}

FAILURE_ADVICE: dict[CallFailureKind, str] = {
    CallFailureKind.AUTH: (
        "Nothing was started. Check the bot's Huawei Cloud credentials and the IAM policy of "
        "the cloud account (this is the account's policy, not the bot's)."
    ),
    CallFailureKind.THROTTLED: "Nothing was processed. It is safe to retry in a minute.",
    CallFailureKind.BAD_REQUEST: "Nothing was started. See DRS's message above.",
    CallFailureKind.SERVER: "Nothing was started.",
    CallFailureKind.TIMEOUT: "Nothing was started.",
    CallFailureKind.TRANSPORT: "The request was not sent: nothing was started.",
    CallFailureKind.PROTOCOL: "Nothing was started.",
}

MAYBE_PROCESSED_ADVICE = (
    "The request may have reached DRS, so some jobs may have started. Do not start them again "
    "by hand: the bot checks their status with DRS and reports it here."
)


def job_label(job_id: str, name: str | None) -> str:
    """``*name* `id``` (or just the id when DRS gave no name)."""
    if name and name.strip():
        return f"*{m.inline(name, NAME_MAX)}* {m.code(job_id, 64)}"
    return m.code(job_id, 64)


def error_text(
    code: str | None, message: str | None, limit: int = ERROR_MAX, *, hint: bool = False
) -> str:
    """`` `DRS.M00304` message``, with what to do for codes we know when ``hint``."""
    parts: list[str] = []
    if code:
        parts.append(m.code(code, 40))
    if message and message.strip():
        parts.append(m.inline(message, limit))
    advice = CODE_HINTS.get(code.strip()) if code and hint else None
    if advice:
        parts.append(f"_({advice})_")
    return " ".join(parts)


def request_sentence(req: StartRequest) -> str:
    """``<@U1> asks to start *12 DRS jobs* in *prod* (`ap-southeast-1`).``"""
    return (
        f"{m.mention(req.requester_id)} asks to start *{m.count(len(req.jobs), 'DRS job')}* "
        f"in *{m.inline(req.project, 80)}* ({m.code(req.region, 40)})."
    )


def schedule_field(req: StartRequest, now: float | None = None, *, confirm: bool = False) -> str:
    """``*Start*`` now, or ``*Scheduled start*`` in the reader's timezone (relative to ``now``);
    ``confirm``: nothing starts before the requester presses Start."""
    if req.start_time_ms is None:
        if req.approval is Approval.TWO_PERSON:
            when = "Now, as soon as approved"
        else:
            when = "Now, once the requester presses Start" if confirm else "Now"
        return f"*Start*\n{when}"
    at = req.start_time_ms / 1000
    text = m.slack_date(at)
    if now is not None:
        text += f" — {WARN} this time has passed" if at <= now else f" ({m.relative(at, now)})"
    return f"*Scheduled start*\n{text}"


def approval_text(req: StartRequest, *, confirm: bool = False) -> str:
    """Who lets it start; ``confirm``: a project without approval whose list was resolved from
    a name pattern or a file, which its requester confirms once they have seen it."""
    if req.approval is Approval.TWO_PERSON:
        return f"Two-person: an approver other than {m.mention(req.requester_id)}"
    if confirm:
        return (
            f"None, but {m.mention(req.requester_id)} confirms the matched jobs with *Start* "
            "before anything starts"
        )
    return "None: the requester's submission starts it"


def reason_block_text(reason: str) -> str:
    text = reason.strip()
    return f"*Reason*\n{m.clip(text, 2900)}" if text else "*Reason*\n_none given_"


def _name_list(items: Sequence[str], shown: int) -> str:
    head = ", ".join(items[:shown])
    rest = len(items) - shown
    return f"{head} and {rest:,} more" if rest > 0 else head


def warning_lines(jobs: Sequence[RequestJob], *, shown: int = 5) -> list[str]:
    """Grouped warnings an approver must see: unknown IDs, not startable, prepaid orders."""
    unknown = [j for j in jobs if j.status_at_request is None]
    blocked = [
        j for j in jobs if j.status_at_request is not None and not is_startable(j.status_at_request)
    ]
    prepaid = [j for j in jobs if j.prepaid]
    lines: list[str] = []
    if unknown:
        ids = [
            m.code(j.job_id, 64) + (f" ({m.code(j.error_code, 40)})" if j.error_code else "")
            for j in unknown
        ]
        lines.append(
            f"{WARN} *{m.count(len(unknown), 'job')} unknown to DRS* — DRS will refuse "
            f"{'it' if len(unknown) == 1 else 'them'}; check the IDs and the project: "
            + _name_list(ids, shown)
        )
    if blocked:
        items = [
            f"{job_label(j.job_id, j.name)} {m.code(j.status_at_request or '', 40)}"
            for j in blocked
        ]
        lines.append(
            f"{WARN} *{m.count(len(blocked), 'job')} not startable now* — status is not "
            "`CONFIGURATION`, DRS will likely refuse: " + _name_list(items, shown)
        )
    if prepaid:
        what = "starting it" if len(prepaid) == 1 else "starting each"
        lines.append(
            f"{WARN} *{m.count(len(prepaid), 'prepaid job')}* (yearly/monthly) — "
            f"{what} places and pays an order: "
            + _name_list([job_label(j.job_id, j.name) for j in prepaid], shown)
        )
    return lines


def requested_job_line(job: RequestJob) -> str:
    """A job as it was when requested: name, id, DRS status, prepaid flag.

    Marked ``:warning:`` when it cannot be started as it is (unknown to DRS, or not in
    ``CONFIGURATION``): before a start, "already running" is a problem, not a success.
    """
    if job.status_at_request is None:
        detail = "not found" + (f" {m.code(job.error_code, 40)}" if job.error_code else "")
        return f"{WARN} {job_label(job.job_id, job.name)} {detail}"
    icon = "•" if is_startable(job.status_at_request) else WARN
    line = f"{icon} {job_label(job.job_id, job.name)} {m.code(job.status_at_request, 40)}"
    return line + " · prepaid" if job.prepaid else line


def outcome_job_line(job: RequestJob) -> str:
    """A job after the start: outcome, DRS error, order id, and DRS's latest status if seen."""
    label = job_label(job.job_id, job.name)
    now = f" · DRS says {m.code(job.drs_status, 40)}" if job.drs_status else ""
    icon = PHASE_ICON[phase_of(job.drs_status)] if job.drs_status else OUTCOME_ICON[job.outcome]
    if failed_after_start(job):
        reason = f": {m.clip(job.error_msg, 300)}" if job.error_msg else ""
        status = m.code(job.error_code or "FAILED", 40)
        text = f"{OUTCOME_ICON[Outcome.FAILED]} {label} started, then failed ({status}){reason}"
    elif job.outcome is Outcome.FAILED:
        error = error_text(job.error_code, job.error_msg) or "the call was refused"
        text = f"{OUTCOME_ICON[Outcome.FAILED]} {label} did not start: {error}{now}"
    elif job.outcome is Outcome.SUCCESS:
        text = f"{icon} {label} " + (
            m.code(job.drs_status, 40) if job.drs_status else "start accepted"
        )
    elif job.outcome is Outcome.UNKNOWN:
        text = f"{icon} {label} outcome unknown" + now
    else:
        text = f"{icon} {label} not sent" + now
    if job.order_id:
        text += f" · order {m.code(job.order_id, 64)}"
    if job.attempts > 1:
        text += f" · attempt {job.attempts}"
    return text


def counts_line(summary: Summary, *, scheduled: bool) -> str:
    """``:white_check_mark: *10 started* · :x: *2 failed* · …`` — zero counts left out."""
    started_word = "scheduled" if scheduled else "started"
    parts: list[str] = []
    if summary.started:
        parts.append(f"{OUTCOME_ICON[Outcome.SUCCESS]} *{summary.started:,} {started_word}*")
    if summary.failed:
        parts.append(f"{OUTCOME_ICON[Outcome.FAILED]} *{summary.failed:,} failed*")
    if summary.unknown:
        parts.append(f"{OUTCOME_ICON[Outcome.UNKNOWN]} *{summary.unknown:,} unknown*")
    if summary.not_sent:
        parts.append(f"{OUTCOME_ICON[None]} {summary.not_sent:,} not sent")
    if summary.orders:
        parts.append(f":receipt: {m.count(len(summary.orders), 'order')} placed")
    return " · ".join(parts) or "no jobs"


def job_refusals_text(summary: Summary, failures: Sequence[CallFailure]) -> str | None:
    """Says that the failed jobs were refused one by one in a call DRS took, so they are not
    read as a refusal of the whole call (which :func:`call_failure_text` describes). None when
    no job was refused (a task failing after its start is not a refusal), or when a refused
    call may account for the failures."""
    held, icon = sum(1 for j in summary.rows if held_by_bot(j)), OUTCOME_ICON[Outcome.FAILED]
    n = summary.failed - held - sum(1 for j in summary.rows if failed_after_start(j))
    if held and n <= 0:  # the bot held every one back: DRS was not asked
        return (
            f"{icon} *{m.count(held, 'job')} not sent* — held back before DRS was asked: see below."
        )
    if n <= 0 or any(not f.maybe_processed for f in failures):
        return None
    reasons = "for it: the reason is" if n == 1 else "for each: the reasons are"
    return (
        f"{icon} *{m.count(n, 'job')} did not start* — DRS answered "
        f"{reasons} below. The call as a whole went through."
    )


def failed_by_code_line(summary: Summary, shown: int = 6) -> str | None:
    """Failed jobs counted per DRS error code, with what to do for codes we know."""
    coded = [(code, n) for code, n in summary.failed_by_code if code != NO_ERROR_CODE]
    if not coded:
        return None
    items = []
    for code, n in coded[:shown]:
        hint = CODE_HINTS.get(code)
        items.append(f"{m.code(code, 40)} × {n:,}" + (f" _({hint})_" if hint else ""))
    rest = len(coded) - shown
    tail = f", and {rest} more codes" if rest > 0 else ""
    return "*Failures by code:* " + ", ".join(items) + tail


def phase_counts(statuses: Iterable[str | None]) -> str | None:
    """``DRS now: :white_check_mark: 8 FULL_TRANSFER_STARTED · :clock3: 2 WAITING_FOR_START``."""
    counts = Counter(s for s in statuses if s)
    if not counts:
        return None
    parts = [
        f"{PHASE_ICON[phase_of(s)]} {n:,} {m.code(s, 40)}"
        for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    ]
    return "*DRS now:* " + " · ".join(parts)


def call_failure_text(failure: CallFailure) -> str:
    """A whole-call failure: what, HTTP status, code, message, X-Request-Id, what to do."""
    facts: list[str] = []
    if failure.http_status is not None:
        facts.append(f"HTTP {failure.http_status}")
    if failure.error_code:
        facts.append(m.code(failure.error_code, 40))
    request_id = m.code(failure.request_id, 80) if failure.request_id else "_none_"
    facts.append(f"X-Request-Id {request_id}")
    advice = MAYBE_PROCESSED_ADVICE if failure.maybe_processed else FAILURE_ADVICE[failure.kind]
    lines = [
        f"{OUTCOME_ICON[Outcome.FAILED]} *{FAILURE_TITLE[failure.kind]}* ({failure.kind.value}) "
        + " · ".join(facts)
    ]
    if failure.message.strip():
        lines.append(f"DRS said: {m.inline(failure.message, 600)}")
    lines.append(advice)
    return "\n".join(lines)


def decided(req: StartRequest) -> str:
    """`` by <@U2> <date>`` for the decision, when one was recorded."""
    who = f" by {m.mention(req.decided_by)}" if req.decided_by else ""
    when = f" {m.slack_date(req.decided_at)}" if req.decided_at is not None else ""
    return who + when


def comment_suffix(comment: str | None) -> str:
    if comment and comment.strip():
        return f": “{m.inline(comment, COMMENT_MAX)}”"
    return ""


def state_line(req: StartRequest, now: float) -> str:
    """One line for the request's state: who decided, when, and the outcome counts if known."""
    icon = STATE_ICON[req.state]
    state = req.state
    if state is RequestState.PENDING:
        expiry = f"expires {m.slack_date(req.expires_at)} ({m.relative(req.expires_at, now)})"
        if req.approval is Approval.TWO_PERSON:
            return f"{icon} *Waiting for an approver* — {expiry}"
        return f"{icon} *Pending* — {expiry}"
    if state is RequestState.REJECTED:
        return f"{icon} *Rejected*{decided(req)}{comment_suffix(req.decision_comment)}"
    if state is RequestState.CANCELLED:
        return f"{icon} *Cancelled*{decided(req)}. Nothing was started."
    if state is RequestState.EXPIRED:
        return (
            f"{icon} *Expired* {m.slack_date(req.expires_at)} without a decision. "
            "Nothing was started."
        )
    approved = f"Approved{decided(req)}{comment_suffix(req.decision_comment)}"
    summary = summarize(req.jobs)
    counts = counts_line(summary, scheduled=req.scheduled)
    if state is RequestState.APPROVED:
        return f"{icon} *Starting* — {approved}"
    if state is RequestState.STARTING:
        sent = summary.total - summary.not_sent
        progress = f"\n{counts}" if sent else ""
        return f"{icon} *Starting* — {approved}{progress}"
    if state is RequestState.DONE:
        title = "Done" if summary.failed == 0 else "Done, with failures"
        icon = icon if summary.failed == 0 else WARN
        return f"{icon} *{title}* — {counts}\n{approved}. Details in the thread."
    if state is RequestState.FAILED:
        # DRS refused the call or each job, or the bot held them back: the thread says which.
        return f"{icon} *Failed* — no job was started: {counts}\n{approved}. Why: in the thread."
    return (
        f"{icon} *Outcome unknown* — {counts}\nDRS may have started some jobs; the bot checks "
        f"their status and reports in the thread. {approved}."
    )


def info_line(info: JobInfo) -> str:
    """A job as DRS describes it now (``/startjobs status``)."""
    if info.status is None:
        return (
            f"{PHASE_ICON[Phase.UNKNOWN]} {m.code(info.job_id, 64)} not found "
            f"{error_text(info.error_code, info.error_msg, hint=True)}"
        )
    parts = [
        f"{PHASE_ICON[phase_of(info.status)]} {job_label(info.job_id, info.name)}",
        m.code(info.status, 40),
    ]
    kind = " ".join(x for x in (info.engine_type, info.db_use_type) if x)
    if kind:
        parts.append(m.inline(kind, 60))
    if info.prepaid:
        parts.append("prepaid")
    if info.error_code or info.error_msg:
        parts.append(error_text(info.error_code, info.error_msg, 200))
    return " · ".join(parts)

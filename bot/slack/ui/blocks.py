"""Messages: the request message, its outcome thread reply, and the ephemeral answers.

Every builder is a pure function of domain values (times come in as ``now``) and returns a
:class:`Message`: Block Kit blocks plus the plain ``text`` Slack shows in notifications. What a
caller may rely on:

- at most 50 blocks and Slack's per-block limits, whatever the number of jobs — long lists are
  cut with a count of what was left out (the outcome message points at the CSV attachment,
  see :func:`needs_csv`);
- user- and DRS-supplied text is escaped, so it never mentions, links or notifies;
- buttons carry only the request id as their value; final states have no buttons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.model import CallFailure, JobInfo, Outcome
from bot.core.policy import Membership
from bot.core.request import Approval, AuditEvent, AuditKind, RequestState, StartRequest
from bot.core.summary import summarize
from bot.slack.ui import describe as d
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId, BlockId

# Characters of job lines per message; with the rest of a message this stays well under the
# ~13k characters of blocks at which Slack has been seen to answer msg_blocks_too_long.
ROWS_BUDGET = 6500
MAX_CALL_FAILURES = 5
MAX_EVENTS = 25
MAX_HISTORY = 20
MAX_STATUS_JOBS = 60
STATUS_MESSAGE_ROWS = 10
TEXT_MAX = 3000  # the notification text; chat.update allows 4,000
REQUEST_JOBS_LISTED = 15  # jobs listed by name on a request message; more go to a CSV
SOURCE_MAX = 400


@dataclass(frozen=True, slots=True)
class Message:
    """A message to post: ``text`` is the notification fallback, ``blocks`` what is shown."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        """``text`` and ``blocks`` for ``chat.postMessage`` / ``chat.update`` / ``respond``."""
        return {"text": self.text, "blocks": self.blocks}


def _message(text: str, blocks: list[kit.Block]) -> Message:
    if len(blocks) > kit.MESSAGE_BLOCKS_MAX:
        raise AssertionError("a message builder produced more than 50 blocks")
    return Message(text=kit.cut_markup(text, TEXT_MAX), blocks=blocks)


def _capped(
    lines: Sequence[str], max_rows: int, budget: int = ROWS_BUDGET
) -> tuple[list[str], int]:
    """The first lines that fit in ``max_rows`` and ``budget`` characters, and how many did not."""
    shown: list[str] = []
    used = 0
    for line in lines[:max_rows]:
        if shown and used + len(line) > budget:
            break
        shown.append(line)
        used += len(line) + 1
    return shown, len(lines) - len(shown)


def _title(req: StartRequest) -> str:
    """For plain_text (a header), which Slack shows literally: not escaped."""
    return f"Start {m.count(len(req.jobs), 'DRS job')} · {req.project}"


def _title_md(req: StartRequest) -> str:
    return f"Start {m.count(len(req.jobs), 'DRS job')} · {m.inline(req.project, 80)}"


# --- the request message -------------------------------------------------------------------


def request_message(
    req: StartRequest,
    *,
    now: float,
    max_listed: int = REQUEST_JOBS_LISTED,
    lookup_problem: str | None = None,
    source: str | None = None,
    overlaps: Mapping[str, int] | None = None,
) -> Message:
    """The request message in the channel, for any state.

    Pending: what is asked, warnings, the first ``max_listed`` jobs with their DRS status and
    counts of the rest, Approve (primary) and Reject (danger) when the project needs two people,
    and Cancel (with a confirmation) always. Other states: the same facts with a status line —
    who decided, when, comment, outcome counts when known — and no buttons. ``lookup_problem``
    (plain text) says why the jobs' DRS status is missing, e.g. DRS could not be reached.
    ``source`` (plain text) says how the list was chosen (a name pattern, a file): the message
    then says the list is frozen and attached to the thread. ``overlaps`` (other open request
    id -> how many of this request's jobs it holds too) is warned about while pending.
    """
    blocks: list[kit.Block] = [
        kit.header(_title(req)),
        kit.section(d.request_sentence(req)),
        kit.fields(
            [
                d.schedule_field(req, now if req.state.is_open else None),
                f"*Approval*\n{d.approval_text(req, confirm=source is not None)}",
                f"*Requested*\n{m.slack_date(req.created_at)}",
                f"*Request*\n{m.code(req.id, 64)}",
            ]
        ),
        kit.section(d.reason_block_text(req.reason)),
    ]
    if source:
        blocks.append(kit.section(_source_text(req, source)))
    if lookup_problem:
        blocks.append(
            kit.section(
                f"{d.WARN} *Jobs not checked with DRS* — {m.clip(lookup_problem, 1000)}. "
                "Their names and statuses are unknown; approve only if you know them."
            )
        )
    if req.state.is_open:
        warnings = d.warning_lines(req.jobs)
        if overlaps:
            warnings.append(_overlap_line(overlaps))
        if warnings:
            blocks += kit.line_sections(warnings)
    blocks.append(kit.divider())
    sent = req.state not in (
        RequestState.PENDING,
        RequestState.REJECTED,
        RequestState.CANCELLED,
        RequestState.EXPIRED,
    )
    if sent:
        blocks += _sent_jobs_summary(req)
    else:
        blocks += _requested_jobs(req, max_listed)
    state = kit.section(d.state_line(req, now))
    if req.state is RequestState.PENDING:
        blocks += [state, _request_actions(req, confirm=source is not None)]
    else:
        # A decided request is read for its outcome first: put it right under the header.
        blocks.insert(1, state)
    text = f"{m.mention(req.requester_id)} asks to start {m.count(len(req.jobs), 'DRS job')} in "
    text += f"{m.inline(req.project, 80)}: {req.state.value}"
    return _message(text, blocks)


def _overlap_line(overlaps: Mapping[str, int]) -> str:
    shown = sorted(overlaps.items())[:5]
    parts = [f"{m.count(n, 'job')} in {m.code(rid, 64)}" for rid, n in shown]
    more = len(overlaps) - len(shown)
    if more > 0:
        parts.append(f"{more:,} more")
    return (
        f"{d.WARN} *Also in other open requests:* {', '.join(parts)}. A job is started once: "
        "whichever request is approved first starts it, and DRS refuses it in the other."
    )


def _source_text(req: StartRequest, source: str) -> str:
    return (
        f":mag: *Jobs chosen by* {m.inline(source, SOURCE_MAX)} — frozen when requested: "
        + (
            "exactly this job is started"
            if len(req.jobs) == 1
            else f"exactly these {len(req.jobs):,} jobs are started"
        )
        + "; jobs that appear in DRS later are not. The full list is in the thread."
    )


def job_list_comment(req: StartRequest, *, source: str | None) -> str:
    """The thread message that carries a request's job list as a CSV (mrkdwn, escaped)."""
    chosen = f", chosen by {m.inline(source, SOURCE_MAX)}" if source else ""
    return (
        f"The {m.count(len(req.jobs), 'job')} of {m.code(req.id, 64)}{chosen}: the exact list "
        "approvers approve and the bot starts. It was frozen when requested; jobs that appear "
        "in DRS later are not included. The file's job_id column can be uploaded again to "
        "request the same jobs."
    )


def _requested_jobs(req: StartRequest, max_listed: int) -> list[kit.Block]:
    lines, hidden = _capped([d.requested_job_line(j) for j in req.jobs], max(max_listed, 1))
    blocks = kit.line_sections(["*Jobs* (DRS status when requested)", *lines])
    if hidden:
        statuses = Counter(j.status_at_request or "not found" for j in req.jobs)
        counts = " · ".join(
            f"{n:,} {m.code(s, 40)}" for s, n in sorted(statuses.items(), key=lambda kv: -kv[1])[:8]
        )
        blocks.append(
            kit.context(f"Showing {len(lines):,} of {len(req.jobs):,} jobs. All jobs: {counts}")
        )
    return blocks


def _sent_jobs_summary(req: StartRequest) -> list[kit.Block]:
    line = f"*{m.count(len(req.jobs), 'job')}* — each job's outcome is in the thread."
    now_line = d.phase_counts(j.drs_status for j in req.jobs)
    return [kit.section(line + (f"\n{now_line}" if now_line else ""))]


def _request_actions(req: StartRequest, *, confirm: bool = False) -> kit.Block:
    """Approve / Reject for two-person projects; for one without approval whose list came
    from a name pattern or a file (``confirm``), the requester's "Start N jobs" (nothing starts
    before they saw what matched); Cancel always."""
    elements: list[kit.Block] = []
    if req.approval is Approval.NONE and confirm:
        jobs = m.count(len(req.jobs), "job")
        elements.append(
            kit.button(
                f"Start {jobs}",
                ActionId.CONFIRM,
                req.id,
                style="primary",
                confirm_dialog=kit.confirm(
                    f"Start {jobs}?",
                    "Check the list above (and the CSV in the thread): these are the jobs that "
                    "matched. Only the requester can start them.",
                    "Start",
                    "Not yet",
                ),
            )
        )
    if req.approval is Approval.TWO_PERSON:
        elements.append(kit.button("Approve", ActionId.APPROVE, req.id, style="primary"))
        elements.append(kit.button("Reject", ActionId.REJECT, req.id, style="danger"))
    elements.append(
        kit.button(
            "Cancel request",
            ActionId.CANCEL,
            req.id,
            confirm_dialog=kit.confirm(
                "Cancel this request?",
                "Nothing will be started. Only the requester can cancel.",
                "Cancel request",
                "Keep it",
                danger=True,
            ),
        )
    )
    return kit.actions(BlockId.REQUEST_ACTIONS, elements)


# --- the outcome reply in the thread ----------------------------------------------------------


def _outcome_rows(req: StartRequest, max_rows: int) -> tuple[list[str], int]:
    rows = summarize(req.jobs).rows
    return _capped([d.outcome_job_line(j) for j in rows], max(max_rows, 0))


def needs_csv(req: StartRequest, max_rows: int = 20) -> bool:
    """True when :func:`outcome_message` leaves jobs out, so the full CSV should be attached."""
    return _outcome_rows(req, max_rows)[1] > 0


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
    lead = f"*{_title_md(req)}*{retry}\n{counts}"
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
    lines, hidden = _outcome_rows(req, max_rows)
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
    return _message(text, blocks)


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
    return _message(text, [kit.section("\n".join(lines))])


def failed_after_start_text(req: StartRequest, job_ids: Sequence[str]) -> str:
    """A thread note, mentioning the requester: DRS accepted these jobs' start, then their
    tasks failed (with DRS's reason where it gave one)."""
    by_id = {j.job_id: j for j in req.jobs}
    lines = [
        f"{m.mention(req.requester_id)} :x: {m.count(len(job_ids), 'job')} of {m.code(req.id, 64)} "
        f"failed after DRS accepted the start:"
    ]
    for job_id in job_ids[:10]:
        job = by_id.get(job_id)
        name = f" {m.inline(job.name, 80)}" if job is not None and job.name else ""
        code = m.inline(job.error_code, 60) if job is not None and job.error_code else "FAILED"
        reason = f": {m.inline(job.error_msg, 300)}" if job is not None and job.error_msg else ""
        lines.append(f"• {m.code(job_id, 64)}{name} — {code}{reason}")
    if len(job_ids) > 10:
        lines.append(
            f"… and {len(job_ids) - 10:,} more (`/startjobs status {m.inline(req.id, 64)}`)."
        )
    lines.append(
        "Starting them again from here will not help: see why in the DRS console, which can "
        "retry a failed task."
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


# --- ephemeral answers -----------------------------------------------------------------------


def help_message(
    *,
    command: str = "/startjobs",
    projects: Sequence[Membership] = (),
    user: str | None = None,
) -> Message:
    """Usage of the slash command and the projects ``user`` is a requester or approver of
    (``projects``, only theirs); with none, that they are in no project and whom to ask."""
    c = m.inline(command, 40)
    where = (
        _your_projects(projects)
        if projects
        else "*You are not in any project*, so you can neither request nor approve starts. "
        "Ask whoever maintains the bot's access policy (`startjobs.toml`) to add "
        + (f"your user ID {m.code(user, 40)}" if user else "your user ID")
        + " or one of your user groups to a project's requesters or approvers."
    )
    blocks = [
        kit.header("Start DRS jobs in batches"),
        kit.section(
            "*Start jobs*\n"
            f"`{c}` opens a form.\n"
            f"`{c} prod 9a470239-2308-4bb5-a6bc-1040402fjb21 dbb8127c-… at 2026-12-01 10:00` "
            "opens it filled in.\n"
            f"`{c} prod --name 'mig-shop-*' --status CONFIGURATION --type migration` "
            "selects jobs by name."
        ),
        kit.section(
            "*Times* — `at 2026-12-01 10:00` is read in your Slack timezone; also "
            "`at 2026-12-01T10:00+08:00`, `at +30m`, `at +2h`, `at +1d`. No time: start now."
        ),
        kit.section(
            "*Look up*\n"
            f"`{c} status REQUEST-ID` — a request's outcome and audit trail.\n"
            f"`{c} status JOB-ID JOB-ID …` — what DRS says about jobs now.\n"
            f"`{c} history` — recent requests in this channel.\n"
            f"`{c} help` — this message."
        ),
        kit.section(
            "*What happens*\n"
            "1. You submit; the bot looks the jobs up in DRS and posts the request here.\n"
            "2. Where the project needs it, an approver other than you approves or rejects.\n"
            "3. The bot starts the batch exactly once and posts every job's outcome in the "
            "request's thread, then follows up until each job has settled."
        ),
        kit.section(where),
    ]
    return _message(f"How to use {c}", blocks)


def _your_projects(projects: Sequence[Membership], shown: int = 30) -> str:
    lines = ["*Your projects*"]
    for p in projects[:shown]:
        line = f"• *{m.inline(p.project.name, 80)}* — {p.roles}"
        if p.requester and not p.here and p.project.channels is not None:
            channels = ", ".join(f"<#{ch}>" for ch in sorted(p.project.channels)[:5])
            line += f"; requests only in {channels}"
        lines.append(line)
    if len(projects) > shown:
        lines.append(f"… and {len(projects) - shown:,} more")
    return "\n".join(lines)


def not_understood_message(
    word: str,
    *,
    command: str = "/startjobs",
    suggestion: str | None = None,
    projects: Sequence[str] = (),
    member: Membership | None = None,
    in_no_project: bool = False,
) -> Message:
    """The answer to ``/startjobs <word> …`` when ``word`` is not a subcommand, a job ID or a
    project the user may request in here (``projects``): what was not understood, what is
    allowed, and ``suggestion`` when the word looks like a typo of it. ``member``: the user's
    place in a project named ``word``, when they have one (it says why it is not offered
    here); otherwise nothing tells whether such a project exists."""
    c = m.inline(command, 40)
    w = m.code(word, 64)
    if member is not None and member.requester:
        where = ", ".join(f"<#{ch}>" for ch in sorted(member.project.channels or ())[:5])
        lead = f"You can request in {w} only in {where or 'another channel'}, not here."
    elif member is not None:
        lead = (
            f"You are an approver of {w}, not a requester: you approve its requests with the "
            "buttons on their messages."
        )
    else:
        lead = (
            f"I did not understand {w}: it is neither a subcommand nor a project you can "
            "request in here."
        )
        if suggestion:
            lead += f" Did you mean {m.code(suggestion, 64)}?"
    usage = (
        f"`{c}` takes `help`, `history`, `status REQUEST-ID`, `status JOB-ID …`, or a "
        "project followed by job IDs or `--name 'mig-shop-*'`, and `at 2026-12-01 10:00` "
        f"if not now; `{c}` alone opens the form."
    )
    if projects:
        yours = "Projects you can request in here: " + ", ".join(
            f"*{m.inline(p, 80)}*" for p in projects[:30]
        )
    elif in_no_project:
        yours = (
            "You are not in any project: ask whoever maintains the bot's access policy "
            "(`startjobs.toml`) to add you to a project's requesters."
        )
    else:
        yours = "You cannot request in any project from this channel."
    body = f":no_entry: {lead}\n{usage}\n{yours}"
    return _message(body, [kit.section(body)])


def no_such_request_message(request_id: str) -> Message:
    """The answer for a request that does not exist or that the asker may not see: the same
    words either way, so request IDs cannot be probed."""
    body = (
        f":no_entry: No request {m.code(request_id, 40)} that you can see. Requests are shown "
        "to their project's requesters and approvers (and, where the project allows it, to "
        "anyone asking from the request's channel)."
    )
    return _message(body, [kit.section(body)])


class _Detail:
    """An audit event's detail, every value read back as escaped one-line text."""

    def __init__(self, detail: dict[str, object]) -> None:
        self._detail = detail

    def raw(self, *keys: str) -> str | None:
        for key in keys:
            value = self._detail.get(key)
            if value is not None and value != "":
                return str(value)
        return None

    def text(self, *keys: str, limit: int = 200) -> str | None:
        value = self.raw(*keys)
        return None if value is None else m.inline(value, limit)


def _event_line(event: AuditEvent) -> str:
    who = m.mention(event.actor) if event.actor else "the bot"
    get = _Detail(event.detail)
    comment = d.comment_suffix(get.raw("comment"))
    jobs = get.text("jobs", "job_count", limit=12)
    kind = event.kind
    what: str
    if kind is AuditKind.REQUESTED:
        what = f"{who} requested" + (f" {jobs} jobs" if jobs else "")
    elif kind is AuditKind.APPROVED:
        what = f"{who} approved{comment}"
        if get.raw("start_now_instead"):
            what += " — its scheduled time had passed: started now instead"
    elif kind is AuditKind.REJECTED:
        what = f"{who} rejected{comment}"
    elif kind is AuditKind.CANCELLED:
        what = f"{who} cancelled"
    elif kind is AuditKind.EXPIRED:
        what = "expired without a decision"
    elif kind is AuditKind.REFUSED:
        why = get.text("reason", "action")
        what = f"{who} was refused" + (f": {why}" if why else "")
    elif kind is AuditKind.DRS_CALL:
        what = _call_event(get)
    elif kind is AuditKind.RETRY:
        what = f"{who} retried {jobs or 'the'} failed jobs"
    elif kind is AuditKind.FOLLOWUP:
        what = "follow-up: every job settled"
    elif kind is AuditKind.CHANNEL_LOST:
        error = get.text("error", limit=60)
        what = f"Slack refuses posts in the channel ({error}): the requester is told directly"
    elif kind is AuditKind.TAKEN_OVER:
        attempt = get.text("attempt", limit=12)
        what = f"attempt {attempt}: its sender stopped mid-call; taken over to ask DRS"
    elif kind is AuditKind.MERGED:
        attempt = get.text("attempt", limit=12)
        what = f"attempt {attempt}: DRS's own answer arrived late and was merged in"
    elif kind is AuditKind.START_FAILED:
        what = f"DRS failed {jobs or 'some'} started jobs' tasks"
    else:  # OUTCOME, RECOVERED
        restart = " after a restart" if kind is AuditKind.RECOVERED else ""
        facts: list[str] = []
        attempt = get.text("attempt", limit=12)
        if attempt:
            facts.append(f"attempt {attempt}")
        for key in ("started", "failed", "unknown"):
            n = get.text(key, limit=12)
            if n:
                facts.append(f"{n} {key}")
        state = get.text("state", limit=20)
        if state:
            facts.append(f"request {state}")
        what = f"outcomes recorded{restart}" + (f": {', '.join(facts)}" if facts else "")
    return f"{m.slack_date(event.at, '{date_num} {time_secs}')} {kit.cut_markup(what, 600)}"


def _call_event(get: _Detail) -> str:
    parts = [f"DRS {m.code(get.raw('operation') or 'call', 40)}"]
    jobs = get.text("jobs", "job_count", limit=12)
    if jobs:
        parts.append(f"{jobs} jobs")
    status = get.text("http_status", limit=12)
    parts.append(f"HTTP {status}" if status else "no HTTP answer")
    code = get.raw("error_code")
    if code:
        parts.append(m.code(code, 40))
    failure = get.text("kind", "failure_kind", limit=40)
    if failure:
        parts.append(f"failed ({failure})")
    request_id = get.raw("request_id")
    parts.append(f"X-Request-Id {m.code(request_id, 80) if request_id else '_none_'}")
    return " · ".join(parts)


def status_message(req: StartRequest, events: Sequence[AuditEvent], *, now: float) -> Message:
    """One request: its state, outcomes (capped) and audit trail (the most recent events).

    Audit ``detail`` keys shown: ``jobs`` (or ``job_count``), ``comment``, ``reason`` (or
    ``action``); for DRS calls ``operation``, ``http_status``, ``request_id``, ``error_code``,
    ``kind``; for outcomes ``attempt``, ``state``, ``started``, ``failed``, ``unknown``.
    """
    blocks: list[kit.Block] = [
        kit.header(f"Request {req.id}"),
        kit.section(f"{d.request_sentence(req)}\n{d.state_line(req, now)}"),
        kit.fields(
            [
                d.schedule_field(req, now if req.state.is_open else None),
                f"*Approval*\n{d.approval_text(req)}",
                f"*Requested*\n{m.slack_date(req.created_at)}",
                f"*Channel*\n<#{req.channel_id}>"
                if req.channel_id.startswith(("C", "G")) and req.channel_id.isalnum()
                else f"*Channel*\n{m.code(req.channel_id, 40)}",
            ]
        ),
        kit.section(d.reason_block_text(req.reason)),
    ]
    summary = summarize(req.jobs)
    if summary.not_sent < summary.total:
        lines, hidden = _outcome_rows(req, STATUS_MESSAGE_ROWS)
        blocks += kit.line_sections(["*Jobs*", *lines])
        if hidden:
            blocks.append(kit.context(f"… and {hidden:,} more jobs (see the thread's CSV)."))
    ordered = sorted(events, key=lambda e: e.at)
    shown = ordered[-MAX_EVENTS:]
    trail = [_event_line(e) for e in shown]
    if len(ordered) > len(shown):
        trail.insert(0, f"_{len(ordered) - len(shown):,} earlier events not shown_")
    blocks += kit.line_sections(["*Audit trail*", *(trail or ["_no events recorded_"])])
    return _message(f"Request {req.id}: {req.state.value}", blocks)


def job_status_message(infos: Sequence[JobInfo]) -> Message:
    """What DRS says about the given jobs now (``/startjobs status <job ids>``).

    ``text`` carries the same list (cut at 3,000 characters) for answers sent without blocks.
    """
    if not infos:
        return _message("No jobs", [kit.section("No job IDs given.")])
    statuses = Counter(i.status or "not found" for i in infos)
    head = f"*{m.count(len(infos), 'job')}* · " + " · ".join(
        f"{n:,} {m.code(s, 40)}" for s, n in sorted(statuses.items(), key=lambda kv: -kv[1])[:8]
    )
    lines, hidden = _capped([d.info_line(i) for i in infos], MAX_STATUS_JOBS, 9000)
    blocks = [kit.section(head), *kit.line_sections(lines)]
    if hidden:
        blocks.append(kit.context(f"… and {hidden:,} more jobs not shown."))
    # The text repeats the list so an answer sent as text alone still says everything.
    return _message("\n".join([head, *lines]), blocks)


def history_message(reqs: Sequence[StartRequest], *, now: float) -> Message:
    """Recent requests in the channel, newest first, one line each."""
    if not reqs:
        return _message(
            "No start requests",
            [kit.section("No start requests in this channel that you can see.")],
        )
    newest = sorted(reqs, key=lambda r: r.created_at, reverse=True)
    lines = []
    for r in newest[:MAX_HISTORY]:
        s = summarize(r.jobs)
        outcome = "" if s.not_sent == s.total else f" ({d.counts_line(s, scheduled=r.scheduled)})"
        lines.append(
            f"{d.STATE_ICON[r.state]} {m.code(r.id, 64)} *{m.inline(r.project, 60)}* · "
            f"{m.count(len(r.jobs), 'job')} · {m.mention(r.requester_id)} · "
            f"{m.slack_date(r.created_at)} ({m.relative(r.created_at, now)}) · "
            f"*{r.state.value}*{outcome}"
        )
    blocks = kit.line_sections(["*Recent start requests in this channel*", *lines])
    if len(newest) > MAX_HISTORY:
        blocks.append(kit.context(f"… and {len(newest) - MAX_HISTORY:,} older requests."))
    return _message(f"{m.count(len(reqs), 'recent request')}", blocks)


def refusal_message(markup: str) -> Message:
    """A refusal written by the bot itself (``:no_entry: …``) whose ``markup`` is mrkdwn with
    mentions already in place; any outside text in it must have been escaped by its author."""
    body = f":no_entry: {kit.cut_markup(markup, 1500)}"
    return _message(body, [kit.section(body)])


def error_message(text: str, details: Sequence[str] = ()) -> Message:
    """A refusal or error (``:no_entry: …``); ``text`` and ``details`` are plain text, escaped.

    ``text`` of the result carries the whole message too, for ephemeral answers sent as text.
    """
    body = f":no_entry: {m.clip(text, 1500)}"
    if details:
        body += "\n" + "\n".join(f"• {m.inline(x, 300)}" for x in details[:10])
        if len(details) > 10:
            body += f"\n• … and {len(details) - 10:,} more"
    return _message(body, [kit.section(body)])

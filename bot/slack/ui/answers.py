"""Answers shown only to the person who asked: help, status, history, refusals, errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.core.model import JobInfo
from bot.core.policy import Membership
from bot.core.request import AuditEvent, AuditKind, StartRequest
from bot.core.summary import summarize
from bot.slack.ui import describe as d
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.message import (
    MAX_EVENTS,
    MAX_HISTORY,
    MAX_STATUS_JOBS,
    STATUS_MESSAGE_ROWS,
    Message,
    capped,
    message,
)
from bot.slack.ui.outcome import outcome_rows

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
            f"`{c} freezes` — change-freeze windows of your projects, open now and next.\n"
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
    return message(f"How to use {c}", blocks)


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
    return message(body, [kit.section(body)])


def no_such_request_message(request_id: str) -> Message:
    """The answer for a request that does not exist or that the asker may not see: the same
    words either way, so request IDs cannot be probed."""
    body = (
        f":no_entry: No request {m.code(request_id, 40)} that you can see. Requests are shown "
        "to their project's requesters and approvers (and, where the project allows it, to "
        "anyone asking from the request's channel)."
    )
    return message(body, [kit.section(body)])


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
    elif kind is AuditKind.FREEZE_OVERRIDE:
        names = get.text("names", limit=200)
        what = f"{who} overrode change freeze {names}: {get.text('reason', limit=300)}"
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
        lines, hidden = outcome_rows(req, STATUS_MESSAGE_ROWS)
        blocks += kit.line_sections(["*Jobs*", *lines])
        if hidden:
            blocks.append(kit.context(f"… and {hidden:,} more jobs (see the thread's CSV)."))
    ordered = sorted(events, key=lambda e: e.at)
    shown = ordered[-MAX_EVENTS:]
    trail = [_event_line(e) for e in shown]
    if len(ordered) > len(shown):
        trail.insert(0, f"_{len(ordered) - len(shown):,} earlier events not shown_")
    blocks += kit.line_sections(["*Audit trail*", *(trail or ["_no events recorded_"])])
    return message(f"Request {req.id}: {req.state.value}", blocks)


def job_status_message(infos: Sequence[JobInfo]) -> Message:
    """What DRS says about the given jobs now (``/startjobs status <job ids>``).

    ``text`` carries the same list (cut at 3,000 characters) for answers sent without blocks.
    """
    if not infos:
        return message("No jobs", [kit.section("No job IDs given.")])
    statuses = Counter(i.status or "not found" for i in infos)
    head = f"*{m.count(len(infos), 'job')}* · " + " · ".join(
        f"{n:,} {m.code(s, 40)}" for s, n in sorted(statuses.items(), key=lambda kv: -kv[1])[:8]
    )
    lines, hidden = capped([d.info_line(i) for i in infos], MAX_STATUS_JOBS, 9000)
    blocks = [kit.section(head), *kit.line_sections(lines)]
    if hidden:
        blocks.append(kit.context(f"… and {hidden:,} more jobs not shown."))
    # The text repeats the list so an answer sent as text alone still says everything.
    return message("\n".join([head, *lines]), blocks)


def history_message(reqs: Sequence[StartRequest], *, now: float) -> Message:
    """Recent requests in the channel, newest first, one line each."""
    if not reqs:
        return message(
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
    return message(f"{m.count(len(reqs), 'recent request')}", blocks)


def refusal_message(markup: str) -> Message:
    """A refusal written by the bot itself (``:no_entry: …``) whose ``markup`` is mrkdwn with
    mentions already in place; any outside text in it must have been escaped by its author."""
    body = f":no_entry: {kit.cut_markup(markup, 1500)}"
    return message(body, [kit.section(body)])


def error_message(text: str, details: Sequence[str] = ()) -> Message:
    """A refusal or error (``:no_entry: …``); ``text`` and ``details`` are plain text, escaped.

    ``text`` of the result carries the whole message too, for ephemeral answers sent as text.
    """
    body = f":no_entry: {m.clip(text, 1500)}"
    if details:
        body += "\n" + "\n".join(f"• {m.inline(x, 300)}" for x in details[:10])
        if len(details) > 10:
            body += f"\n• … and {len(details) - 10:,} more"
    return message(body, [kit.section(body)])

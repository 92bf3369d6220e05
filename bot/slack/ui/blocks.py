"""The request message in its channel: what is asked, warnings, the jobs, and its buttons.

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
from collections.abc import Mapping

from bot.core.request import Approval, RequestState, StartRequest
from bot.slack.ui import describe as d
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId, BlockId
from bot.slack.ui.message import (
    REQUEST_JOBS_LISTED,
    SOURCE_MAX,
    Message,
    capped,
    message,
    title,
)

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
        kit.header(title(req)),
        kit.section(d.request_sentence(req)),
        kit.fields(
            [
                d.schedule_field(
                    req,
                    now if req.state.is_open else None,
                    confirm=source is not None and req.state.is_open,
                ),
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
    return message(text, blocks)


def _overlap_line(overlaps: Mapping[str, int]) -> str:
    shown = sorted(overlaps.items())[:5]
    parts = [f"{m.count(n, 'job')} in {m.code(rid, 64)}" for rid, n in shown]
    more = len(overlaps) - len(shown)
    if more > 0:
        parts.append(f"{more:,} more")
    where = "another open request" if len(overlaps) == 1 else "other open requests"
    other = "the other" if len(overlaps) == 1 else "the others"
    return (
        f"{d.WARN} *Also in {where}:* {', '.join(parts)}. A job is started once: whichever "
        f"request is approved first starts it, and DRS refuses it in {other}."
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
    lines, hidden = capped([d.requested_job_line(j) for j in req.jobs], max(max_listed, 1))
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

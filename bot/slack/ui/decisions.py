"""The decision modals: approve (with "start now instead" when the scheduled time has
passed) and reject, each restating the request."""

from __future__ import annotations

from typing import Any

from bot.core.request import StartRequest
from bot.slack.ui import describe as d
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId, BlockId, CallbackId
from bot.slack.ui.views import COMMENT_INPUT_MAX, MODAL_JOBS_LISTED, input_block, modal, text_input


def _when(at: float, now: float | None) -> str:
    return m.slack_date(at) + (f" ({m.relative(at, now)})" if now is not None else "")


def _request_summary(req: StartRequest, now: float | None) -> list[kit.Block]:
    """What an approver or rejecter decides on: the same facts the request message shows."""
    blocks: list[kit.Block] = [
        kit.section(d.request_sentence(req)),
        kit.fields(
            [
                d.schedule_field(req, now),
                f"*Requested*\n{_when(req.created_at, now)}",
                f"*Expires*\n{_when(req.expires_at, now)}",
                f"*Request*\n{m.code(req.id, 64)}",
            ]
        ),
        kit.section(d.reason_block_text(req.reason)),
    ]
    warnings = d.warning_lines(req.jobs, shown=3)
    if warnings:
        blocks += kit.line_sections(warnings)
    listed = [d.requested_job_line(j) for j in req.jobs[:MODAL_JOBS_LISTED]]
    more = len(req.jobs) - MODAL_JOBS_LISTED
    if more > 0:
        listed.append(f"… and {more:,} more (on the request message and in its thread)")
    blocks += kit.line_sections(["*Jobs*", *listed])
    return blocks


START_NOW_VALUE = "start_now"


def approve_modal(req: StartRequest, *, now: float) -> dict[str, Any]:
    """Confirm an approval (callback :attr:`CallbackId.APPROVE`, ``private_metadata`` = req.id).

    Restates project, region, job count, the first names, schedule, warnings (prepaid orders,
    unknown and unstartable jobs), requester and reason; takes an optional comment.
    """
    passed = req.start_time_ms is not None and req.start_time_ms / 1000 <= now
    if req.start_time_ms is None:
        when = "DRS starts the jobs as soon as you approve."
    elif passed:
        when = "DRS starts the jobs as soon as you approve, if you tick *Start now instead*."
    else:
        when = f"DRS starts the jobs at {m.slack_date(req.start_time_ms / 1000)}."
    late: list[kit.Block] = []
    if passed and req.start_time_ms is not None:
        late = [
            kit.section(
                f":warning: *Its scheduled time has passed* "
                f"({m.slack_date(req.start_time_ms / 1000)}). Approving starts it now only if "
                "you tick the box below; otherwise reject it and ask for a new request."
            ),
            input_block(
                BlockId.START_NOW,
                "When to start",
                {
                    "type": "checkboxes",
                    "action_id": ActionId.START_NOW.value,
                    "options": [
                        kit.option(
                            "Start now instead",
                            START_NOW_VALUE,
                            "Recorded in the audit trail and said in the thread",
                        )
                    ],
                },
                optional=True,
            ),
        ]
    blocks = [
        *_request_summary(req, now),
        *late,
        kit.divider(),
        input_block(
            BlockId.COMMENT,
            "Comment (optional)",
            text_input(ActionId.COMMENT, multiline=True, max_length=COMMENT_INPUT_MAX),
            optional=True,
        ),
        kit.context(f":white_check_mark: {when} A start cannot be undone from here."),
    ]
    return modal(CallbackId.APPROVE, "Approve request", "Approve and start", "Back", blocks, req.id)


def reject_modal(req: StartRequest, *, now: float | None = None) -> dict[str, Any]:
    """Reject with a required reason (callback :attr:`CallbackId.REJECT`, metadata = req.id)."""
    blocks = [
        *_request_summary(req, now),
        kit.divider(),
        input_block(
            BlockId.COMMENT,
            "Why are you rejecting it?",
            text_input(ActionId.COMMENT, multiline=True, max_length=COMMENT_INPUT_MAX),
            optional=False,
            hint="Shown on the request message. Nothing will be started.",
        ),
    ]
    return modal(CallbackId.REJECT, "Reject request", "Reject", "Back", blocks, req.id)

"""Change freezes on screen: the approve form's "Override freeze" choice, the thread's word
on a broken glass, and ``/startjobs freezes``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.freeze import Kind, WindowState, duration_text
from bot.core.request import StartRequest
from bot.service.freezes import ApprovalFreeze
from bot.service.ports import FreezeOverridden
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.forms import selected_values, text_value
from bot.slack.ui.ids import ActionId, BlockId
from bot.slack.ui.message import Message
from bot.slack.ui.views import COMMENT_INPUT_MAX, input_block, text_input

OVERRIDE_VALUE = "override_freeze"


def freeze_blocks(frozen: ApprovalFreeze) -> list[kit.Block]:
    """What the approve form shows when a change freeze holds the start: the window, and to
    one who may break the glass, the explicit choice and a required reason."""
    said = kit.section(f":no_entry: *Change freeze.* {kit.cut_markup(frozen.text, 2500)}.")
    if not frozen.may_override:
        return [said, kit.context(kit.cut_markup(frozen.refusal(asked=False), 2000))]
    return [
        said,
        input_block(
            BlockId.FREEZE_OVERRIDE,
            "Break the glass",
            {
                "type": "checkboxes",
                "action_id": ActionId.FREEZE_OVERRIDE.value,
                "options": [
                    kit.option(
                        "Override freeze",
                        OVERRIDE_VALUE,
                        "Start inside the freeze: recorded in the audit trail, said in the thread",
                    )
                ],
            },
            optional=True,
        ),
        input_block(
            BlockId.OVERRIDE_REASON,
            "Why override the freeze?",
            text_input(ActionId.OVERRIDE_REASON, multiline=True, max_length=COMMENT_INPUT_MAX),
            optional=True,
            hint="Required with “Override freeze”: the change record, the incident, who agreed.",
        ),
    ]


def with_freeze(form: dict[str, Any], frozen: ApprovalFreeze | None) -> dict[str, Any]:
    """The approve form ``form`` with :func:`freeze_blocks` before its comment (unchanged when
    no freeze holds)."""
    if frozen is None:
        return form
    blocks: list[kit.Block] = list(form.get("blocks") or [])
    at = next(
        (i for i, b in enumerate(blocks) if b.get("block_id") == BlockId.COMMENT.value),
        len(blocks),
    )
    at = at - 1 if at > 0 and blocks[at - 1].get("type") == "divider" else at
    extra = freeze_blocks(frozen)
    if len(blocks) + len(extra) > kit.VIEW_BLOCKS_MAX:
        return form
    return {**form, "blocks": [*blocks[:at], *extra, *blocks[at:]]}


def read_override(values: Any) -> tuple[bool, str]:
    """(ticked "Override freeze", the reason given) from the approve form's values."""
    ticked = OVERRIDE_VALUE in selected_values(
        values, BlockId.FREEZE_OVERRIDE, ActionId.FREEZE_OVERRIDE
    )
    return ticked, text_value(values, BlockId.OVERRIDE_REASON, ActionId.OVERRIDE_REASON)


def override_note_text(req: StartRequest, note: FreezeOverridden) -> str:
    names = ", ".join(f"“{m.inline(n, 64)}”" for n in note.windows)
    return (
        f":rotating_light: {m.mention(note.approver)} broke the glass: approved {req.id} inside "
        f"change freeze {names}. Reason: {m.inline(note.reason, 500)}"
    )


def freezes_message(rows: Sequence[tuple[str, Sequence[WindowState]]], *, now: float) -> Message:
    """``/startjobs freezes``: per project the asker may see, each window that applies, open
    now (until when) or its next opening. Times are Slack dates: each reader sees them in
    their own timezone."""
    lines: list[str] = ["*Change freezes*"]
    for project, states in rows:
        if not states:
            lines.append(f"*{m.inline(project, 64)}*: no freeze window applies")
            continue
        lines.append(f"*{m.inline(project, 64)}*")
        lines += [f"• {_state_line(s, now)}" for s in states]
    if len(lines) == 1:
        lines.append("You are in no project, so there is nothing to show.")
    open_now = sum(1 for _, states in rows for s in states if s.span is not None)
    text = f"Change freezes: {m.count(open_now, 'window')} open now"
    return Message(text, kit.line_sections(lines))


def _state_line(state: WindowState, now: float) -> str:
    w = state.window
    kind = "deny" if w.kind is Kind.DENY else "allow"
    head = (
        f"{m.inline(w.name, 64)} ({kind}, {m.code(w.schedule.text, 60)} "
        f"{m.inline(w.timezone, 40)} for {duration_text(w.duration)})"
    )
    if state.span is not None:
        until = "at least until" if not state.span.exact else "until"
        now_text = f":no_entry: *open now*, {until} {_at(state.span.ends, now)}"
    else:
        now_text = "closed now"
    nxt = (
        f"next opens {_at(state.next_opening, now)}"
        if state.next_opening is not None
        else "does not open again within a year"
    )
    reason = f" — {m.inline(w.reason, 200)}" if w.reason else ""
    return f"{head}: {now_text}; {nxt}{reason}"


def _at(t: float, now: float) -> str:
    return f"{m.slack_date(t)} ({m.relative(t, now)})"

"""DRS's precheck on the request message: a summary line, the jobs that have not passed (the
first few failed items of each by name and result), and the Run precheck button.

Bounded whatever the request's size: one counts line, at most :data:`JOBS_SHOWN` job lines and
:data:`ITEMS_SHOWN` items per job, in at most three blocks; a message near Slack's 50 blocks
keeps only the counts line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.precheck import (
    JobPrecheck,
    PrecheckRule,
    PrecheckState,
    counts,
    not_passed,
    to_run,
)
from bot.core.request import RequestState, StartRequest
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId, BlockId
from bot.slack.ui.message import Message

JOBS_SHOWN = 8
ITEMS_SHOWN = 3
_OK, _FAIL, _RUN, _NONE, _WARN = (
    ":white_check_mark:",
    ":x:",
    ":hourglass:",
    ":grey_question:",
    ":warning:",
)


def with_prechecks(
    msg: Message,
    req: StartRequest,
    prechecks: Mapping[str, JobPrecheck] | None,
    rule: PrecheckRule,
) -> Message:
    """``msg`` (the request message) with its jobs' prechecks, while the request is pending;
    unchanged when the project's rule is off or nothing was read."""
    if prechecks is None or rule is PrecheckRule.OFF or req.state is not RequestState.PENDING:
        return msg
    blocks = list(msg.blocks)
    room = kit.MESSAGE_BLOCKS_MAX - len(blocks) - 1
    if room < 1:
        return msg
    added = precheck_blocks(req.job_ids, prechecks, rule)[:room]
    at = next((i for i, b in enumerate(blocks) if b.get("type") == "divider"), len(blocks))
    blocks[at:at] = added
    if to_run(req.job_ids, prechecks):
        _add_button(blocks, req.id)
    return Message(text=msg.text, blocks=blocks)


def precheck_blocks(
    job_ids: Sequence[str], prechecks: Mapping[str, JobPrecheck], rule: PrecheckRule
) -> list[kit.Block]:
    """The counts line, then the jobs that have not passed."""
    tally = counts(job_ids, prechecks)
    parts = [f"{_OK} {tally.passed:,} passed"]
    for n, icon, word in (
        (tally.failed, _FAIL, "failed"),
        (tally.running, _RUN, "running"),
        (tally.never_run, _NONE, "never run"),
        (tally.unreadable, _WARN, "not read"),
    ):
        if n:
            parts.append(f"{icon} {n:,} {word}")
    head = f"*DRS precheck* — {' · '.join(parts)}"
    missing = not_passed(job_ids, prechecks)
    if missing and rule is PrecheckRule.REQUIRE:
        head += (
            f"\n{_WARN} Project policy requires a passed precheck: approval waits until every "
            "job passes. *Run precheck* starts it for the jobs that need it."
        )
    elif missing:
        head += (
            f"\n{_WARN} {m.count(len(missing), 'job')} have not passed their precheck; the "
            "project only warns, so approval may go ahead (DRS may refuse to start them)."
        )
    blocks = [kit.section(head)]
    lines = [_job_line(j, prechecks.get(j)) for j in missing[:JOBS_SHOWN]]
    if len(missing) > JOBS_SHOWN:
        lines.append(f"…and {len(missing) - JOBS_SHOWN:,} more jobs not passed")
    if lines:
        blocks += kit.line_sections(lines)[:2]
    return blocks


def _job_line(job_id: str, p: JobPrecheck | None) -> str:
    who = m.code(job_id, 40)
    if p is None or p.state is PrecheckState.UNREADABLE:
        why = f": {m.inline(p.reason, 160)}" if p is not None and p.reason else ""
        return f"{_WARN} {who} could not be read{why}"
    if p.state is PrecheckState.RUNNING:
        return f"{_RUN} {who} running"
    if p.state is PrecheckState.NEVER_RUN:
        return f"{_NONE} {who} never run"
    rate = f" ({m.inline(p.passed_rate, 16)} passed)" if p.passed_rate else ""
    items = [
        f"{m.inline(i.item, 60)} {m.inline(i.result, 16)}" for i in p.failed_items[:ITEMS_SHOWN]
    ]
    more = len(p.failed_items) - ITEMS_SHOWN
    if more > 0:
        items.append(f"+{more} more")
    detail = ": " + ", ".join(items) if items else ""
    if not items and p.reason:
        detail = f": {m.inline(p.reason, 160)}"
    return f"{_FAIL} {who} failed{rate}{detail}"


def _add_button(blocks: list[kit.Block], request_id: str) -> None:
    """Run precheck first in the request's actions (a new block: the message given is kept)."""
    for at, block in enumerate(blocks):
        if block.get("type") == "actions" and block.get("block_id") == BlockId.REQUEST_ACTIONS:
            elements = block["elements"]
            if len(elements) < 25:
                button = kit.button("Run precheck", ActionId.RUN_PRECHECK, request_id)
                blocks[at] = {**block, "elements": [button, *elements]}
            return

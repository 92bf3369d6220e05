"""The prechecks on a request message: placed before its first divider, cut to the room
Slack's 50 blocks leave, and the Run precheck button only while a job needs one."""

from __future__ import annotations

from sample_requests import NOW, request

from bot.core.precheck import JobPrecheck, PrecheckRule, PrecheckState
from bot.slack.ui import blocks as request_blocks
from bot.slack.ui import kit
from bot.slack.ui.ids import ActionId
from bot.slack.ui.message import Message
from bot.slack.ui.precheck import with_prechecks


def _failed(job_ids: list[str]) -> dict[str, JobPrecheck]:
    return {j: JobPrecheck(j, PrecheckState.FAILED, read_at=NOW) for j in job_ids}


def _padded(msg: Message, total: int) -> Message:
    filler = [kit.context("filler") for _ in range(total - len(msg.blocks))]
    return Message(msg.text, [*msg.blocks, *filler])


def _has_button(msg: Message) -> bool:
    return any(
        e.get("action_id") == ActionId.RUN_PRECHECK.value
        for b in msg.blocks
        if b["type"] == "actions"
        for e in b["elements"]
    )


def test_prechecks_go_before_the_first_divider_with_the_run_button() -> None:
    req = request(12)
    msg = request_blocks.request_message(req, now=NOW)
    shown = with_prechecks(msg, req, _failed(list(req.job_ids)), PrecheckRule.REQUIRE)
    first_divider = next(i for i, b in enumerate(msg.blocks) if b["type"] == "divider")
    assert len(shown.blocks) == len(msg.blocks) + 2  # the counts line, then the job lines
    assert "*DRS precheck*" in shown.blocks[first_divider]["text"]["text"]
    assert "…and 4 more jobs not passed" in shown.blocks[first_divider + 1]["text"]["text"]
    assert _has_button(shown) and not _has_button(msg)


def test_a_message_near_fifty_blocks_keeps_only_the_counts_line() -> None:
    req = request(12)
    msg = _padded(request_blocks.request_message(req, now=NOW), kit.MESSAGE_BLOCKS_MAX - 2)
    shown = with_prechecks(msg, req, _failed(list(req.job_ids)), PrecheckRule.REQUIRE)
    assert len(shown.blocks) == kit.MESSAGE_BLOCKS_MAX - 1
    assert sum("*DRS precheck*" in str(b) for b in shown.blocks) == 1


def test_a_full_message_and_a_passed_request_are_left_as_they_are() -> None:
    req = request(3)
    msg = request_blocks.request_message(req, now=NOW)
    full = _padded(msg, kit.MESSAGE_BLOCKS_MAX - 1)
    assert with_prechecks(full, req, _failed(list(req.job_ids)), PrecheckRule.REQUIRE) is full
    passed = {j: JobPrecheck(j, PrecheckState.PASSED, read_at=NOW) for j in req.job_ids}
    shown = with_prechecks(msg, req, passed, PrecheckRule.REQUIRE)
    assert len(shown.blocks) == len(msg.blocks) + 1 and not _has_button(shown)
    assert with_prechecks(msg, req, passed, PrecheckRule.OFF) is msg

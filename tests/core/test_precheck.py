"""The precheck decisions: which jobs block approval or sending under each rule, which mode a
job needs, what Run precheck starts, and why a held job was not sent."""

from __future__ import annotations

from bot.core.precheck import (
    FailedItem,
    JobPrecheck,
    PrecheckMode,
    PrecheckRule,
    PrecheckState,
    blocking,
    counts,
    mode_for,
    stale_reason,
    to_run,
    warned,
)

JOBS = ["a", "b", "c", "d", "e"]
READ = {
    "a": JobPrecheck("a", PrecheckState.PASSED),
    "b": JobPrecheck("b", PrecheckState.FAILED, failed_items=(FailedItem("Disk", "FAILED"),)),
    "c": JobPrecheck("c", PrecheckState.RUNNING),
    "d": JobPrecheck("d", PrecheckState.NEVER_RUN),
    # "e" was never read: it counts as not passed, never as passed
}


def test_require_blocks_every_job_not_passed_warn_and_off_block_none() -> None:
    assert blocking(PrecheckRule.REQUIRE, JOBS, READ) == ["b", "c", "d", "e"]
    assert blocking(PrecheckRule.WARN, JOBS, READ) == []
    assert blocking(PrecheckRule.OFF, JOBS, READ) == []
    assert warned(PrecheckRule.WARN, JOBS, READ) == ["b", "c", "d", "e"]
    assert warned(PrecheckRule.REQUIRE, JOBS, READ) == []
    assert blocking(PrecheckRule.REQUIRE, ["a"], READ) == []


def test_run_precheck_starts_what_is_neither_passed_nor_running() -> None:
    assert to_run(JOBS, READ) == ["b", "d", "e"]


def test_mode_follows_the_task_status() -> None:
    assert mode_for("CONFIGURATION") is PrecheckMode.FOR_START
    assert mode_for(" configuration ") is PrecheckMode.FOR_START
    assert mode_for(None) is PrecheckMode.FOR_START
    assert mode_for("START_JOB_FAILED") is PrecheckMode.FOR_RETRY
    assert mode_for("INCRE_TRANSFER_STARTED") is PrecheckMode.FOR_RETRY


def test_counts_and_reasons() -> None:
    tally = counts(JOBS, READ)
    assert (tally.passed, tally.failed, tally.running, tally.never_run, tally.unreadable) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert tally.total == 5
    assert stale_reason(READ["b"]) == (
        "its precheck failed when read again right before sending: Disk FAILED"
    )
    assert "could not be confirmed" in stale_reason(None)
    unread = JobPrecheck("x", PrecheckState.UNREADABLE, reason="HTTP 503")
    assert "HTTP 503" in stale_reason(unread)

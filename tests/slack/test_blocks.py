"""Messages: every builder and request state within Slack's limits, escaped, and saying the
right things."""

from __future__ import annotations

import dataclasses
import re

import pytest
from blockkit_checks import action_ids, all_text, check_message, mrkdwn_text
from sample_requests import (
    EVIL,
    EVIL_RENDERED,
    NOW,
    decided,
    job,
    job_id,
    jobs,
    mixed_outcomes,
    request,
)

from bot.core.model import CallFailure, CallFailureKind, JobInfo, Outcome
from bot.core.policy import Membership, ProjectPolicy
from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
)
from bot.core.status import HELD_BY_BOT_CODES
from bot.slack.ui import answers, blocks, outcome
from bot.slack.ui.ids import ActionId, BlockId
from bot.slack.ui.message import Message

FINAL_OR_STARTED = [s for s in RequestState if s is not RequestState.PENDING]
SIZES = [1, 15, 16, 1000, 5000]


def _buttons(msg: Message) -> list[dict[str, object]]:
    return [e for b in msg.blocks if b["type"] == "actions" for e in b["elements"]]


# --- request message ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(RequestState))
@pytest.mark.parametrize("approval", list(Approval))
@pytest.mark.parametrize("size", SIZES)
def test_request_message_within_limits_for_every_state_and_size(
    state: RequestState, approval: Approval, size: int
) -> None:
    req = decided(request(size, approval=approval), state) if state.value != "pending" else None
    req = req or request(size, approval=approval)
    check_message(blocks.request_message(req, now=NOW))


def test_pending_two_person_has_approve_reject_cancel_carrying_only_the_request_id() -> None:
    msg = blocks.request_message(request(3), now=NOW)
    buttons = _buttons(msg)
    assert [b["action_id"] for b in buttons] == [ActionId.APPROVE, ActionId.REJECT, ActionId.CANCEL]
    assert {b["value"] for b in buttons} == {"r-7f3a9c"}
    styles = {b["action_id"]: b.get("style") for b in buttons}
    assert styles == {ActionId.APPROVE: "primary", ActionId.REJECT: "danger", ActionId.CANCEL: None}
    cancel = buttons[2]
    assert "confirm" in cancel
    assert [b["block_id"] for b in msg.blocks if b["type"] == "actions"] == [
        BlockId.REQUEST_ACTIONS
    ]


def test_pending_without_approval_has_cancel_only() -> None:
    msg = blocks.request_message(request(3, approval=Approval.NONE), now=NOW)
    assert action_ids(msg.blocks) == [ActionId.CANCEL]
    assert ActionId.APPROVE not in action_ids(msg.blocks)


@pytest.mark.parametrize("state", FINAL_OR_STARTED)
def test_decided_states_have_no_actions(state: RequestState) -> None:
    msg = blocks.request_message(decided(request(3), state), now=NOW)
    assert all(b["type"] != "actions" for b in msg.blocks)
    assert action_ids(msg.blocks) == []


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (RequestState.REJECTED, ["Rejected", "<@U02BOB>", "ok for tonight"]),
        (RequestState.CANCELLED, ["Cancelled", "<@U02BOB>", "Nothing was started"]),
        (RequestState.EXPIRED, ["Expired", "Nothing was started"]),
        (RequestState.APPROVED, ["Starting", "Approved by <@U02BOB>"]),
        (RequestState.STARTING, ["Starting", "Approved by <@U02BOB>"]),
        (RequestState.DONE, ["Done", "3 started", "Approved by <@U02BOB>"]),
        (RequestState.FAILED, ["Failed", "no job was started"]),
        (RequestState.UNKNOWN, ["Outcome unknown", "3 unknown"]),
    ],
)
def test_final_status_line_says_who_decided_when_and_what_happened(
    state: RequestState, words: list[str]
) -> None:
    text = all_text(blocks.request_message(decided(request(3), state), now=NOW).blocks)
    for word in words:
        assert word in text
    if state is not RequestState.EXPIRED:
        assert f"<!date^{int(NOW - 60)}^" in text  # the decision time, in each reader's timezone


def test_done_with_failures_is_not_shown_as_a_plain_success() -> None:
    req = dataclasses.replace(decided(request(5), RequestState.DONE), jobs=mixed_outcomes(5))
    text = all_text(blocks.request_message(req, now=NOW).blocks)
    assert "Done, with failures" in text
    assert "1 failed" in text


def test_pending_warns_about_unknown_unstartable_and_prepaid_jobs() -> None:
    req = request(
        4,
        jobs=(
            job(0),
            job(1, status_at_request=None, name=None, error_code="DRS.M05003"),
            job(2, status_at_request="FULL_TRANSFER_STARTED"),
            job(3, prepaid=True),
        ),
    )
    text = all_text(blocks.request_message(req, now=NOW).blocks)
    assert "1 job unknown to DRS" in text
    assert "DRS.M05003" in text
    assert "1 job not startable now" in text
    assert "FULL_TRANSFER_STARTED" in text
    assert "1 prepaid job" in text
    assert "order" in text


def test_no_warnings_for_clean_request() -> None:
    text = all_text(blocks.request_message(request(3), now=NOW).blocks)
    assert ":warning:" not in text


def test_big_request_lists_the_first_jobs_and_counts_the_rest() -> None:
    req = request(
        1000, jobs=(*jobs(990), *(job(990 + i, status_at_request=None) for i in range(10)))
    )
    msg = blocks.request_message(req, now=NOW, max_listed=15)
    text = all_text(msg.blocks)
    assert "Showing 15 of 1,000 jobs" in text
    assert "990 `CONFIGURATION`" in text
    assert "10 `not found`" in text
    assert job_id(14) in text
    assert job_id(15) not in text.split("*Jobs*")[1]
    assert "10 jobs unknown to DRS" in text  # warnings still name every problem group


def test_scheduled_start_is_rendered_in_each_readers_timezone() -> None:
    at = int(NOW + 3600)
    text = all_text(blocks.request_message(request(2, start_time_ms=at * 1000), now=NOW).blocks)
    assert f"<!date^{at}^{{date_short_pretty}} {{time}}|" in text
    assert "Scheduled start" in text
    assert "in 1 h" in text


def test_scheduled_start_in_the_past_is_flagged_on_a_pending_request() -> None:
    at = int(NOW - 60)
    text = all_text(blocks.request_message(request(2, start_time_ms=at * 1000), now=NOW).blocks)
    assert "this time has passed" in text


def test_lookup_problem_is_shown_escaped() -> None:
    msg = blocks.request_message(request(2), now=NOW, lookup_problem=f"DRS said {EVIL}")
    check_message(msg)
    assert "Jobs not checked with DRS" in all_text(msg.blocks)
    assert EVIL_RENDERED in all_text(msg.blocks)


# --- escaping everywhere -------------------------------------------------------------------------


def _evil_request(state: RequestState = RequestState.PENDING, n: int = 4) -> StartRequest:
    evil_jobs = tuple(
        job(
            i,
            name=EVIL,
            status_at_request=EVIL if i == 1 else "CONFIGURATION",
            outcome=Outcome.FAILED if i % 2 else Outcome.SUCCESS,
            error_code=EVIL if i % 2 else None,
            error_msg=EVIL if i % 2 else None,
            order_id=EVIL if i == 2 else None,
            drs_status=EVIL if i == 3 else None,
            prepaid=i == 2,
        )
        for i in range(n)
    )
    return dataclasses.replace(
        request(n),
        project=EVIL,
        reason=EVIL,
        jobs=evil_jobs,
        state=state,
        decided_by="U02BOB",
        decided_at=NOW,
        decision_comment=EVIL,
    )


@pytest.mark.parametrize("state", list(RequestState))
def test_user_and_drs_text_is_escaped_in_the_request_message(state: RequestState) -> None:
    req = _evil_request(state)
    msg = blocks.request_message(req, now=NOW)
    check_message(msg)  # fails on any "<" that is not our own markup
    text = mrkdwn_text(msg.blocks) + msg.text
    assert "<!channel>" not in text
    assert "<!here>" not in text
    assert "<http" not in text
    assert "<@U0EVIL>" not in text
    assert EVIL_RENDERED in text


def test_user_and_drs_text_is_escaped_in_outcome_status_and_history() -> None:
    req = _evil_request(RequestState.DONE)
    failure = CallFailure(CallFailureKind.BAD_REQUEST, EVIL, 400, EVIL, EVIL)
    events = [
        AuditEvent("r-7f3a9c", NOW, "U02BOB", AuditKind.REJECTED, {"comment": EVIL}),
        AuditEvent(
            "r-7f3a9c", NOW, None, AuditKind.DRS_CALL, {"operation": EVIL, "request_id": EVIL}
        ),
        AuditEvent("r-7f3a9c", NOW, EVIL, AuditKind.REFUSED, {"reason": EVIL}),
    ]
    for msg in (
        outcome.outcome_message(req, failures=[failure], mention_requester=True),
        answers.status_message(req, events, now=NOW),
        answers.history_message([req], now=NOW),
        outcome.settled_message(req),
        answers.error_message(EVIL, [EVIL]),
        answers.help_message(command=EVIL, projects=[_member(EVIL)]),
        answers.not_understood_message(EVIL, command=EVIL, suggestion=EVIL, projects=[EVIL]),
        answers.no_such_request_message(EVIL),
        answers.job_status_message([JobInfo(job_id=EVIL, name=EVIL, status=EVIL, error_msg=EVIL)]),
    ):
        check_message(msg)
        text = mrkdwn_text(msg.blocks) + msg.text
        assert "<!channel>" not in text
        assert EVIL_RENDERED in text


# --- outcome in the thread -----------------------------------------------------------------------


def _positions(text: str, ids: list[str]) -> list[int]:
    return [text.index(i) for i in ids]


def test_outcome_lists_failures_first_then_unknown_then_not_sent_then_started() -> None:
    req = decided(request(10, jobs=mixed_outcomes(10)), RequestState.UNKNOWN)
    text = all_text(outcome.outcome_message(req).blocks)
    failed, unknown, not_sent, started = job_id(6), job_id(2), job_id(3), job_id(0)
    a, b, c, d = _positions(text, [failed, unknown, not_sent, started])
    assert a < b < c < d
    assert all(text.index(job_id(i)) < text.index(job_id(0)) for i in (1, 6))


def test_outcome_summary_counts_and_orders() -> None:
    req = decided(request(10, jobs=mixed_outcomes(10)), RequestState.UNKNOWN)
    msg = outcome.outcome_message(req)
    check_message(msg)
    text = all_text(msg.blocks)
    assert "*4 started*" in text
    assert "*2 failed*" in text
    assert "*2 unknown*" in text
    assert "2 not sent" in text
    assert "2 orders placed" in text
    assert "CS2609000004" in text  # the order id, so the approver can find the order
    assert "DRS.M01504" in text
    assert "Another operation is running" in text
    assert "prod: 4 started, 2 failed, 2 unknown, 2 not sent" in msg.text


def test_outcome_of_scheduled_start_says_scheduled() -> None:
    at = int(NOW + 7200)
    req = decided(request(3, start_time_ms=at * 1000), RequestState.DONE)
    text = all_text(outcome.outcome_message(req).blocks)
    assert "*3 scheduled*" in text
    assert f"<!date^{at}^" in text


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("STARTJOBING", ":hourglass_flowing_sand: *mig-shop-0000*"),
        ("FULL_TRANSFER_STARTED", ":white_check_mark: *mig-shop-0000*"),
        ("WAITING_FOR_START", ":clock3: *mig-shop-0000*"),
        ("START_JOB_FAILED", ":x: *mig-shop-0000*"),
    ],
)
def test_outcome_shows_the_follow_up_phase(status: str, expected: str) -> None:
    req = decided(
        request(1, jobs=(job(0, outcome=Outcome.SUCCESS, drs_status=status),)), RequestState.DONE
    )
    text = all_text(outcome.outcome_message(req).blocks)
    assert expected in text
    assert f"`{status}`" in text


def test_unknown_outcome_later_seen_by_the_follow_up() -> None:
    j = job(0, outcome=Outcome.UNKNOWN, drs_status="CONFIGURATION")
    text = all_text(outcome.outcome_message(request(1, jobs=(j,))).blocks)
    assert "outcome unknown · DRS says `CONFIGURATION`" in text
    assert "do not start them again by hand" in text


def test_whole_call_failure_shows_kind_status_code_message_and_request_id() -> None:
    req = decided(request(3), RequestState.FAILED)
    failure = CallFailure(
        kind=CallFailureKind.AUTH,
        message="The IAM user is not authorized.",
        http_status=403,
        error_code="APIGW.0302",
        request_id="8e8a7a7c3f1d4c1b",
    )
    msg = outcome.outcome_message(req, failures=[failure])
    check_message(msg)
    text = all_text(msg.blocks)
    assert "`8e8a7a7c3f1d4c1b`" in text
    assert "X-Request-Id" in text
    assert "HTTP 403" in text
    assert "`APIGW.0302`" in text
    assert "(auth)" in text
    assert "The IAM user is not authorized." in text
    assert "IAM policy" in text  # what to do


def test_failure_that_may_have_reached_drs_warns_against_resending() -> None:
    failure = CallFailure(CallFailureKind.TIMEOUT, "read timed out", maybe_processed=True)
    msg = outcome.outcome_message(decided(request(2), RequestState.UNKNOWN), failures=[failure])
    text = all_text(msg.blocks)
    assert "may have started" in text
    assert "X-Request-Id _none_" in text


def test_many_call_failures_are_capped() -> None:
    failures = [
        CallFailure(CallFailureKind.SERVER, f"boom {i}", 500, None, f"rid-{i}") for i in range(12)
    ]
    msg = outcome.outcome_message(decided(request(2), RequestState.UNKNOWN), failures=failures)
    check_message(msg)
    assert "7 more failed calls" in all_text(msg.blocks)


@pytest.mark.parametrize("size", [1, 20, 21, 1000, 5000])
def test_outcome_caps_rows_and_points_at_the_csv(size: int) -> None:
    req = decided(request(size, jobs=mixed_outcomes(size)), RequestState.UNKNOWN)
    msg = outcome.outcome_message(req, max_rows=20)
    check_message(msg)
    text = all_text(msg.blocks)
    rows = sum(1 for line in text.splitlines() if "*mig-shop-" in line)
    assert rows == min(size, 20)
    assert outcome.needs_csv(req, 20) is (size > 20)
    if size > 20:
        assert f"… and {size - 20:,} more — full table in the attached CSV." in text
    else:
        assert "attached CSV" not in text


def test_long_error_messages_shorten_the_list_instead_of_breaking_limits() -> None:
    long_jobs = tuple(
        job(
            i, name="n" * 300, outcome=Outcome.FAILED, error_code="DRS.M00304", error_msg="&" * 2000
        )
        for i in range(20)
    )
    req = decided(request(20, jobs=long_jobs), RequestState.DONE)
    msg = outcome.outcome_message(req, max_rows=20)
    check_message(msg)
    # The message left rows out to stay small, so it must say so and the CSV must be attached.
    assert outcome.needs_csv(req, 20)
    assert "full table in the attached CSV" in all_text(msg.blocks)


def test_per_job_refusals_in_an_accepted_call_are_not_called_a_refused_call() -> None:
    # DRS answered 202 and refused each job (DRS.M00304): no call failed as a whole.
    req = decided(request(3), RequestState.FAILED)
    msg = outcome.outcome_message(req)
    check_message(msg)
    text = all_text(msg.blocks)
    assert "*3 jobs did not start* — DRS answered for each: the reasons are below." in text
    assert "The call as a whole went through." in text
    assert "refused the call" not in text
    one = outcome.outcome_message(decided(request(1), RequestState.FAILED))
    assert "*1 job did not start* — DRS answered for it: the reason is below." in all_text(
        one.blocks
    )
    status = all_text(blocks.request_message(req, now=NOW).blocks)
    assert "refused the call" not in status
    assert "no job was started" in status


@pytest.mark.parametrize("code", sorted(HELD_BY_BOT_CODES))
def test_jobs_the_bot_held_back_are_not_said_to_be_refused_by_drs(code: str) -> None:
    """A freeze, a passed schedule or a precheck stopped the start before any DRS call: the
    outcome says the bot held the jobs back, not that DRS answered for each."""
    held = tuple(
        RequestJob(j.job_id, name=j.name, outcome=Outcome.FAILED, error_code=code, error_msg="x")
        for j in request(3).jobs
    )
    req = decided(request(3, jobs=held), RequestState.FAILED)
    text = all_text(outcome.outcome_message(req).blocks)
    assert "*3 jobs not sent* — held back before DRS was asked" in text
    assert "DRS answered" not in text and "went through" not in text
    status = all_text(blocks.request_message(req, now=NOW).blocks)
    assert "no job was started" in status and "DRS's reasons" not in status


def test_a_whole_call_failure_is_not_described_as_per_job_refusals() -> None:
    req = decided(request(3), RequestState.FAILED)
    failure = CallFailure(CallFailureKind.BAD_REQUEST, "bad body", 400, "DRS.M00289", "rid-1")
    text = all_text(outcome.outcome_message(req, failures=[failure]).blocks)
    assert "DRS rejected the request" in text
    assert "did not start* — DRS answered" not in text
    # A call that may have been processed explains unknown jobs, not failed ones.
    mixed = decided(request(4, jobs=mixed_outcomes(4)), RequestState.UNKNOWN)
    timeout = CallFailure(CallFailureKind.TIMEOUT, "read timed out", maybe_processed=True)
    text = all_text(outcome.outcome_message(mixed, failures=[timeout]).blocks)
    assert "did not start* — DRS answered" in text


def test_counts_leave_out_empty_categories_and_read_well_for_one_job() -> None:
    req = decided(request(1), RequestState.FAILED)
    msg = outcome.outcome_message(req, mention_requester=True)
    text = all_text(msg.blocks)
    assert "0 started" not in text and "0 started" not in msg.text
    assert msg.text == "<@U01ALICE> the job settled. prod: 1 failed"
    assert text.startswith("<@U01ALICE> the job settled.\n")
    assert "all 1 job" not in text
    settled = outcome.settled_message(req)
    assert settled.text.startswith("<@U01ALICE> the job settled. :x: *1 failed*")
    assert "0 started" not in all_text(settled.blocks)
    line = all_text(blocks.request_message(req, now=NOW).blocks)
    assert "0 started" not in line
    assert "*Failed* — no job was started: :x: *1 failed*" in line
    history = all_text(answers.history_message([req], now=NOW).blocks)
    assert "(:x: *1 failed*)" in history
    chosen = blocks.request_message(request(1), now=NOW, source="name mig-*")
    assert "exactly this job is started" in all_text(chosen.blocks)
    assert "exactly these 3 jobs are started" in all_text(
        blocks.request_message(request(3), now=NOW, source="name mig-*").blocks
    )


def test_mention_requester_starts_with_the_settled_line() -> None:
    msg = outcome.outcome_message(decided(request(3), RequestState.DONE), mention_requester=True)
    assert msg.blocks[0]["text"]["text"].startswith("<@U01ALICE> all 3 jobs settled.")
    assert msg.text.startswith("<@U01ALICE> all 3 jobs settled.")


def test_retry_attempt_names_who_retried() -> None:
    msg = outcome.outcome_message(
        decided(request(3), RequestState.DONE), attempt=2, actor="U03CAROL"
    )
    assert "retry 1 by <@U03CAROL>" in msg.blocks[0]["text"]["text"]


def test_settled_message_mentions_the_requester_and_counts_statuses() -> None:
    js = tuple(
        job(i, outcome=Outcome.SUCCESS, drs_status="FULL_TRANSFER_STARTED") for i in range(3)
    )
    msg = outcome.settled_message(decided(request(3, jobs=js), RequestState.DONE))
    check_message(msg)
    text = all_text(msg.blocks)
    assert text.startswith("<@U01ALICE> all 3 jobs settled.")
    assert "3 `FULL_TRANSFER_STARTED`" in text


# --- retry button --------------------------------------------------------------------------------


def test_retry_blocks_absent_without_retryable_jobs() -> None:
    assert outcome.retry_button_blocks(request(3), 0) == []


def test_retry_button_carries_the_request_id_and_asks_to_confirm() -> None:
    extra = outcome.retry_button_blocks(request(3), 3)
    check_message(Message("retry", extra))
    (button,) = [e for b in extra if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == ActionId.RETRY
    assert button["value"] == "r-7f3a9c"
    assert button["text"]["text"] == "Retry 3 failed jobs"
    assert "confirm" in button
    assert extra[-1]["block_id"] == BlockId.RETRY_ACTIONS


# --- status, history, job status, help, errors ---------------------------------------------------


def test_status_message_shows_the_audit_trail_with_drs_calls() -> None:
    req = decided(request(30, jobs=mixed_outcomes(30)), RequestState.UNKNOWN)
    events = [
        AuditEvent(req.id, NOW - 600, "U01ALICE", AuditKind.REQUESTED, {"job_count": 30}),
        AuditEvent(req.id, NOW - 300, "U02BOB", AuditKind.APPROVED, {"comment": "go"}),
        AuditEvent(
            req.id,
            NOW - 299,
            None,
            AuditKind.DRS_CALL,
            {
                "operation": "batch-starting",
                "http_status": 202,
                "request_id": "abc123",
                "job_count": 30,
            },
        ),
        AuditEvent(req.id, NOW - 200, "U02BOB", AuditKind.RETRY, {"jobs": 2}),
        AuditEvent(req.id, NOW - 199, None, AuditKind.OUTCOME, {"attempt": 2, "state": "done"}),
        AuditEvent(req.id, NOW - 198, "U03EVE", AuditKind.REFUSED, {"action": "approve"}),
        AuditEvent(
            req.id,
            NOW - 197,
            None,
            AuditKind.DRS_CALL,
            {"operation": "batch-status", "jobs": 30, "kind": "server", "error_code": "DRS.M00004"},
        ),
    ]
    msg = answers.status_message(req, events, now=NOW)
    check_message(msg)
    text = all_text(msg.blocks)
    assert "<@U01ALICE> requested 30 jobs" in text
    assert "<@U02BOB> approved: “go”" in text
    assert "DRS `batch-starting` · 30 jobs · HTTP 202 · X-Request-Id `abc123`" in text
    assert "<@U02BOB> retried 2 failed jobs" in text
    assert "outcomes recorded: attempt 2, request done" in text
    assert "<@U03EVE> was refused: approve" in text
    assert "`batch-status` · 30 jobs · no HTTP answer · `DRS.M00004` · failed (server)" in text
    assert text.index("requested 30") < text.index("approved: “go”") < text.index("batch-starting")
    assert "20 more jobs" in text


def test_status_message_caps_a_long_audit_trail() -> None:
    req = request(2)
    events = [
        AuditEvent(
            req.id,
            NOW + i,
            None,
            AuditKind.DRS_CALL,
            {"operation": "batch-status", "http_status": 200},
        )
        for i in range(200)
    ]
    msg = answers.status_message(req, events, now=NOW)
    check_message(msg)
    assert "175 earlier events not shown" in all_text(msg.blocks)


@pytest.mark.parametrize("state", list(RequestState))
def test_status_message_for_every_state(state: RequestState) -> None:
    req = decided(request(40), state) if state is not RequestState.PENDING else request(40)
    check_message(answers.status_message(req, [], now=NOW))


@pytest.mark.parametrize("size", [0, 1, 100, 5000])
def test_job_status_message(size: int) -> None:
    infos = [
        JobInfo(job_id=job_id(i), name=f"mig-{i}", status="CONFIGURATION", prepaid=i % 2 == 0)
        for i in range(size)
    ]
    if size:
        infos[0] = JobInfo(job_id=job_id(0), error_code="DRS.M05003", error_msg="not found")
    msg = answers.job_status_message(infos)
    check_message(msg)
    text = all_text(msg.blocks)
    if size == 0:
        assert "No job IDs given" in text
    else:
        assert "not found `DRS.M05003`" in text
        assert "not found `DRS.M05003`" in msg.text  # usable when sent as text alone
        assert f"*{size:,} job" in text
    if size > 60:
        assert f"{size - 60:,} more jobs not shown" in text


def test_history_lists_newest_first_and_caps() -> None:
    reqs = [
        dataclasses.replace(request(2), id=f"r-{i:03d}", created_at=NOW - 1000 + i)
        for i in range(45)
    ]
    msg = answers.history_message(reqs, now=NOW)
    check_message(msg)
    text = all_text(msg.blocks)
    assert text.index("r-044") < text.index("r-043")
    assert "r-024" not in text
    assert "25 older requests" in text
    assert "No start requests" in answers.history_message([], now=NOW).text


def test_history_shows_outcome_counts_of_started_requests() -> None:
    req = decided(request(5, jobs=mixed_outcomes(5)), RequestState.UNKNOWN)
    assert "*unknown* (" in all_text(answers.history_message([req], now=NOW).blocks)


def _member(
    name: str,
    *,
    requester: bool = True,
    approver: bool = False,
    here: bool = True,
    channels: frozenset[str] | None = None,
) -> Membership:
    project = ProjectPolicy(
        name=name,
        region="ap-southeast-1",
        project_id="0" * 32,
        endpoint=None,
        iam_endpoint=None,
        requesters=frozenset({"U01ALICE"}),
        approvers=frozenset({"U02BOB"}),
        approval=Approval.TWO_PERSON,
        channels=channels,
        max_jobs=1000,
    )
    return Membership(project, requester=requester, approver=approver, here=here)


def test_help_lists_commands_and_the_askers_projects_with_their_roles() -> None:
    projects = [
        _member("prod", approver=True),
        _member("staging", here=False, channels=frozenset({"C0OPS"})),
        _member("audit", requester=False, approver=True, here=False),
    ]
    msg = answers.help_message(command="/startjobs", projects=projects, user="U01ALICE")
    check_message(msg)
    text = all_text(msg.blocks)
    for piece in ("`/startjobs`", "/startjobs status", "/startjobs history"):
        assert piece in text
    assert "*prod* — requester, approver\n" in text
    assert "*staging* — requester; requests only in <#C0OPS>" in text
    assert "*audit* — approver\n" in text or text.endswith("*audit* — approver")


def test_help_for_someone_in_no_project_says_so_and_whom_to_ask() -> None:
    text = all_text(answers.help_message(projects=[], user="U09MALLORY").blocks)
    assert "You are not in any project" in text
    assert "access policy" in text
    assert "`U09MALLORY`" in text  # what to hand to whoever adds them


def test_not_understood_names_the_word_the_subcommands_and_the_askers_projects() -> None:
    msg = answers.not_understood_message("histroy", suggestion="history", projects=["prod", "dev"])
    check_message(msg)
    assert "I did not understand `histroy`" in msg.text
    assert "Did you mean `history`?" in msg.text
    assert "`help`, `history`, `status REQUEST-ID`, `status JOB-ID …`" in msg.text
    assert "Projects you can request in here: *prod*, *dev*" in msg.text
    nothing = answers.not_understood_message("prod", in_no_project=True).text
    assert "Did you mean" not in nothing
    assert "You are not in any project" in nothing
    elsewhere = answers.not_understood_message(
        "ops", member=_member("ops", here=False, channels=frozenset({"C0OPS"}))
    ).text
    assert "You can request in `ops` only in <#C0OPS>, not here." in elsewhere


def test_error_message_is_escaped_and_complete_in_its_text() -> None:
    msg = answers.error_message("bad <input> & more", ["first problem", "second <problem>"])
    check_message(msg)
    assert msg.text.startswith(":no_entry: bad &lt;input&gt; &amp; more")
    assert "• second &lt;problem&gt;" in msg.text
    many = answers.error_message("x", [f"p{i}" for i in range(15)])
    assert "… and 5 more" in many.text


def test_message_kwargs() -> None:
    msg = answers.error_message("nope")
    assert msg.as_kwargs() == {"text": msg.text, "blocks": msg.blocks}


def test_every_mrkdwn_date_has_a_utc_fallback() -> None:
    text = all_text(
        blocks.request_message(decided(request(2), RequestState.REJECTED), now=NOW).blocks
    )
    dates = re.findall(r"<!date\^\d+\^[^|]+\|([^>]+)>", text)
    assert dates
    assert all(d.endswith(" UTC") for d in dates)

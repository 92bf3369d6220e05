"""Arbitrary user and DRS text never breaks a limit or escapes escaping, in any builder."""

from __future__ import annotations

import dataclasses
import os

from blockkit_checks import check_message, check_view
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_requests import NOW, job, request

from bot.core.model import CallFailure, CallFailureKind, Outcome
from bot.core.request import Approval, AuditEvent, AuditKind, RequestJob, RequestState, StartRequest
from bot.slack.ui import answers, blocks, decisions, outcome, views

EXAMPLES = settings(
    max_examples=int(os.environ.get("STARTJOBS_FUZZ_EXAMPLES", "200")) // 4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DETAIL_KEYS = [
    "jobs",
    "comment",
    "reason",
    "action",
    "operation",
    "http_status",
    "request_id",
    "error_code",
    "kind",
    "attempt",
    "state",
    "started",
    "failed",
]
texts = st.text(max_size=300) | st.text(alphabet="<>&!@#|*_`~ \nU0", max_size=3000)
optional_texts = st.none() | texts


@st.composite
def requests(draw: st.DrawFn) -> StartRequest:
    n = draw(st.integers(1, 40))
    jobs: list[RequestJob] = []
    for i in range(n):
        jobs.append(
            job(
                i,
                name=draw(optional_texts),
                status_at_request=draw(st.none() | st.sampled_from(["CONFIGURATION", "DELETED"])),
                prepaid=draw(st.booleans()),
                outcome=draw(st.none() | st.sampled_from(list(Outcome))),
                error_code=draw(optional_texts),
                error_msg=draw(optional_texts),
                order_id=draw(st.none() | st.text(max_size=80)),
                drs_status=draw(st.none() | st.text(max_size=60)),
                attempts=draw(st.integers(0, 3)),
            )
        )
    return dataclasses.replace(
        request(n),
        jobs=tuple(jobs),
        project=draw(texts.filter(lambda t: 0 < len(t) <= 150)),
        reason=draw(texts),
        state=draw(st.sampled_from(list(RequestState))),
        approval=draw(st.sampled_from(list(Approval))),
        start_time_ms=draw(st.none() | st.integers(0, 4_000_000_000_000)),
        decided_by=draw(st.none() | st.sampled_from(["U02BOB", "<!channel>"])),
        decided_at=draw(st.none() | st.floats(0, 4_000_000_000)),
        decision_comment=draw(optional_texts),
    )


@EXAMPLES
@given(
    req=requests(),
    message=texts,
    code=optional_texts,
    details=st.lists(
        st.dictionaries(st.sampled_from(DETAIL_KEYS), texts | st.integers()), max_size=8
    ),
)
def test_messages_hold_for_arbitrary_text(
    req: StartRequest, message: str, code: str | None, details: list[dict[str, object]]
) -> None:
    failure = CallFailure(CallFailureKind.SERVER, message, 500, code, code, maybe_processed=True)
    events = [
        AuditEvent(req.id, NOW + i, code, kind, detail)
        for i, detail in enumerate(details)
        for kind in AuditKind
    ]
    check_message(answers.status_message(req, events, now=NOW))
    check_message(blocks.request_message(req, now=NOW, lookup_problem=message or None))
    check_message(outcome.outcome_message(req, failures=[failure], mention_requester=True))
    check_message(answers.history_message([req], now=NOW))
    check_message(outcome.settled_message(req))
    check_message(answers.error_message(message or "x", [message]))


@EXAMPLES
@given(req=requests(), notice=texts)
def test_modals_hold_for_arbitrary_text(req: StartRequest, notice: str) -> None:
    check_view(decisions.approve_modal(req, now=NOW))
    check_view(decisions.reject_modal(req, now=NOW))
    prefill = views.StartPrefill(
        project=req.project, job_text=req.reason, reason=req.reason, notices=(notice,)
    )
    choice = views.ProjectChoice(req.project, req.region, req.approval)
    check_view(views.start_modal([choice], prefill, private_metadata="C0OPS", max_jobs=1000))

"""Domain values for the builder tests: requests of any size and state, hostile text included."""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.core.model import Outcome
from bot.core.request import Approval, RequestJob, RequestState, StartRequest

NOW = 1_790_000_000.0  # a fixed "now" (2026-09-21); builders never read the clock
# Text that would mention everyone, a user, and show a fake link if it were not escaped.
EVIL = "<!channel> <@U0EVIL> <http://evil.example|click> & <!here> <#C0FAKE>"
EVIL_RENDERED = "&lt;!channel&gt;"


def job_id(i: int) -> str:
    """A DRS-shaped job id (8-4-4-4-12 over [0-9a-z], ending in letters like real ones)."""
    return f"{i:08d}-2308-4bb5-a6bc-{i % 10_000:04d}0402jb21"


def job(i: int, **changes: Any) -> RequestJob:
    base = RequestJob(
        job_id=job_id(i),
        name=f"mig-shop-{i:04d}",
        status_at_request="CONFIGURATION",
    )
    return dataclasses.replace(base, **changes)


def jobs(n: int, **changes: Any) -> tuple[RequestJob, ...]:
    return tuple(job(i, **changes) for i in range(n))


def request(n: int = 3, **changes: Any) -> StartRequest:
    base = StartRequest(
        id="r-7f3a9c",
        team_id="T0TEAM",
        channel_id="C0OPS",
        requester_id="U01ALICE",
        project="prod",
        region="ap-southeast-1",
        approval=Approval.TWO_PERSON,
        jobs=jobs(n),
        start_time_ms=None,
        reason="CHG-1234: cut-over of the shop database",
        language="en-us",
        state=RequestState.PENDING,
        created_at=NOW - 600,
        expires_at=NOW + 23 * 3600,
    )
    return dataclasses.replace(base, **changes)


def decided(req: StartRequest, state: RequestState, **changes: Any) -> StartRequest:
    """``req`` moved to ``state`` by U02BOB; jobs without outcomes get ones that fit the state."""
    outcomes: dict[RequestState, Outcome | None] = {
        RequestState.DONE: Outcome.SUCCESS,
        RequestState.FAILED: Outcome.FAILED,
        RequestState.UNKNOWN: Outcome.UNKNOWN,
    }
    new_jobs = req.jobs
    if state in outcomes and all(j.outcome is None for j in req.jobs):
        new_jobs = tuple(
            dataclasses.replace(
                j,
                outcome=outcomes[state],
                error_code="DRS.M00304" if outcomes[state] is Outcome.FAILED else None,
                error_msg="status does not allow" if outcomes[state] is Outcome.FAILED else None,
                attempts=1,
            )
            for j in req.jobs
        )
    return dataclasses.replace(
        req,
        state=state,
        jobs=new_jobs,
        decided_by="U02BOB",
        decided_at=NOW - 60,
        decision_comment="ok for tonight",
        **changes,
    )


def mixed_outcomes(n: int) -> tuple[RequestJob, ...]:
    """Outcomes in a repeating pattern: success, failed, unknown, not sent, prepaid success."""
    out = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append(job(i, outcome=Outcome.SUCCESS, drs_status="FULL_TRANSFER_STARTED"))
        elif kind == 1:
            out.append(
                job(
                    i,
                    outcome=Outcome.FAILED,
                    error_code="DRS.M01504",
                    error_msg="Another operation is running on the task.",
                )
            )
        elif kind == 2:
            out.append(job(i, outcome=Outcome.UNKNOWN))
        elif kind == 3:
            out.append(job(i))
        else:
            out.append(job(i, outcome=Outcome.SUCCESS, prepaid=True, order_id=f"CS2609{i:06d}"))
    return tuple(out)

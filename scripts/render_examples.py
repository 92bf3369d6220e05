"""Write example messages and modals as Block Kit JSON from the bot's own builders, and
optionally render them to PNG: the pictures in docs/img that the README shows.

Every example is built by ``bot.slack.ui.blocks`` / ``bot.slack.ui.views`` on made-up but
realistic data (alice asks, bob approves, projects prod and dev). JSON only:

    PYTHONPATH=. .venv/bin/python scripts/render_examples.py /tmp/examples

PNGs too, with the Block Kit renderer of the shared tools (``../shared/tools/render``, beside
the repository), set up once:

    R=$(mktemp -d) && cp -r ../shared/tools/render "$R" && (cd "$R/render" && npm install)
    apt-get update && apt-get install -y chromium-headless-shell fonts-dejavu-core \
        fonts-noto-color-emoji

then, from the repository's root:

    PYTHONPATH=. .venv/bin/python scripts/render_examples.py /tmp/examples \
        --png docs/img --renderer "$R/render"

``--renderer`` is the copy with ``npm install`` done; ``node`` and ``chromium-headless-shell``
(or ``chromium``) must be on PATH. ``--only NAME`` (repeatable) renders only those examples.
The output directory also gets ``people.json``, which the renderer uses to show ``<@U…>`` and
``<#C…>`` as names. Messages the bot posts as plain text (no blocks) are drawn as one mrkdwn
section, as Slack shows them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.core.cron import parse_cron
from bot.core.freeze import FreezeWindow, freeze_verdict
from bot.core.model import CallFailure, CallFailureKind, Outcome
from bot.core.policy import Membership, membership
from bot.core.policy_file import load_policy
from bot.core.precheck import FailedItem, JobPrecheck, PrecheckRule, PrecheckState
from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
)
from bot.core.status import FREEZE_CODE, is_retryable
from bot.service.freezes import ApprovalFreeze, block_text
from bot.service.home import HomeModel, HomePage, Section
from bot.slack.ui import answers, blocks, decisions, home, outcome, precheck, views
from bot.slack.ui.forms import channel_metadata
from bot.slack.ui.freeze import with_freeze

NOW = 1_790_000_000.0  # Sep 21, 2026, 14:13 UTC
ALICE, BOB, CAROL = "U01ALICE", "U02BOB", "U03CAROL"
OPS = "C0OPS"
EXPIRE_SECONDS = 24 * 3600  # the policy's default expire_hours
REQUEST_ID = "SJ-4F9TQ2WB"
OTHER_REQUEST_ID = "SJ-7K3MQ2XD"
PEOPLE = {
    "users": [
        {"id": ALICE, "name": "alice"},
        {"id": BOB, "name": "bob"},
        {"id": CAROL, "name": "carol"},
    ],
    "channels": [{"id": OPS, "name": "ops"}],
}
# The shop database's tables, one DRS migration task each.
TABLES = (
    "orders",
    "customers",
    "payments",
    "inventory",
    "carts",
    "invoices",
    "shipments",
    "reviews",
    "coupons",
    "returns",
    "products",
    "prices",
    "addresses",
    "wishlists",
    "sessions",
    "refunds",
    "suppliers",
    "warehouses",
    "categories",
    "audit-log",
)

Json = dict[str, Any]


def _precheck_example() -> list[dict[str, Any]]:
    """A pending request whose jobs' prechecks passed, failed, are running and never ran."""
    req = _request(tuple(_job(i) for i in range(6)))
    ids = req.job_ids
    failed = JobPrecheck(
        ids[1],
        PrecheckState.FAILED,
        passed_rate="60%",
        failed_items=(
            FailedItem("Destination database tables are empty", "FAILED", "orders: 12 rows"),
            FailedItem("Source database binlog retention", "ALARM", "kept 1 day"),
        ),
    )
    found = {
        ids[0]: JobPrecheck(ids[0], PrecheckState.PASSED, passed_rate="100%"),
        ids[1]: failed,
        ids[2]: JobPrecheck(ids[2], PrecheckState.RUNNING),
        ids[3]: JobPrecheck(ids[3], PrecheckState.NEVER_RUN),
        ids[4]: JobPrecheck(ids[4], PrecheckState.PASSED, passed_rate="100%"),
        ids[5]: JobPrecheck(ids[5], PrecheckState.PASSED, passed_rate="100%"),
    }
    msg = blocks.request_message(req, now=NOW)
    return precheck.with_prechecks(msg, req, found, PrecheckRule.REQUIRE).blocks


def _job(i: int, **changes: Any) -> RequestJob:
    table = TABLES[i % len(TABLES)]
    name = f"mig-shop-{table}" if i < len(TABLES) else f"mig-shop-{table}-{i // len(TABLES):02d}"
    base = RequestJob(
        job_id=f"{0x9A470239 + i:08x}-2308-4bb5-a6bc-1040402fjb{i % 100:02d}",
        name=name,
        status_at_request="CONFIGURATION",
    )
    return dataclasses.replace(base, **changes)


def _request(jobs: tuple[RequestJob, ...], **changes: Any) -> StartRequest:
    base = StartRequest(
        id=REQUEST_ID,
        team_id="T0TEAM",
        channel_id=OPS,
        requester_id=ALICE,
        project="prod",
        region="ap-southeast-1",
        approval=Approval.TWO_PERSON,
        jobs=jobs,
        start_time_ms=None,
        reason="CHG-1234: cut-over of the shop database to the new cluster (orders & payments "
        "first), DBA on call",
        language="en-us",
        state=RequestState.PENDING,
        created_at=NOW - 600,
        expires_at=NOW - 600 + EXPIRE_SECONDS,
    )
    req = dataclasses.replace(base, **changes)
    if "expires_at" not in changes:
        req = dataclasses.replace(req, expires_at=req.created_at + EXPIRE_SECONDS)
    return req


def _pending() -> StartRequest:
    jobs = (
        _job(0),
        _job(1),
        _job(2, prepaid=True),
        _job(3, status_at_request="FULL_TRANSFER_STARTED"),
        _job(4, name=None, status_at_request=None, error_code="DRS.M05003"),
        _job(5),
    )
    return _request(jobs, start_time_ms=int(NOW + 5400) * 1000)


def _outcome_jobs(n: int) -> tuple[RequestJob, ...]:
    out = []
    for i in range(n):
        if i % 9 == 1:
            out.append(
                _job(
                    i,
                    outcome=Outcome.FAILED,
                    error_code="DRS.M00304",
                    error_msg="The current status of the task does not allow this operation.",
                )
            )
        elif i % 13 == 2:
            out.append(
                _job(
                    i,
                    outcome=Outcome.FAILED,
                    error_code="DRS.M01504",
                    error_msg="Another operation is running on the task.",
                )
            )
        elif i % 17 == 3:
            out.append(_job(i, outcome=Outcome.UNKNOWN, drs_status="STARTJOBING"))
        elif i % 7 == 4:
            out.append(
                _job(i, outcome=Outcome.SUCCESS, prepaid=True, order_id=f"CS26092114{i:04d}")
            )
        else:
            status = "FULL_TRANSFER_STARTED" if i % 2 else "STARTJOBING"
            out.append(_job(i, outcome=Outcome.SUCCESS, drs_status=status))
    return tuple(out)


def _settled(jobs: tuple[RequestJob, ...]) -> tuple[RequestJob, ...]:
    """The same jobs once the follow-up saw them: the unknown ones started after all."""
    return tuple(
        dataclasses.replace(j, outcome=Outcome.SUCCESS, drs_status="FULL_TRANSFER_STARTED")
        if j.outcome is not Outcome.FAILED
        else j
        for j in jobs
    )


def _decided(req: StartRequest, state: RequestState, **changes: Any) -> StartRequest:
    return dataclasses.replace(req, state=state, decided_by=BOB, decided_at=NOW - 300, **changes)


def _memberships() -> list[Membership]:
    """alice's place in the projects, asking in #ops, as ``/startjobs help`` finds it."""
    common = {"region": "ap-southeast-1", "project_id": "054ba152d480d55b2f5dc0069e7ddef0"}
    policy = load_policy(
        {
            "projects": {
                "prod": {**common, "requesters": [ALICE], "approvers": [BOB], "channels": [OPS]},
                "dev": {**common, "requesters": [ALICE], "approvers": [ALICE], "approval": "none"},
            }
        }
    )
    found = (membership(p, ALICE, frozenset(), OPS) for _, p in sorted(policy.projects.items()))
    return [m for m in found if m is not None]


def _text_message(text: str) -> Json:
    """A message the bot posts as text only: Slack shows the text as mrkdwn."""
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _failed_after_start() -> Json:
    """A thread: DRS accepted the start of three jobs, then one task failed."""
    failed = _job(
        1,
        outcome=Outcome.FAILED,
        error_code="START_JOB_FAILED",
        error_msg="Start failed: the source database refused the connection.",
        drs_status="START_JOB_FAILED",
    )
    jobs = (
        _job(0, outcome=Outcome.SUCCESS, drs_status="FULL_TRANSFER_STARTED"),
        failed,
        _job(2, outcome=Outcome.SUCCESS, drs_status="FULL_TRANSFER_STARTED"),
    )
    req = _decided(_request(jobs), RequestState.DONE, decision_comment="go ahead")
    return {
        "thread": [
            blocks.request_message(req, now=NOW).as_kwargs(),
            outcome.outcome_message(req).as_kwargs(),
            _text_message(outcome.failed_after_start_text(req, [failed.job_id])),
            outcome.settled_message(req).as_kwargs(),
        ]
    }


def _status_events() -> list[AuditEvent]:
    return [
        AuditEvent(REQUEST_ID, NOW - 600, ALICE, AuditKind.REQUESTED, {"job_count": 40}),
        AuditEvent(REQUEST_ID, NOW - 300, BOB, AuditKind.APPROVED, {"comment": "go ahead"}),
        AuditEvent(
            REQUEST_ID,
            NOW - 299,
            None,
            AuditKind.DRS_CALL,
            {
                "operation": "batch-starting",
                "job_count": 40,
                "http_status": 202,
                "request_id": "5c1e0d7f2a9b4c3d8e6f7a1b2c3d4e5f",
            },
        ),
        AuditEvent(
            REQUEST_ID,
            NOW - 298,
            None,
            AuditKind.OUTCOME,
            {"attempt": 1, "started": 31, "failed": 7, "unknown": 2, "state": "unknown"},
        ),
    ]


def _frozen() -> ApprovalFreeze:
    """A start of prod inside the quarter-end freeze, as an approver listed in its override
    sees it (the requester is refused the same way at submit, with nobody listed)."""
    window = FreezeWindow(
        name="quarter-end",
        schedule=parse_cron("0 18 * * 1"),
        duration=62 * 3600,
        timezone="Asia/Shanghai",
        projects=("prod*",),
        override=frozenset({"S0DBALEADS"}),
        reason="CHG freeze: quarter-end close",
    )
    block = freeze_verdict([window], "prod", NOW)  # opened at 18:00 Shanghai, 4 hours ago
    assert block is not None
    text = block_text(block, "prod", "Asia/Shanghai")
    return ApprovalFreeze(block, text, may_override=True, who=window.override)


def _stopped_by_freeze() -> Json:
    """A thread: approved before the quarter-end freeze opened, the start was due after it
    had: the bot checked the freeze right before sending and sent nothing."""
    why = "not sent: " + _frozen().text + " before it could be sent; make a new request"
    jobs = tuple(
        _job(i, outcome=Outcome.FAILED, error_code=FREEZE_CODE, error_msg=why) for i in range(3)
    )
    req = _decided(_request(jobs), RequestState.FAILED, decision_comment="go ahead")
    return {
        "thread": [
            blocks.request_message(req, now=NOW).as_kwargs(),
            outcome.outcome_message(req).as_kwargs(),
        ]
    }


def _home(
    pending: StartRequest, late: StartRequest, done: StartRequest, sent: StartRequest
) -> Json:
    """bob's Home tab: two of alice's requests wait for him, two of his own, one batch
    still followed up; more of his own requests than one page holds."""
    own = (
        dataclasses.replace(done, id="SJ-2M8RX4KD", requester_id=BOB, created_at=NOW - 7200),
        dataclasses.replace(
            dataclasses.replace(_decided(pending, RequestState.REJECTED), decided_by=CAROL),
            id="SJ-9WQ3ZP7E",
            requester_id=BOB,
            decision_comment="wait for the CHG window",
            created_at=NOW - 86_400,
        ),
    )
    following = (dataclasses.replace(sent, id=OTHER_REQUEST_ID),)
    model = HomeModel(
        user=BOB,
        now=NOW,
        page=HomePage(),
        pending=(pending, dataclasses.replace(late, id="SJ-3H6VN8CA")),
        own=own,
        following=following,
        older={Section.OWN: (own[-1].created_at, own[-1].id)},
        overlaps={REQUEST_ID: {"SJ-3H6VN8CA": 2}},
    )
    links = {
        r.id: f"https://startjobs.slack.com/archives/{OPS}/p17900000{n:02d}000100"
        for n, r in enumerate((*model.pending, *own, *following))
    }
    return home.home_view(model, links=links)


def examples() -> dict[str, Json | list[Json]]:
    """Example name -> what the renderer draws (a message's blocks, a thread or a modal)."""
    pending = _pending()
    big = _request(tuple(_job(i) for i in range(1000)))
    # Right after the start: two outcomes are unknown, so the request's state is too.
    sent = _decided(
        _request(_outcome_jobs(40)), RequestState.UNKNOWN, decision_comment="go ahead, DBA on call"
    )
    done = dataclasses.replace(sent, jobs=_settled(sent.jobs), state=RequestState.DONE)
    failed = _decided(
        _request(tuple(_job(i, outcome=Outcome.FAILED) for i in range(4))), RequestState.FAILED
    )
    call_failure = CallFailure(
        kind=CallFailureKind.AUTH,
        message="The IAM user is not authorized to perform this operation.",
        http_status=403,
        error_code="APIGW.0302",
        request_id="8e8a7a7c3f1d4c1b9b1e2f3a4b5c6d7e",
    )
    # The scheduled time passed while the request waited for an approver.
    late = _request(
        tuple(_job(i) for i in range(4)),
        start_time_ms=int(NOW - 1800) * 1000,
        created_at=NOW - 4 * 3600,
    )
    # dev needs no approval; its list came from a name pattern, so alice confirms it.
    matched = _request(
        tuple(_job(i) for i in range(12)),
        project="dev",
        approval=Approval.NONE,
        reason="Rehearsal of CHG-1234 on dev",
        created_at=NOW - 60,
    )
    overlapping = _request(tuple(_job(i) for i in range(5)))
    return {
        "request-pending": blocks.request_message(pending, now=NOW).blocks,
        "request-pending-1000": blocks.request_message(
            big, now=NOW, source="file shop-cutover-jobs.csv"
        ).blocks,
        "request-done": blocks.request_message(done, now=NOW).blocks,
        "request-rejected": blocks.request_message(
            _decided(pending, RequestState.REJECTED, decision_comment="not during the freeze"),
            now=NOW,
        ).blocks,
        "request-confirm": blocks.request_message(
            matched, now=NOW, source="name mig-shop-* · status CONFIGURATION · any type"
        ).blocks,
        "request-overlap": blocks.request_message(
            overlapping, now=NOW, overlaps={OTHER_REQUEST_ID: 2}
        ).blocks,
        "request-precheck": _precheck_example(),
        "outcome": outcome.outcome_message(sent).blocks
        + outcome.retry_button_blocks(sent, sum(is_retryable(j) for j in sent.jobs)),
        "outcome-call-failure": outcome.outcome_message(failed, failures=[call_failure]).blocks,
        "outcome-failed-after-start": _failed_after_start(),
        "outcome-freeze": _stopped_by_freeze(),
        "status": answers.status_message(sent, _status_events(), now=NOW).blocks,
        "help": answers.help_message(projects=_memberships(), user=ALICE).blocks,
        # As `/startjobs prod <id> <id> <id>` opens it, with the options the bot offers.
        "start-modal": views.start_modal(
            [
                views.ProjectChoice("dev", "ap-southeast-1", Approval.NONE),
                views.ProjectChoice("prod", "ap-southeast-1", Approval.TWO_PERSON),
            ],
            views.StartPrefill(
                project="prod",
                job_text="9a470239-2308-4bb5-a6bc-1040402fjb00\n"
                "9a47023a-2308-4bb5-a6bc-1040402fjb01",
                notices=("1 duplicate job ID collapsed.",),
            ),
            private_metadata=channel_metadata(OPS, project="prod"),
            max_jobs=1000,
            pick=True,
            by_name=True,
            upload=True,
        ),
        "approve-modal": decisions.approve_modal(pending, now=NOW),
        "approve-modal-late": decisions.approve_modal(late, now=NOW),
        "reject-modal": decisions.reject_modal(pending, now=NOW),
        "home": _home(pending, late, done, sent),
        "freeze-refused": with_freeze(decisions.approve_modal(pending, now=NOW), _frozen()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for the JSON files")
    parser.add_argument("--png", type=Path, help="directory for the PNG files")
    parser.add_argument("--renderer", type=Path, help="tools/render copy with node_modules")
    parser.add_argument("--only", action="append", help="render only this example")
    args = parser.parse_args(argv)
    if args.png is not None and args.renderer is None:
        parser.error("--png needs --renderer")
    every = examples()
    unknown = sorted(set(args.only or ()) - set(every))
    if unknown:
        parser.error(f"no such example: {', '.join(unknown)} (examples: {', '.join(every)})")
    args.out.mkdir(parents=True, exist_ok=True)
    people = args.out / "people.json"
    people.write_text(json.dumps(PEOPLE, indent=1) + "\n", encoding="utf-8")
    for name, example in every.items():
        if args.only and name not in args.only:
            continue
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(example, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        if args.png is None:
            continue
        args.png.mkdir(parents=True, exist_ok=True)
        png = (args.png / f"{name}.png").resolve()
        _render(path.resolve(), png, args.renderer.resolve(), people.resolve())
    return 0


def _render(blocks_json: Path, png: Path, renderer: Path, people: Path) -> None:
    node = shutil.which("node")
    chromium = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if node is None or chromium is None:
        raise SystemExit("rendering needs node and chromium-headless-shell on PATH")
    html = png.with_suffix(".html")
    # Fixed argument lists of local tools; no shell, no user input in them.
    subprocess.run(  # noqa: S603
        [node, "render.mjs", str(blocks_json), str(html), "--data", str(people)],
        cwd=renderer,
        check=True,
        capture_output=True,
    )
    # Measure the page first (a script writes its height into the DOM) so the PNG fits it.
    page = html.read_text(encoding="utf-8")
    probe = "<script>document.body.dataset.h = document.documentElement.scrollHeight</script>"
    html.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    flags = ["--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=700,400"]
    dom = subprocess.run(  # noqa: S603
        [chromium, *flags, "--dump-dom", html.as_uri()], check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r'data-h="(\d+)"', dom)
    height = int(found.group(1)) + 8 if found else 1600
    html.write_text(page, encoding="utf-8")
    subprocess.run(  # noqa: S603
        [
            chromium,
            *flags[:-1],
            f"--window-size=700,{height}",
            f"--screenshot={png}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
    )
    html.unlink()
    print("wrote", png)


if __name__ == "__main__":
    sys.exit(main())

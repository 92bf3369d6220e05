"""Write example messages and modals as Block Kit JSON, and optionally render them to PNG.

    PYTHONPATH=. .venv/bin/python scripts/render_examples.py /tmp/examples   # JSON only
    PYTHONPATH=. .venv/bin/python scripts/render_examples.py /tmp/examples \
        --png docs/img --renderer /tmp/render

``--renderer`` is a copy of tools/render with ``npm install`` done; ``--png`` also needs
``chromium-headless-shell``. Modals are rendered as their blocks under a header with the modal's
title and buttons, since the renderer draws messages only.
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

from bot.core.model import CallFailure, CallFailureKind, Outcome
from bot.core.policy import Membership, load_policy
from bot.core.request import (
    Approval,
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    StartRequest,
)
from bot.slack.ui import blocks, views

NOW = 1_790_000_000.0


def _job(i: int, **changes: Any) -> RequestJob:
    base = RequestJob(
        job_id=f"{0x9A470239 + i:08x}-2308-4bb5-a6bc-1040402fjb{i % 100:02d}",
        name=f"mig-shop-{i:03d}",
        status_at_request="CONFIGURATION",
    )
    return dataclasses.replace(base, **changes)


def _request(jobs: tuple[RequestJob, ...], **changes: Any) -> StartRequest:
    base = StartRequest(
        id="r-7f3a9c",
        team_id="T0TEAM",
        channel_id="C0OPS",
        requester_id="U01ALICE",
        project="prod",
        region="ap-southeast-1",
        approval=Approval.TWO_PERSON,
        jobs=jobs,
        start_time_ms=None,
        reason="CHG-1234: cut-over of the shop database to the new cluster (<tonight> & tomorrow)",
        language="en-us",
        state=RequestState.PENDING,
        created_at=NOW - 600,
        expires_at=NOW + 23 * 3600,
    )
    return dataclasses.replace(base, **changes)


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


def _decided(req: StartRequest, state: RequestState, **changes: Any) -> StartRequest:
    return dataclasses.replace(
        req, state=state, decided_by="U02BOB", decided_at=NOW - 300, **changes
    )


def _memberships() -> list[Membership]:
    """U01ALICE's place in the projects of the README's example policy."""
    common = {"region": "ap-southeast-1", "project_id": "054ba152d480d55b2f5dc0069e7ddef0"}
    policy = load_policy(
        {
            "projects": {
                "prod": {
                    **common,
                    "requesters": ["U01ALICE"],
                    "approvers": ["U02BOB"],
                    "channels": ["C0OPS"],
                },
                "staging": {**common, "requesters": ["U01ALICE"], "approval": "none"},
            }
        }
    )
    return [
        Membership(p, requester=True, approver=False, here=True)
        for _, p in sorted(policy.projects.items())
    ]


def _modal_blocks(view: dict[str, Any]) -> list[dict[str, Any]]:
    buttons = " · ".join(f"[{view[k]['text']}]" for k in ("close", "submit") if k in view)
    frame = {"type": "header", "text": {"type": "plain_text", "text": view["title"]["text"]}}
    foot = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"Modal buttons: {buttons}"}],
    }
    return [frame, *view["blocks"], {"type": "divider"}, foot]


def examples() -> dict[str, list[dict[str, Any]]]:
    """Example name -> the blocks to render."""
    pending = _pending()
    big = _request(tuple(_job(i) for i in range(1000)))
    done_jobs = _outcome_jobs(40)
    done = _decided(
        _request(done_jobs), RequestState.DONE, decision_comment="go ahead, DBA on call"
    )
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
    events = [
        AuditEvent("r-7f3a9c", NOW - 600, "U01ALICE", AuditKind.REQUESTED, {"job_count": 40}),
        AuditEvent("r-7f3a9c", NOW - 300, "U02BOB", AuditKind.APPROVED, {"comment": "go ahead"}),
        AuditEvent(
            "r-7f3a9c",
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
            "r-7f3a9c",
            NOW - 298,
            None,
            AuditKind.OUTCOME,
            {"started": 33, "failed": 5, "unknown": 2},
        ),
    ]
    out: dict[str, list[dict[str, Any]]] = {
        "request-pending": blocks.request_message(pending, now=NOW).blocks,
        "request-pending-1000": blocks.request_message(big, now=NOW).blocks,
        "request-done": blocks.request_message(done, now=NOW).blocks,
        "request-rejected": blocks.request_message(
            _decided(pending, RequestState.REJECTED, decision_comment="not during the freeze"),
            now=NOW,
        ).blocks,
        "outcome": blocks.outcome_message(done).blocks + blocks.retry_button_blocks(done, 3),
        "outcome-call-failure": blocks.outcome_message(failed, failures=[call_failure]).blocks,
        "status": blocks.status_message(done, events, now=NOW).blocks,
        "help": blocks.help_message(projects=_memberships(), user="U01ALICE").blocks,
        "start-modal": _modal_blocks(
            views.start_modal(
                [
                    views.ProjectChoice("prod", "ap-southeast-1", Approval.TWO_PERSON),
                    views.ProjectChoice("staging", "ap-southeast-1", Approval.NONE),
                ],
                views.StartPrefill(
                    project="prod",
                    job_text="9a470239-2308-4bb5-a6bc-1040402fjb21\n"
                    "dbb8127c-b093-4b94-b764-7161e151jb2s",
                    notices=("1 duplicate job ID collapsed.",),
                ),
                private_metadata="C0OPS",
                max_jobs=1000,
            )
        ),
        "approve-modal": _modal_blocks(views.approve_modal(pending, now=NOW)),
        "reject-modal": _modal_blocks(views.reject_modal(pending, now=NOW)),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for the JSON files")
    parser.add_argument("--png", type=Path, help="directory for the PNG files")
    parser.add_argument("--renderer", type=Path, help="tools/render copy with node_modules")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, example in examples().items():
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(example, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        if args.png is None:
            continue
        if args.renderer is None:
            parser.error("--png needs --renderer")
        args.png.mkdir(parents=True, exist_ok=True)
        _render(path.resolve(), (args.png / f"{name}.png").resolve(), args.renderer.resolve())
    return 0


def _render(blocks_json: Path, png: Path, renderer: Path) -> None:
    node = shutil.which("node")
    chromium = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if node is None or chromium is None:
        raise SystemExit("rendering needs node and chromium-headless-shell on PATH")
    html = png.with_suffix(".html")
    # Fixed argument lists of local tools; no shell, no user input in them.
    subprocess.run([node, "render.mjs", str(blocks_json), str(html)], cwd=renderer, check=True)  # noqa: S603
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

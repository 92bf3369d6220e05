"""CPU per request read: the bot's reading of Slack's requests against Bolt's own.

Slack posts interactive payloads as a form whose one field is percent-encoded JSON. Bolt reads
a body with Python's ``parse_qsl`` as it builds its request object; the bot reads it with yarl's
decoder (``bot/slack/inbound.py``) and builds the same object. Both read the same signed
bodies, shaped as the bot receives them: a slash command, an Approve click (the click carries
the whole request message, here one of 40 jobs) and a start-form submission (the whole
modal). Each figure is the median of ``--rounds`` runs of ``--reads`` reads, CPU time.

    .venv/bin/python bench/form_reading.py [--reads 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.core.request import Approval, RequestJob, RequestState, StartRequest
from bot.slack import inbound
from bot.slack.ui import blocks, views

NOW = 1_790_000_000.0
TEAM, USER, CHANNEL = "T0TEAM", "U01ALICE", "C0OPS"
HEADERS = {
    "content-type": "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": "1790000000",
    "x-slack-signature": "v0=" + "0" * 64,
}


def request(jobs: int) -> StartRequest:
    return StartRequest(
        id="SJ-BENCH001",
        team_id=TEAM,
        channel_id=CHANNEL,
        requester_id=USER,
        project="prod",
        region="ap-southeast-1",
        approval=Approval.TWO_PERSON,
        jobs=tuple(
            RequestJob(job_id=f"{i:08d}-2308-4bb5-a6bc-{i:04d}0402jb21", name=f"mig-{i:04d}")
            for i in range(jobs)
        ),
        start_time_ms=None,
        reason="CHG-2041: nightly cut-over",
        language="en-us",
        state=RequestState.PENDING,
        created_at=NOW,
        expires_at=NOW + 86_400,
    )


def bodies() -> dict[str, str]:
    message = blocks.request_message(request(40), now=NOW)
    click = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": USER, "team_id": TEAM},
        "channel": {"id": CHANNEL},
        "message": {"ts": "1790000000.000100", "text": message.text, "blocks": message.blocks},
        "actions": [{"action_id": "approve", "value": "SJ-BENCH001", "type": "button"}],
        "trigger_id": "1.2.3",
    }
    modal = views.start_modal(
        [views.ProjectChoice("prod", "ap-southeast-1", Approval.TWO_PERSON)],
        views.StartPrefill(),
        private_metadata=CHANNEL,
        max_jobs=100,
    )
    submission = {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": USER, "team_id": TEAM},
        "view": {**modal, "id": "V0MODAL", "state": {"values": {"job_ids": {"ids": {}}}}},
        "trigger_id": "1.2.3",
    }
    slash = {"command": "/startjobs", "text": "prod 1234", "team_id": TEAM, "user_id": USER}
    return {
        "slash command": urllib.parse.urlencode(slash),
        "Approve click": urllib.parse.urlencode({"payload": json.dumps(click)}),
        "start submission": urllib.parse.urlencode({"payload": json.dumps(submission)}),
    }


def bolts(raw: str) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=raw, query="", headers=HEADERS)  # type: ignore[arg-type]


def ours(raw: str) -> AsyncBoltRequest:
    return inbound.bolt_request(raw, "", HEADERS)


def cpu_per_read(read: Callable[[str], Any], raw: str, reads: int) -> float:
    read(raw)
    started = time.process_time()
    for _ in range(reads):
        read(raw)
    return (time.process_time() - started) / reads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=2000, help="reads per round (2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (3)")
    args = parser.parse_args(argv)
    if args.reads < 1 or args.rounds < 1:
        parser.error("--reads and --rounds must be at least 1")
    print(f"CPU per request read in microseconds, median of {args.rounds} rounds of {args.reads}")
    print(f"{'request':<18}{'bytes':>8}{'Bolt (baseline)':>17}{'the bot':>10}{'bot / Bolt':>12}")
    for name, raw in bodies().items():
        if as_read(ours(raw)) != as_read(bolts(raw)):
            print(f"PROBLEM: the bot reads the {name} differently from Bolt")
            return 1
        base, mine = (
            statistics.median(cpu_per_read(read, raw, args.reads) for _ in range(args.rounds))
            for read in (bolts, ours)
        )
        print(f"{name:<18}{len(raw):>8}{base * 1e6:>17.1f}{mine * 1e6:>10.1f}{mine / base:>12.2f}")
    return 0


def as_read(req: AsyncBoltRequest) -> tuple[object, ...]:
    return (req.raw_body, req.body, req.headers, req.content_type, dict(req.context), req.mode)


if __name__ == "__main__":
    raise SystemExit(main())

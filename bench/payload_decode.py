"""What decoding an interactive payload costs the event loop: Bolt's own way (the standard
library's ``parse_qsl``, then ``json.loads``) as the baseline, beside the server's
(:func:`bot.slack.server.bolt_body`: yarl's compiled query decoder, then the same
``json.loads`` that Bolt makes of the JSON it is given), in the same process.

The body is a start-modal submission as Slack sends it (a form whose one field, ``payload``,
holds the view's JSON): the bot's own start modal with every field filled in, made larger
with ``--jobs`` pasted job IDs. Each run decodes distinct bodies (one changed character), so
no cache can answer. It stops with an error if the two ways ever disagree.

    .venv/bin/python bench/payload_decode.py [--bodies 300] [--jobs 80]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.request import Approval
from bot.slack.server import bolt_body
from bot.slack.ui import views


def bodies(count: int, jobs: int) -> list[str]:
    """``count`` start-modal submissions, each a form with one ``payload`` field."""
    choices = [views.ProjectChoice("prod", "cn-north-4", Approval.TWO_PERSON)]
    view = views.start_modal(
        choices,
        views.StartPrefill(project="prod"),
        private_metadata=json.dumps({"channel": "C0BENCH"}),
        max_jobs=1000,
        pick=True,
        by_name=True,
        upload=True,
    )
    ids = "\n".join(str(uuid.UUID(int=n)) for n in range(jobs))
    out: list[str] = []
    for n in range(count):
        payload = {
            "type": "view_submission",
            "team": {"id": "T0BENCH"},
            "user": {"id": "U0BENCH", "team_id": "T0BENCH"},
            "view": {
                **view,
                "id": f"V{n:08d}",
                "state": {"values": {"job_ids": {"job_ids": {"value": ids, "type": "x"}}}},
            },
        }
        out.append(urlencode({"payload": json.dumps(payload)}))
    return out


def bolt_way(raw: str) -> object:
    return json.loads(dict(parse_qsl(raw, keep_blank_values=True))["payload"])


def server_way(raw: str) -> object:
    return json.loads(bolt_body(raw))


def per_body_ms(decode: Callable[[str], object], raws: list[str]) -> float:
    started = time.process_time()
    for raw in raws:
        decode(raw)
    return (time.process_time() - started) / len(raws) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bodies", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=80, help="job IDs pasted in the form")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    raws = bodies(args.bodies, args.jobs)
    for raw in raws[:20]:
        if bolt_way(raw) != server_way(raw):
            print("PROBLEM: the two ways decode a body differently")
            return 1
    base = statistics.median(per_body_ms(bolt_way, raws) for _ in range(args.rounds))
    ours = statistics.median(per_body_ms(server_way, raws) for _ in range(args.rounds))
    size = statistics.mean(len(r) for r in raws) / 1000
    print(f"start-modal submissions of {size:.1f} kB, {args.bodies} distinct bodies, CPU per body")
    print(f"  Bolt's own (parse_qsl + json)  {base:7.3f} ms   (baseline)")
    print(f"  the server's (bolt_body + json) {ours:7.3f} ms   {ours / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmarks at a tiny size, so they cannot rot: each runs end to end and checks itself.

Latencies are cut (DRS 50 ms, Slack 10 ms) and counts are small; the figures mean nothing here,
only that every step works and every self-check passes (a benchmark exits non-zero and prints
``PROBLEM`` when a modal, message or outcome never appeared, or a job was not started once).
"""

from __future__ import annotations

import math
import os
import re
from types import SimpleNamespace
from typing import cast

import pytest

from bench import (
    ack_latency,
    approval_store,
    batch_scaling,
    drs_transport,
    payload_decode,
    precheck_rule,
)
from bench.stack import Placement
from bot.devkit.sim.slack import FakeSlack
from bot.devkit.sim.slack_model import SlackCall


def test_ack_latency_runs_every_phase_against_bot_and_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = "--requests 4 --concurrency 1,2 --drs-latency 0.05 --slack-latency 0.01 --rate 200"
    code = ack_latency.main(args.split())
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PROBLEM" not in out
    for kind in ack_latency.KINDS:
        rows = re.findall(rf"^{kind}\s+(\d+)\s+(\d+) \|", out, flags=re.MULTILINE)
        # One row per level, each with every request answered by both servers.
        assert [senders for senders, _ in rows] == ["1", "2"], out
        assert all(int(n) == 4 for _, n in rows), out
    # Two levels of four approvals each, every request started exactly once.
    assert "DRS batch-starting calls: 8 " in out
    assert "vs a stock Bolt app that only acks (bench/bare_ack.py)" in out
    assert re.search(r"^goal: p99 at 2 senders within 1.5x .*: (met|missed) ", out, re.MULTILINE)
    assert re.search(r"^Placement: (the measured server on CPU|none)", out, flags=re.MULTILINE)


def test_ack_latency_measures_an_answering_replica_with_a_working_one(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    args = "--requests 4 --concurrency 2 --drs-latency 0.05 --slack-latency 0.01 --rate 200"
    code = ack_latency.main([*args.split(), "--database-url", pg_url, "--working-replica"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PROBLEM" not in out
    assert "DRS batch-starting calls: 4 " in out  # started by the working replica, once each
    assert re.search(r"^the working replica .* left: \d+\.\d s of CPU", out, re.MULTILINE), out


def test_ack_latency_refuses_a_working_replica_without_a_shared_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        ack_latency.main(["--working-replica"])
    assert "--working-replica needs --database-url" in capsys.readouterr().err


def test_placement_gives_the_server_a_cpu_of_its_own_and_gives_this_thread_its_cpus_back() -> None:
    placement = Placement.split()
    if placement is None:
        pytest.skip("fewer than two CPUs, or no CPU affinity on this system")
    assert placement.server and placement.rest and not placement.server & placement.rest
    before = os.sched_getaffinity(0)
    with placement.this_thread():
        assert os.sched_getaffinity(0) == placement.rest
    assert os.sched_getaffinity(0) == before


def test_batch_scaling_reports_each_size_within_its_bound(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = batch_scaling.main(["--sizes", "10,250", "--latency", "0.05"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PROBLEM" not in out
    row = r"^\s*([\d,]+)\s+(\d+)x(\d+)\s+\|[^|]+\|\s+([\d.]+)\s+\S+\s+([\d.]+)\s+\S+\s+\|\s+(\d+)"
    rows = re.findall(row, out, flags=re.MULTILINE)
    assert [r[0] for r in rows] == ["10", "250"], out
    shape = batch_scaling.default_shape()
    for jobs, chunk, concurrency, outcome, bound, starts in rows:
        assert (int(chunk), int(concurrency)) == (shape.chunk_size, shape.concurrency)
        assert int(starts) == -(-int(jobs.replace(",", "")) // shape.chunk_size), out
        # No run beats the lower bound: its rounds of DRS latency are really on the path.
        assert float(outcome) >= float(bound) > 0, out
    assert "the driver does not enforce max_length" in out  # 250 IDs overflow Slack's input


def test_batch_scaling_times_the_request_message_not_an_earlier_sizes_summary() -> None:
    """The size before may post its summary in its thread after this size's submission: the
    request's time is its own top-level post's."""
    channel = batch_scaling.CHANNEL

    def post(at: float, **args: str) -> SlackCall:
        return SlackCall("chat.postMessage", {"channel": channel, **args}, at, 200, True)

    calls = [
        post(9.0),  # the earlier size's request message, before this submission
        SlackCall("chat.update", {"channel": channel}, 10.5, 200, True),
        post(11.2, thread_ts="9.000001"),  # its summary, after this submission
        post(18.1),  # this size's request message
    ]
    fake = cast(FakeSlack, SimpleNamespace(calls=calls))
    assert batch_scaling._request_post_at(fake, 10.0) == 18.1
    assert math.isnan(batch_scaling._request_post_at(fake, 18.2))


def test_drs_transport_prints_the_client_beside_a_bare_post_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert drs_transport.main(["--calls", "50", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    number = r"\s+(\d+\.\d+)"
    base = re.search(rf"^bare httpx POST \(baseline\){number}{number}$", out, re.MULTILINE)
    ours = re.search(rf"^DrsClient\.batch_status, AK/SK{number}{number}$", out, re.MULTILINE)
    ratio = re.search(rf"^client / baseline{number}{number}$", out, re.MULTILINE)
    assert base and ours and ratio, out
    for one, fifty in (base.groups(), ours.groups()):
        assert float(one) > 0 and float(fifty) > 0
    # The ratio printed is the one of the figures printed.
    assert float(ratio.group(1)) == pytest.approx(
        float(ours.group(1)) / float(base.group(1)), abs=0.01
    )


def test_payload_decode_prints_both_ways_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert payload_decode.main(["--bodies", "20", "--rounds", "1", "--jobs", "5"]) == 0
    out = capsys.readouterr().out
    base = re.search(r"Bolt's own \(parse_qsl \+ json\)\s+(\d+\.\d+) ms", out)
    ours = re.search(r"the server's \(bolt_body \+ json\)\s+(\d+\.\d+) ms\s+(\d+\.\d+)x", out)
    assert base and ours, out
    assert float(ours.group(2)) == pytest.approx(
        float(ours.group(1)) / float(base.group(1)), abs=0.01
    )


def test_approval_store_prints_each_stores_waits_and_cpu_beside_sqlites(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    assert approval_store.main(["--approvals", "6", "--burst", "3", "--database-url", pg_url]) == 0
    out = capsys.readouterr().out
    rows = {
        m.group(1): [float(x) for x in m.groups()[1:]]
        for m in re.finditer(
            r"^(SQLite \(baseline\)|PostgreSQL)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
            r"\s+([\d.]+)$",
            out,
            flags=re.MULTILINE,
        )
    }
    assert set(rows) == {"SQLite (baseline)", "PostgreSQL"}, out
    # Every call of an approval is one wait on the loop, on either store.
    assert rows["SQLite (baseline)"][:2] == rows["PostgreSQL"][:2] == [1.0, 1.0]
    assert rows["SQLite (baseline)"][3] == 1.0
    assert rows["PostgreSQL"][3] == pytest.approx(  # the printed figures are rounded
        rows["PostgreSQL"][2] / rows["SQLite (baseline)"][2], rel=0.05
    )
    # The bursts: two of three decisions each (every one made, or the run fails), timed.
    assert "The same decisions 3 at once, 2 bursts" in out, out
    bursts = {
        m.group(1): [float(x) for x in m.groups()[1:]]
        for m in re.finditer(
            r"^(SQLite \(baseline\)|PostgreSQL)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$",
            out,
            flags=re.MULTILINE,
        )
    }
    assert set(bursts) == {"SQLite (baseline)", "PostgreSQL"}, out
    for median, worst, _ in bursts.values():
        assert 0 < median <= worst
    assert bursts["SQLite (baseline)"][2] == 1.0
    assert bursts["PostgreSQL"][2] == pytest.approx(
        bursts["PostgreSQL"][0] / bursts["SQLite (baseline)"][0], rel=0.1, abs=0.02
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_precheck_rule_measures_both_rules_and_a_decision(
    capsys: pytest.CaptureFixture[str], backend: str, request: pytest.FixtureRequest
) -> None:
    args = ["--sizes", "20,40"]
    if backend == "postgres":
        args += ["--database-url", request.getfixturevalue("pg_url")]
    assert precheck_rule.main(args) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+(\d+) \|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x \|\s+([\d.]+)", out, re.M)
    assert [size for size, *_ in rows] == ["20", "40"], out
    assert f"database: {'PostgreSQL' if backend == 'postgres' else 'SQLite'}" in out

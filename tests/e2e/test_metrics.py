"""``GET /metrics``: scraped before and after a request (submit, approve, start), the counters
and histograms moved; every metric the bot registers follows Prometheus's conventions."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.devkit.sim.drs_jobs import DEMO_JOBS
from tests.e2e.harness import ALICE, Harness
from tests.e2e.process import approve, outcome_replies

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Label names that would carry a person's identity (unbounded, and private).
PERSONAL = re.compile(r"user|requester|approver|actor|person|member|email|name")


async def scrape(url: str) -> tuple[str, Samples]:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{url}/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return resp.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def state_of(h: Harness, rid: str) -> str | None:
    req = h.db.get(rid)
    return req.state.value if req is not None else None


async def test_a_request_moves_the_counters_and_histograms(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, before = await scrape(h.url)
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS])
        rid = h.request_id(msg)
        answer = await approve(h, rid, msg)
        assert answer is not None and answer.ok, answer
        await h.wait(lambda: bool(outcome_replies(h, msg)))
        await h.settle()
        await h.wait(lambda: state_of(h, rid) == "done")
        text, after = await scrape(h.url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("startjobs_requests_total", project="prod", state="done") == 1
    assert moved("startjobs_decisions_total", kind="approved") == 1
    assert moved("startjobs_jobs_total", project="prod", outcome="started") == 2
    assert moved("startjobs_jobs_total", project="prod", outcome="failed") == 0
    # The request message's lookup (batch-detail), the start, and the follow-up.
    assert moved("startjobs_drs_calls_total", operation="batch-starting", outcome="ok") == 1
    assert moved("startjobs_drs_calls_total", operation="batch-detail", outcome="ok") >= 1
    assert moved("startjobs_drs_call_duration_seconds_count", operation="batch-starting") == 1
    assert moved("startjobs_drs_call_duration_seconds_sum", operation="batch-starting") > 0
    # Slack: the modal, the request message, the outcome in the thread, the updates.
    assert moved("startjobs_slack_api_calls_total", method="views.open") >= 2  # start, approve
    assert moved("startjobs_slack_api_calls_total", method="chat.postMessage") >= 2
    assert moved("startjobs_slack_api_calls_total", method="chat.update") >= 1
    assert moved("startjobs_slack_api_errors_total") == 0
    # Every kind of Slack request the flow made was acknowledged, and timed.
    for kind in ("slash_command", "view_submission", "block_actions"):
        assert moved("startjobs_ack_duration_seconds_count", kind=kind) >= 1, kind
        assert moved("startjobs_ack_duration_seconds_bucket", kind=kind, le="+Inf") >= 1
    assert moved("startjobs_ack_duration_seconds_sum", kind="view_submission") > 0
    # The state gauges are read at scrape time.
    assert "startjobs_work_items_waiting" in text
    assert ("startjobs_followups_in_progress", frozenset()) in after
    assert value(after, "startjobs_requests_unknown") == 0
    assert value(after, "startjobs_database_errors_total") == 0


async def test_every_metric_name_follows_the_conventions(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "dev", [ORDERS])  # no approval: starts at once
        await h.wait(lambda: bool(outcome_replies(h, msg)))
        await h.settle()
        metrics = h.b.metrics
        assert metrics is not None
        await metrics.render()  # the state gauges too
        families = list(metrics.registry.collect())
    names = {f.name for f in families}
    assert len(names) >= 14, names
    for family in families:
        name = family.name
        assert name.startswith("startjobs_"), name
        assert SNAKE.fullmatch(name), name
        assert family.documentation, f"{name} has no help text"
        if family.type == "counter":
            # prometheus_client names the family without the suffix its samples carry.
            assert {s.name for s in family.samples} <= {f"{name}_total", f"{name}_created"}
            assert not name.endswith("_total"), name
        elif family.type == "histogram":
            assert name.endswith("_seconds"), f"{name}: a histogram in base units (seconds)"
        elif family.type == "gauge":
            timed = any(w in name for w in ("age", "time", "duration", "latency"))
            assert not timed or name.endswith("_seconds"), name
        else:
            raise AssertionError(f"{name}: unexpected type {family.type}")
        assert not name.endswith(("_milliseconds", "_ms", "_minutes", "_hours")), name
        for sample in family.samples:
            for label in sample.labels:
                assert SNAKE.fullmatch(label), (name, label)
                assert not PERSONAL.search(label), f"{name} has a label naming a person: {label}"
            assert all(len(v) <= 64 for v in sample.labels.values()), sample
            assert not any(v.startswith(("U0", "W0")) for v in sample.labels.values()), sample

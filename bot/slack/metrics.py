"""The bot's Prometheus metrics, in a registry of its own (never the library's global one, so
tests and several bots in one process do not collide), served as ``GET /metrics``.

:class:`PromMetrics` implements the service's :class:`~bot.service.metrics.Metrics` port; the
gauges that are the state of the database or of the background work are read when Prometheus
scrapes (:meth:`PromMetrics.render`): the database off the event loop, then the text built in
a thread. Every metric is listed, with its labels, in the README's "Metrics" section.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.service.metrics import StoreGauges

log = logging.getLogger(__name__)

PREFIX = "startjobs_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
DRS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
GAUGE_READ_SECONDS = 5.0  # a scrape waits this long for the database's gauges, then omits them

ReadGauges = Callable[[], Awaitable[StoreGauges]]
Backlog = Callable[[], tuple[int, float | None]]  # work items waiting, since when the oldest


@dataclass
class _Snapshot:
    store: StoreGauges | None = None
    waiting: int = 0
    oldest_waiting: float | None = None
    now: float = 0.0


class _StateCollector(Collector):
    """The gauges of what is, from the snapshot :meth:`PromMetrics.render` took just before."""

    def __init__(self, snapshot: _Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot
        yield GaugeMetricFamily(
            PREFIX + "work_items_waiting",
            "Background work items (post, start, reconcile, refresh, follow up) listed and not "
            "yet done, backing-off ones included.",
            value=snap.waiting,
        )
        yield GaugeMetricFamily(
            PREFIX + "work_oldest_waiting_seconds",
            "How long the oldest background work item not yet done has waited (0: none).",
            value=_age(snap.now, snap.oldest_waiting),
        )
        if snap.store is None:
            return  # the database could not be read: absent, not a false zero
        yield GaugeMetricFamily(
            PREFIX + "followups_in_progress",
            "Requests whose jobs are still being followed in DRS (batch-status).",
            value=snap.store.followups,
        )
        yield GaugeMetricFamily(
            PREFIX + "requests_unknown",
            "Requests whose start's outcome is still unknown (DRS's answer was not seen).",
            value=snap.store.unknown,
        )
        yield GaugeMetricFamily(
            PREFIX + "unknown_oldest_age_seconds",
            "Seconds since the oldest start whose outcome is still unknown was sent (0: none).",
            value=_age(snap.now, snap.store.oldest_unknown_sent_at),
        )


def _age(now: float, since: float | None) -> float:
    return max(0.0, now - since) if since is not None else 0.0


class PromMetrics:
    """The :class:`~bot.service.metrics.Metrics` port over a Prometheus registry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._read_gauges: ReadGauges | None = None
        self._backlog: Backlog | None = None
        self._snapshot = _Snapshot()
        r = self.registry
        self.requests = Counter(
            PREFIX + "requests_total",
            "Requests that reached a final state, by project and state.",
            ["project", "state"],
            registry=r,
        )
        self.decisions = Counter(
            PREFIX + "decisions_total",
            "Decisions taken on requests (approved, rejected, cancelled, expired).",
            ["kind"],
            registry=r,
        )
        self.jobs_total = Counter(
            PREFIX + "jobs_total",
            "Jobs sent in a batch start, by project and outcome (started, failed, unknown).",
            ["project", "outcome"],
            registry=r,
        )
        self.drs_calls = Counter(
            PREFIX + "drs_calls_total",
            "DRS HTTP exchanges by operation, outcome class and DRS error code.",
            ["operation", "outcome", "code"],
            registry=r,
        )
        self.drs_latency = Histogram(
            PREFIX + "drs_call_duration_seconds",
            "Duration of DRS HTTP exchanges, by operation.",
            ["operation"],
            buckets=DRS_BUCKETS,
            registry=r,
        )
        self.slack_calls = Counter(
            PREFIX + "slack_api_calls_total",
            "Slack Web API HTTP exchanges, by method.",
            ["method"],
            registry=r,
        )
        self.slack_errors = Counter(
            PREFIX + "slack_api_errors_total",
            "Slack Web API exchanges that failed, by method and error.",
            ["method", "error"],
            registry=r,
        )
        self.acks = Histogram(
            PREFIX + "ack_duration_seconds",
            "Time from a Slack request reaching the bot to its acknowledgement, by kind.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.db_errors = Counter(
            PREFIX + "database_errors_total",
            "Database calls that failed (unavailable: busy, locked, full, unreachable).",
            ["kind"],
            registry=r,
        )
        r.register(_StateCollector(self._snapshot))

    # -- the port -------------------------------------------------------------------------

    def decided(self, kind: str) -> None:
        self.decisions.labels(kind).inc()

    def request_finished(self, project: str, state: str) -> None:
        self.requests.labels(project, state).inc()

    def jobs(self, project: str, outcome: str, count: int) -> None:
        self.jobs_total.labels(project, outcome).inc(count)

    def drs_call(self, operation: str, outcome: str, code: str, seconds: float) -> None:
        self.drs_calls.labels(operation, outcome, code).inc()
        self.drs_latency.labels(operation).observe(seconds)

    def slack_call(self, method: str, error: str | None) -> None:
        self.slack_calls.labels(method).inc()
        if error is not None:
            self.slack_errors.labels(method, error).inc()

    def acked(self, kind: str, seconds: float) -> None:
        self.acks.labels(kind).observe(seconds)

    def database_error(self, kind: str) -> None:
        self.db_errors.labels(kind).inc()

    # -- scraping -------------------------------------------------------------------------

    def watch(self, *, store: ReadGauges | None = None, backlog: Backlog | None = None) -> None:
        """Read the database's gauges with ``store`` and the background work's with
        ``backlog`` at each scrape."""
        self._read_gauges = store
        self._backlog = backlog

    async def render(self) -> bytes:
        """The exposition text, with the state gauges read now."""
        snap = self._snapshot
        snap.now = self._clock()
        if self._backlog is not None:
            snap.waiting, snap.oldest_waiting = self._backlog()
        if self._read_gauges is not None:
            try:
                async with asyncio.timeout(GAUGE_READ_SECONDS):
                    snap.store = await self._read_gauges()
            except Exception as exc:
                snap.store = None
                log.warning("metrics: the database's gauges could not be read: %s", exc)
        return await asyncio.to_thread(generate_latest, self.registry)

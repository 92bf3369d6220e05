"""Suite-wide setup: the Hypothesis profile (derandomized unless ``HYPOTHESIS_PROFILE`` says
otherwise; see :mod:`tests.hypothesis_profiles`), loaded before any test module is imported.

Shared fixtures: ``fake_clock`` (a :class:`FakeClock`, time the test moves),
``make_policy`` (a :class:`PolicyFactory`: the two-project policy of :func:`policy_data`,
optionally edited, loaded as the bot loads it), ``pg_cluster`` and ``pg_url`` (a throwaway
PostgreSQL server, and a fresh database on it: :mod:`tests.pg_support`).

``STARTJOBS_TEST_DATABASE=postgres`` runs the end-to-end bot on PostgreSQL
(:mod:`tests.e2e.backend`); a test marked ``@pytest.mark.sqlite_only("why")`` is then skipped
with its reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from bot.core.policy import Policy
from bot.core.policy_file import load_policy
from tests.e2e import backend
from tests.hypothesis_profiles import load_profile
from tests.pg_support import PgBouncer, PgCluster, start_cluster, start_pgbouncer

try:
    PROFILE = load_profile()
except ValueError as exc:
    raise pytest.UsageError(str(exc)) from None


try:
    DATABASE = backend.backend()
except ValueError as exc:
    raise pytest.UsageError(str(exc)) from None


def pytest_report_header() -> list[str]:
    return [f"hypothesis profile: {PROFILE}", f"end-to-end database: {DATABASE}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DATABASE == "sqlite":
            marker = item.get_closest_marker("postgres_e2e")
            if marker is not None:
                why = marker.args[0] if marker.args else "end-to-end on PostgreSQL"
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{why}: run with STARTJOBS_TEST_DATABASE=postgres (CI runs it)"
                    )
                )
            continue
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            why = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {why}"))


# -- time -----------------------------------------------------------------------------------

# 2026-01-01 00:00:00 UTC: a fixed start, so a test's times read the same on every run.
CLOCK_START = 1_767_225_600.0


class FakeClock:
    """A clock that moves only when the test moves it.

    Calling it answers epoch seconds, like ``time.time`` (the bot's ``Clock`` port and
    ``build_bot(clock=...)`` take exactly that); :meth:`datetime` gives the same instant as an
    aware UTC datetime, which the core's time functions take as ``now``.
    """

    def __init__(self, start: float = CLOCK_START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move time forward (never back) by ``seconds``; the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


# -- policy ---------------------------------------------------------------------------------

# People and groups of the shared policy (the same IDs as tests/e2e/harness.py).
ALICE, BOB, CAROL, DAVE, MALLORY = "U01ALICE", "U02BOB", "U03CAROL", "U04DAVE", "U09MALLORY"
DBA_TEAM, DBA_LEADS = "S0DBATEAM", "S0DBALEADS"
CHANNEL = "C0OPS"
PROJECT_ID = "054ba152d480d55b2f5dc0069e7ddef0"
ENDPOINT = "http://127.0.0.1:8089"


def policy_data(endpoint: str = ENDPOINT) -> dict[str, Any]:
    """The policy as the TOML file would give it: ``prod`` (two-person approval: Alice and
    the DBA team request, Bob and the DBA leads approve) and ``dev`` (no approval: Alice and
    Dave request, Bob approves), both in ``CHANNEL`` and calling DRS and IAM at ``endpoint``."""
    common = {
        "region": "cn-north-4",
        "project_id": PROJECT_ID,
        "endpoint": endpoint,
        "iam_endpoint": endpoint,
        "channels": [CHANNEL],
    }
    return {
        "projects": {
            "prod": {
                **common,
                "requesters": [ALICE, DBA_TEAM],
                "approvers": [BOB, DBA_LEADS],
                "approval": "two-person",
            },
            "dev": {
                **common,
                "requesters": [ALICE, DAVE],
                "approvers": [BOB],
                "approval": "none",
            },
        }
    }


class PolicyFactory:
    """``make_policy()`` loads :func:`policy_data`; ``edit`` changes a copy of the data first
    (``lambda d: d["projects"]["prod"].update(approval="none")``)."""

    def __call__(
        self,
        edit: Callable[[dict[str, Any]], None] | None = None,
        *,
        endpoint: str = ENDPOINT,
    ) -> Policy:
        data = policy_data(endpoint)
        if edit is not None:
            edit(data)
        return load_policy(data)


@pytest.fixture
def make_policy() -> PolicyFactory:
    return PolicyFactory()


# -- PostgreSQL -----------------------------------------------------------------------------


T = TypeVar("T")


def _running(start: Callable[[], T], stop: Callable[[T], None]) -> Iterator[T]:
    """What ``start`` runs, for the whole session, then ``stop``-ped; the tests asking for it
    are skipped, with the reason, when ``start`` finds nothing installed to run (LookupError).
    """
    try:
        running = start()
    except LookupError as exc:
        pytest.skip(str(exc))
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL server for the whole session (:mod:`tests.pg_support`), started
    on first use; skipped when no server binaries are installed."""
    yield from _running(start_cluster, PgCluster.destroy)


@pytest.fixture(scope="session")
def pgbouncer(pg_cluster: PgCluster) -> Iterator[PgBouncer]:
    """PgBouncer in transaction pooling in front of :func:`pg_cluster`, for the whole
    session; skipped when it is not installed (``.ci/run`` installs it)."""
    yield from _running(lambda: start_pgbouncer(pg_cluster), PgBouncer.stop)


@pytest.fixture
def pgbouncer_url(pg_cluster: PgCluster, pgbouncer: PgBouncer, pg_url: str) -> str:
    """The URL of :func:`pg_url`'s new database, through :func:`pgbouncer`."""
    return pgbouncer.url(pg_url.rsplit("/", 1)[1])


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """The URL of a new, empty database on :func:`pg_cluster`, dropped after the test."""
    if not pg_cluster.running:  # a test that stopped the server did not start it again
        pg_cluster.start()
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)

"""On PostgreSQL (``STARTJOBS_TEST_DATABASE=postgres``, or ``pgbouncer`` for the bot behind
PgBouncer), each end-to-end test's harnesses get their databases on the session's throwaway
server, dropped after the test (:mod:`tests.e2e.backend`); on SQLite, the default, nothing is
started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e import backend


@pytest.fixture(autouse=True)
def _database_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    if not backend.on_postgres():
        yield
        return
    bouncer = request.getfixturevalue("pgbouncer") if backend.behind_pgbouncer() else None
    with backend.databases_on(request.getfixturevalue("pg_cluster"), bouncer):
        yield


@pytest.fixture
def pg_url(pg_url: str, request: pytest.FixtureRequest) -> str:
    """The test's own PostgreSQL database (the replica tests give it to every replica):
    through PgBouncer when the tests run behind it."""
    if not backend.behind_pgbouncer():
        return pg_url
    bouncer = request.getfixturevalue("pgbouncer")
    return str(bouncer.url(pg_url.rsplit("/", 1)[1]))

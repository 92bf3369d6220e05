"""On PostgreSQL (``STARTJOBS_TEST_DATABASE=postgres``), each end-to-end test's harnesses get
their databases on the session's throwaway server, dropped after the test
(:mod:`tests.e2e.backend`); on SQLite, the default, nothing is started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e import backend


@pytest.fixture(autouse=True)
def _database_backend(request: pytest.FixtureRequest) -> Iterator[None]:
    if not backend.on_postgres():
        yield
        return
    with backend.databases_on(request.getfixturevalue("pg_cluster")):
        yield

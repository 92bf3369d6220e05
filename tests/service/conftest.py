"""Fixtures of the service tests: a :class:`bot.service.Service` over the in-memory fakes of
:mod:`tests.service.fakes`, on the shared ``fake_clock`` and ``make_policy`` of
``tests/conftest.py``.

Every test here runs with sockets closed: opening a connection (or binding an address) raises
:class:`SocketOpened`, so a use case that reached for the network fails its test.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from bot.service import Service
from tests.conftest import CAROL, DAVE, DBA_LEADS, DBA_TEAM
from tests.service.fakes import FakeDirectory, FakeDrs, FakeNotifier, FakeStore
from tests.service.support import JOBS, ServiceFactory, make_service, settle

if TYPE_CHECKING:
    from tests.conftest import FakeClock, PolicyFactory


class SocketOpened(AssertionError):
    """A service test tried to use the network."""


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, *args: object, **kwargs: object) -> None:
        raise SocketOpened(f"a service test used a socket: {args!r}")

    for name in ("connect", "connect_ex", "bind", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def directory() -> FakeDirectory:
    # Carol approves through the DBA leads group; Dave is a prod requester through the DBA team.
    return FakeDirectory({CAROL: {DBA_LEADS}, DAVE: {DBA_TEAM}})


@pytest.fixture
def drs() -> FakeDrs:
    fake = FakeDrs()
    for job in JOBS:
        fake.add(job)
    return fake


@pytest.fixture
def new_service(
    store: FakeStore,
    notifier: FakeNotifier,
    directory: FakeDirectory,
    drs: FakeDrs,
    fake_clock: FakeClock,
    make_policy: PolicyFactory,
) -> ServiceFactory:
    """One process's service over the shared fakes, ``new_service(owner="proc-B",
    first_id=100)``: several of them are replicas sharing one store."""
    return functools.partial(make_service, store, notifier, directory, drs, fake_clock, make_policy)


@pytest.fixture
async def service(new_service: ServiceFactory) -> AsyncIterator[Service]:
    svc = new_service(owner="proc-A")
    yield svc
    await settle(svc)

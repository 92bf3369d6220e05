"""The page a person turned their Home to is kept in the store, so that every replica's later
publishes of their Home show it (not only the replica they turned it on), until they open the
tab again; a turn the store could not keep is kept for the publish's retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.core.request import Approval, RequestJob, RequestState, StartRequest
from bot.service import Service
from bot.service.home import OWN_SHOWN, HomeModel, HomePage, key
from bot.service.ports import StoreUnavailable
from tests.conftest import ALICE, CHANNEL
from tests.service.fakes import FakeStore
from tests.service.support import ServiceFactory, settle


class Tab:
    """A Home tab that keeps what it was shown."""

    def __init__(self) -> None:
        self.shown: list[HomeModel] = []

    async def publish_home(self, home: HomeModel) -> None:
        self.shown.append(home)


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not check():
            await asyncio.sleep(0.005)


def _own(home: HomeModel) -> list[str]:
    return [r.id for r in home.own]


async def _alices_requests(store: FakeStore, now: float, count: int) -> list[str]:
    """``count`` of Alice's requests, newest first."""
    made = [f"SJ-HOME{n:04d}" for n in range(count)]
    for n, rid in enumerate(made):
        req = StartRequest(
            id=rid,
            team_id="T0TEAM",
            channel_id=CHANNEL,
            requester_id=ALICE,
            project="prod",
            region="cn-north-4",
            approval=Approval.TWO_PERSON,
            jobs=(RequestJob("J1"),),
            start_time_ms=None,
            reason="CHG-1",
            language="en-us",
            state=RequestState.REJECTED,
            created_at=now - 1000 + n,
            expires_at=now + 3600,
        )
        await store.insert_request(req, actor=ALICE, detail={})
    return list(reversed(made))


async def _replicas(new_service: ServiceFactory) -> tuple[Service, Tab, Service, Tab]:
    tab_a, tab_b = Tab(), Tab()
    a = new_service(owner="proc-A", home_tab=tab_a)
    b = new_service(owner="proc-B", home_tab=tab_b, first_id=100)
    return a, tab_a, b, tab_b


async def test_a_page_turned_on_one_replica_is_kept_by_the_others_updates(
    new_service: ServiceFactory, store: FakeStore
) -> None:
    a, tab_a, b, tab_b = await _replicas(new_service)
    newest_first = await _alices_requests(store, a.ctx.clock(), OWN_SHOWN + 5)
    page_two = HomePage(own=key((await store.requested_by(ALICE, limit=OWN_SHOWN))[-1]))

    a.home.turn(ALICE, page_two)  # Alice clicks "Older" on a Home replica A published
    await _until(lambda: len(tab_a.shown) == 1)
    assert _own(tab_a.shown[0]) == newest_first[OWN_SHOWN:]

    # A request of hers changes; replica B publishes her Home: on the page she turned to.
    b.home.updates.people([ALICE])
    await _until(lambda: len(tab_b.shown) == 1)
    assert tab_b.shown[0].page == page_two
    assert _own(tab_b.shown[0]) == newest_first[OWN_SHOWN:]

    # She opens the tab again (handled by B): the newest page, on A's later updates too.
    b.home.opened(ALICE)
    await _until(lambda: len(tab_b.shown) == 2)
    a.home.updates.people([ALICE])
    await _until(lambda: len(tab_a.shown) == 2)
    assert tab_a.shown[1].page == HomePage()
    assert _own(tab_a.shown[1]) == newest_first[:OWN_SHOWN]
    await settle(a)
    await settle(b)


async def test_a_turn_the_store_could_not_keep_is_kept_for_the_retry(
    new_service: ServiceFactory, store: FakeStore
) -> None:
    a, tab_a, b, tab_b = await _replicas(new_service)
    newest_first = await _alices_requests(store, a.ctx.clock(), OWN_SHOWN + 2)
    page_two = HomePage(own=key((await store.requested_by(ALICE, limit=OWN_SHOWN))[-1]))
    store.broken["keep_home_page"] = StoreUnavailable("the database is locked")

    a.home.turn(ALICE, page_two)
    await _until(lambda: "keep_home_page" in store.calls)
    await asyncio.sleep(0.01)
    assert tab_a.shown == []  # nothing shown without the page kept

    del store.broken["keep_home_page"]
    await a.home.publish(ALICE)  # the retry (its work item's backoff, run now)
    assert _own(tab_a.shown[-1]) == newest_first[OWN_SHOWN:]
    await b.home.publish(ALICE)  # and the other replica's next update shows it too
    assert tab_b.shown[-1].page == page_two
    for task in asyncio.all_tasks():  # the flusher's own retry, due after its backoff
        if task is not asyncio.current_task():
            task.cancel()

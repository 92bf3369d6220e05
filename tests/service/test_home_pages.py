"""The page a person turned their Home to is kept in the store, so that every replica's later
publishes of their Home show it (not only the replica they turned it on), until they open the
tab again; a turn the store could not keep is kept for the publish's retry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.service.home import ID_MAX, OWN_SHOWN, PAGE_TEXT_MAX, HomeModel, HomePage
from bot.service.ports import StoreUnavailable
from tests.conftest import ALICE
from tests.service.fakes import FakeStore
from tests.service.support import ServiceFactory, settle
from tests.service.test_fake_store import request


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


class Rig:
    """Two replicas' services on one store, each with a Home tab, and Alice's requests: more
    than one page of them, newest first (``newest_first``); ``page_two`` is her second."""

    def __init__(self, new_service: ServiceFactory) -> None:
        self.tab_a, self.tab_b = Tab(), Tab()
        self.a = new_service(owner="proc-A", home_tab=self.tab_a)
        self.b = new_service(owner="proc-B", home_tab=self.tab_b, first_id=100)
        self.newest_first: list[str] = []
        self.page_two = HomePage()

    async def requests(self, store: FakeStore, count: int) -> Rig:
        now = self.a.ctx.clock()
        made = [f"SJ-HOME{n:04d}" for n in range(count)]
        for n, rid in enumerate(made):
            req = request(rid, ("J1",), created=now - 1000 + n, expires=now + 3600)
            await store.insert_request(req, actor=ALICE, detail={})
        self.newest_first = list(reversed(made))
        last = OWN_SHOWN - 1  # the last request of the first page: page two starts below it
        self.page_two = HomePage(own=(now - 1000 + count - 1 - last, self.newest_first[last]))
        return self


async def test_a_page_turned_on_one_replica_is_kept_by_the_others_updates(
    new_service: ServiceFactory, store: FakeStore
) -> None:
    rig = await Rig(new_service).requests(store, OWN_SHOWN + 5)
    a, tab_a, b, tab_b, newest_first = rig.a, rig.tab_a, rig.b, rig.tab_b, rig.newest_first

    a.home.turn(ALICE, rig.page_two)  # Alice clicks "Older" on a Home replica A published
    await _until(lambda: len(tab_a.shown) == 1)
    assert _own(tab_a.shown[0]) == newest_first[OWN_SHOWN:]

    # A request of hers changes; replica B publishes her Home: on the page she turned to.
    b.home.updates.people([ALICE])
    await _until(lambda: len(tab_b.shown) == 1)
    assert tab_b.shown[0].page == rig.page_two
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
    rig = await Rig(new_service).requests(store, OWN_SHOWN + 2)
    store.broken["keep_home_page"] = StoreUnavailable("the database is locked")

    rig.a.home.turn(ALICE, rig.page_two)
    await _until(lambda: "keep_home_page" in store.calls)
    await asyncio.sleep(0.01)
    assert rig.tab_a.shown == []  # nothing shown without the page kept

    del store.broken["keep_home_page"]
    await rig.a.home.publish(ALICE)  # the retry (its work item's backoff, run now)
    assert _own(rig.tab_a.shown[-1]) == rig.newest_first[OWN_SHOWN:]
    await rig.b.home.publish(ALICE)  # and the other replica's next update shows it too
    assert rig.tab_b.shown[-1].page == rig.page_two
    for task in asyncio.all_tasks():  # the flusher's own retry, due after its backoff
        if task is not asyncio.current_task():
            task.cancel()


def test_a_kept_page_that_is_not_one_reads_as_the_newest() -> None:
    page = HomePage(own=(1_000.5, "SJ-A"), pending=(7.0, "SJ-B"))
    assert HomePage.of_text(page.text()) == page
    assert HomePage().text() is None  # the newest page: nothing to keep
    for text in (
        None,
        "",
        "not json",
        '["own", [1, "x"]]',
        '{"own": [true, "x"]}',
        '{"own": [1, 2]}',
        '{"own": [1, "x", 3]}',
        '{"own": "1,x"}',
        '{"own": [1, ""]}',
        '{"own": [1, "' + "x" * (ID_MAX + 1) + '"]}',
        '{"own": [' + "1" * PAGE_TEXT_MAX + ', "x"]}',  # too long to read at all
    ):
        assert HomePage.of_text(text) == HomePage(), text
    # What can be read is kept, what cannot is the newest of its section.
    mixed = '{"own": [5, "SJ-C"], "pending": null, "elsewhere": [1, "SJ-D"]}'
    assert HomePage.of_text(mixed) == HomePage(own=(5.0, "SJ-C"))

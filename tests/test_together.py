"""Writes that come together, made in one statement (bot/store/postgres/together.py): a call
alone goes at once; calls that come while a statement is being made go together in the next;
one call's failure reaches its caller only; every caller is answered by its deadline and a
moment, and a call whose caller gave up is never made."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.service.ports import StoreUnavailable
from bot.store.postgres.together import Together

GRACE = 0.05


class Writes:
    """A write that records each statement's items and the time it was given; it waits for
    ``go`` while ``hold`` is set, and refuses any statement holding an item named "bad"."""

    def __init__(self) -> None:
        self.made: list[list[str]] = []
        self.within: list[float] = []
        self.hold = False
        self.slow = 0.0  # seconds a statement holding "bad" takes to fail
        self.go = asyncio.Event()
        self.began = asyncio.Event()

    async def held(
        self, together: Together[str, str], within: float | None = None
    ) -> asyncio.Task[str]:
        """A call of "a" whose statement is being made and waits for ``go``."""
        self.hold = True
        self.began.clear()
        first = asyncio.create_task(together("a", within))
        await self.began.wait()
        return first

    async def __call__(self, items: Sequence[str], within: float) -> list[str]:
        self.made.append(list(items))
        self.within.append(within)
        self.began.set()
        if self.hold:
            await self.go.wait()
        if "bad" in items:
            await asyncio.sleep(self.slow)
            raise StoreUnavailable("the database refused the write: bad item")
        return [f"{item}!" for item in items]


@pytest.fixture
def writes() -> Writes:
    return Writes()


async def test_a_call_alone_is_made_at_once(writes: Writes) -> None:
    together = Together(writes, grace=GRACE)
    assert await together("a", 1.0) == "a!"
    assert await together("b", None) == "b!"
    assert writes.made == [["a"], ["b"]]
    assert together.statements == 2


async def test_calls_that_come_during_a_statement_go_together_in_the_next(
    writes: Writes,
) -> None:
    together = Together(writes, grace=GRACE)
    first = await writes.held(together, 5.0)
    rest = [asyncio.create_task(together(name, 5.0)) for name in "bcdef"]
    await asyncio.sleep(0)  # every call queued behind the statement being made
    writes.go.set()
    assert await first == "a!"
    assert await asyncio.gather(*rest) == ["b!", "c!", "d!", "e!", "f!"]
    assert writes.made == [["a"], ["b", "c", "d", "e", "f"]]


async def test_a_statement_holds_at_most_so_many_calls(writes: Writes) -> None:
    together = Together(writes, grace=GRACE, most=2)
    first = await writes.held(together, 5.0)
    rest = [asyncio.create_task(together(name, 5.0)) for name in "bcde"]
    await asyncio.sleep(0)
    writes.go.set()
    await asyncio.gather(first, *rest)
    assert writes.made == [["a"], ["b", "c"], ["d", "e"]]


async def test_one_failing_call_fails_only_its_caller(writes: Writes) -> None:
    together = Together(writes, grace=GRACE)
    first = await writes.held(together, 5.0)
    rest = [asyncio.create_task(together(name, 5.0)) for name in ("b", "bad", "c")]
    await asyncio.sleep(0)
    writes.go.set()
    assert await first == "a!"
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == "b!" and results[2] == "c!"
    assert isinstance(results[1], StoreUnavailable) and "bad item" in str(results[1])
    # the statement of three failed; each was made again alone
    assert writes.made == [["a"], ["b", "bad", "c"], ["b"], ["bad"], ["c"]]


async def test_a_statement_is_given_its_earliest_deadline_and_a_longest(
    writes: Writes,
) -> None:
    together = Together(writes, grace=GRACE, longest=3.0)
    first = await writes.held(together)
    rest = [
        asyncio.create_task(together("b", 5.0)),
        asyncio.create_task(together("c", 0.8)),
        asyncio.create_task(together("d", None)),
    ]
    await asyncio.sleep(0)
    writes.go.set()
    await asyncio.gather(first, *rest)
    assert 2.5 < writes.within[0] <= 3.0  # no call of the first statement had a deadline
    assert 0.5 < writes.within[1] <= 0.8


async def test_a_caller_is_answered_by_its_deadline_and_its_call_left_out_if_not_sent(
    writes: Writes,
) -> None:
    lates: list[str] = []  # the store counts each as the database unavailable
    together = Together(writes, grace=GRACE, late=lambda: lates.append("late"))
    first = await writes.held(together)  # a statement that does not end
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(StoreUnavailable, match="in time"):
        await together("late", 0.1)
    assert loop.time() - began < 0.1 + GRACE + 0.2
    assert lates == ["late"]  # once; a gone caller's call is not counted again
    kept = asyncio.create_task(together("kept", 5.0))
    gone = asyncio.create_task(together("cancelled", 5.0))
    await asyncio.sleep(0)
    gone.cancel()
    writes.go.set()
    assert await first == "a!"
    assert await kept == "kept!"
    # the late call and the cancelled one were never made
    assert writes.made == [["a"], ["kept"]]
    assert lates == ["late"]


async def test_a_call_that_waited_past_its_deadline_is_not_made_and_holds_none_up(
    writes: Writes,
) -> None:
    lates: list[str] = []  # the store counts each as the database unavailable
    together = Together(writes, grace=1.0, late=lambda: lates.append("late"))
    first = await writes.held(together)  # the late call's caller not answered when it goes
    late = asyncio.create_task(together("late", 0.05))
    kept = asyncio.create_task(together("b", 5.0))
    await asyncio.sleep(0.1)
    writes.go.set()
    with pytest.raises(StoreUnavailable, match="in time"):
        await late
    assert await first == "a!" and await kept == "b!"
    assert writes.made == [["a"], ["b"]]
    assert writes.within[1] > 4.0  # not the late call's deadline
    assert lates == ["late"]


async def test_after_a_failed_statement_a_call_whose_time_is_up_is_not_made_again(
    writes: Writes,
) -> None:
    together = Together(writes, grace=1.0)
    writes.slow = 0.1  # the statement fails after the short call's deadline
    first = await writes.held(together)
    calls = [
        asyncio.create_task(together(n, w)) for n, w in (("short", 0.05), ("bad", 5.0), ("b", 5.0))
    ]
    await asyncio.sleep(0)
    writes.go.set()
    assert await first == "a!"
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[0], StoreUnavailable) and "bad item" in str(results[0])
    assert isinstance(results[1], StoreUnavailable) and results[2] == "b!"
    assert writes.made == [["a"], ["short", "bad", "b"], ["bad"], ["b"]]

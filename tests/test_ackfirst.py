"""Acks first: background work waits while requests are being answered, never for long, and
the code answering a request never waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.ackfirst import AckFirst, GivingWayWebClient, background_context, in_background
from bot.devkit.sim.slack import FakeSlack
from bot.store import AsyncStore, Store
from bot.workflow import Tuning, Workflow


def in_the_background(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    return asyncio.create_task(coro, context=background_context())


async def test_background_work_waits_until_no_request_is_being_answered() -> None:
    first = AckFirst(longest_wait=5.0)
    steps: list[str] = []

    async def work() -> None:
        await first.give_way()
        steps.append("background")

    with first.answering():
        task = in_the_background(work())
        await asyncio.sleep(0.05)
        assert steps == []
        with first.answering():  # a second request meanwhile
            await asyncio.sleep(0.05)
        assert steps == []  # the first is still being answered
        steps.append("answered")
    await asyncio.wait_for(task, 1.0)
    assert steps == ["answered", "background"]
    assert not first.busy


async def test_the_wait_is_bounded_so_a_stream_of_requests_cannot_starve_the_work() -> None:
    first = AckFirst(longest_wait=0.05)
    loop = asyncio.get_running_loop()
    with first.answering():
        began = loop.time()
        await in_the_background(first.give_way())
        waited = loop.time() - began
        assert first.busy
    assert 0.04 <= waited < 1.0


async def test_code_answering_a_request_never_waits() -> None:
    first = AckFirst(longest_wait=5.0)
    with first.answering():
        assert not in_background()
        await asyncio.wait_for(first.give_way(), 0.5)


async def test_after_ack_makes_the_rest_of_a_listener_background_work() -> None:
    first = AckFirst(longest_wait=5.0)
    steps: list[str] = []

    async def listener() -> None:
        steps.append("acked")
        await first.after_ack()
        steps.append("rest of the listener")
        assert in_background()

    with first.answering():
        task = asyncio.create_task(listener())  # Bolt runs each listener in a task
        await asyncio.sleep(0.05)
        assert steps == ["acked"]
        assert not in_background()  # the mark stays in the listener's task
    await asyncio.wait_for(task, 1.0)
    assert steps == ["acked", "rest of the listener"]


def test_longest_wait_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="longest_wait"):
        AckFirst(longest_wait=-1)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_web_api_calls_from_background_work_wait_for_the_answers(
    fake_slack: FakeSlack,
) -> None:
    first = AckFirst(longest_wait=5.0)
    client = GivingWayWebClient(token="xoxb-fake-token", base_url=fake_slack.url, ack_first=first)
    steps: list[str] = []

    async def post(text: str) -> None:
        await client.chat_postMessage(channel="C0OPS", text=text)
        steps.append(text)

    with first.answering():
        background = in_the_background(post("from the background"))
        await post("while answering")  # the answer's own calls go at once
        await asyncio.sleep(0.1)
        assert steps == ["while answering"]
        assert [m.text for m in fake_slack.messages("C0OPS")] == ["while answering"]
    await asyncio.wait_for(background, 5.0)
    assert steps == ["while answering", "from the background"]


async def test_spawned_workflow_tasks_are_background_work(tmp_path: Path) -> None:
    first = AckFirst(longest_wait=5.0)
    store = AsyncStore(Store(tmp_path / "s.db"))
    wf = Workflow(
        store=store,
        slack=None,  # type: ignore[arg-type]
        policy=None,  # type: ignore[arg-type]
        directory=None,  # type: ignore[arg-type]
        drs_for=lambda _: None,  # type: ignore[arg-type, return-value]
        tuning=Tuning(),
        ack_first=first,
    )
    seen: list[bool] = []

    async def work() -> None:
        seen.append(in_background())

    try:
        with first.answering():
            task = wf.spawn(work(), name="work")
            await asyncio.sleep(0.05)
            assert seen == []  # it starts once the answer is out
        await asyncio.wait_for(task, 1.0)
        assert seen == [True]
        assert not in_background()
    finally:
        await store.aclose()

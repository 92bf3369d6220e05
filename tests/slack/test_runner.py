"""The listener runner answers Slack as soon as a listener acknowledges, keeps Bolt's error
handling, and counts the request as being answered exactly until then."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.ackfirst import AckFirst
from bot.slack import runner

Listener = Callable[..., Awaitable[None]]


def make_app(listener: Listener, *, ack_first: AckFirst | None = None) -> AsyncApp:
    return make_app_and_runner(listener, ack_first=ack_first)[0]


def make_app_and_runner(
    listener: Listener, *, ack_first: AckFirst | None = None
) -> tuple[AsyncApp, runner.PromptListenerRunner]:
    app = AsyncApp(
        authorize=_authorize,
        signing_secret="not-checked",
        request_verification_enabled=False,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    app.view("form")(listener)
    return app, runner.install(app, ack_first or AckFirst())


async def _authorize(**_: Any) -> AuthorizeResult:
    """One workspace, without asking Slack (the tests touch no network)."""
    return AuthorizeResult(
        enterprise_id=None, team_id="T1", bot_token="xoxb-test", bot_user_id="UB", bot_id="B1"
    )


def submission() -> AsyncBoltRequest:
    payload = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "U1", "team_id": "T1"},
        "view": {"id": "V1", "type": "modal", "callback_id": "form", "state": {"values": {}}},
    }
    return AsyncBoltRequest(
        body=urlencode({"payload": json.dumps(payload)}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


async def turns_until_done(task: asyncio.Task[BoltResponse], most: int = 50) -> int:
    """Passes of the event loop (no timer involved) until ``task`` is done; ``most + 1`` if
    it is still running after ``most``."""
    for turn in range(1, most + 1):
        await asyncio.sleep(0)
        if task.done():
            return turn
    return most + 1


async def test_the_answer_leaves_when_the_listener_acknowledges_not_when_it_ends() -> None:
    release = asyncio.Event()
    turns_until_answered: list[int] = []
    dispatching: list[asyncio.Task[BoltResponse]] = []

    async def listener(ack: AsyncAck) -> None:
        await ack(response_action="errors", errors={"b": "fix this"})
        turns_until_answered.append(await turns_until_done(dispatching[0]))
        await release.wait()

    app = make_app(listener)
    dispatching.append(asyncio.create_task(app.async_dispatch(submission())))
    response = await asyncio.wait_for(asyncio.shield(dispatching[0]), 2.0)
    # Bolt's own runner looks every 10 ms; a few passes of the loop take far less than that.
    assert turns_until_answered and turns_until_answered[0] <= 5
    assert response.status == 200
    assert json.loads(response.body) == {"response_action": "errors", "errors": {"b": "fix this"}}
    release.set()


async def test_the_request_counts_as_being_answered_only_until_the_ack() -> None:
    first = AckFirst()
    seen: dict[str, bool] = {}
    release = asyncio.Event()

    async def listener(ack: AsyncAck) -> None:
        seen["before ack"] = first.busy
        await ack()
        for _ in range(5):
            await asyncio.sleep(0)
        seen["a few turns after ack"] = first.busy
        await release.wait()

    app = make_app(listener, ack_first=first)
    response = await asyncio.wait_for(app.async_dispatch(submission()), 2.0)
    await asyncio.sleep(0.01)
    assert response.status == 200
    assert seen == {"before ack": True, "a few turns after ack": False}
    assert not first.busy
    release.set()


async def test_a_listener_that_fails_before_acknowledging_gets_a_500_and_the_error_handler() -> (
    None
):
    handled: list[Exception] = []

    async def listener(ack: AsyncAck) -> None:
        raise RuntimeError("broken listener")

    app = make_app(listener)

    @app.error
    async def on_error(error: Exception) -> None:
        handled.append(error)

    response = await asyncio.wait_for(app.async_dispatch(submission()), 2.0)
    assert response.status == 500
    assert [str(e) for e in handled] == ["broken listener"]


async def test_a_failure_after_the_ack_keeps_the_answer_and_still_reaches_the_error_handler() -> (
    None
):
    handled: list[Exception] = []
    failed = asyncio.Event()

    async def listener(ack: AsyncAck) -> None:
        await ack()
        await asyncio.sleep(0.01)
        failed.set()
        raise RuntimeError("failed after the ack")

    app = make_app(listener)

    @app.error
    async def on_error(error: Exception) -> None:
        handled.append(error)

    response = await asyncio.wait_for(app.async_dispatch(submission()), 2.0)
    assert response.status == 200
    await asyncio.wait_for(failed.wait(), 2.0)
    await asyncio.sleep(0.01)
    assert [str(e) for e in handled] == ["failed after the ack"]


async def test_a_listener_that_ends_without_acknowledging_is_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def listener(ack: AsyncAck) -> None:
        return None

    app = make_app(listener)
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.WARNING):
        response = await asyncio.wait_for(app.async_dispatch(submission()), 2.0)
    # Bolt's own runner would wait out the listener's 3 s ack timeout.
    assert loop.time() - began < 1.0
    assert response.status == 404
    assert "did not acknowledge" in caplog.text


async def test_a_middleware_that_asked_for_ack_without_using_it_does_not_slow_the_answer() -> None:
    turns_until_answered: list[int] = []
    dispatching: list[asyncio.Task[BoltResponse]] = []
    release = asyncio.Event()

    async def listener(ack: AsyncAck) -> None:
        await ack()
        turns_until_answered.append(await turns_until_done(dispatching[0]))
        await release.wait()

    app = make_app(listener)
    middleware_acks: list[Any] = []

    @app.middleware
    async def looks_at_ack(ack: AsyncAck, next: Callable[[], Awaitable[None]]) -> None:
        middleware_acks.append(ack)
        await next()

    dispatching.append(asyncio.create_task(app.async_dispatch(submission())))
    response = await asyncio.wait_for(asyncio.shield(dispatching[0]), 2.0)
    assert response.status == 200
    assert len(middleware_acks) == 1 and middleware_acks[0].response is None
    assert turns_until_answered and turns_until_answered[0] <= 5
    release.set()


def test_install_refuses_an_app_whose_runner_it_does_not_know() -> None:
    async def listener(ack: AsyncAck) -> None:
        await ack()

    app = make_app(listener)
    app._async_listener_runner = object()  # type: ignore[assignment]
    with pytest.raises(TypeError, match="listener runner"):
        runner.install(app, AckFirst())


async def test_drain_waits_for_listeners_still_working_after_their_ack() -> None:
    finished: list[str] = []

    async def listener(ack: AsyncAck) -> None:
        await ack()
        await asyncio.sleep(0.2)  # what the command asked for, after the answer
        finished.append("posted")

    app, prompt = make_app_and_runner(listener)
    response = await asyncio.wait_for(app.async_dispatch(submission()), 2.0)
    assert response.status == 200 and finished == []
    await prompt.drain(5.0)
    assert finished == ["posted"]
    await prompt.drain(5.0)  # nothing left: returns at once


async def test_drain_gives_up_after_its_limit() -> None:
    release = asyncio.Event()

    async def listener(ack: AsyncAck) -> None:
        await ack()
        await release.wait()

    app, prompt = make_app_and_runner(listener)
    await asyncio.wait_for(app.async_dispatch(submission()), 2.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await prompt.drain(0.05)
    assert 0.04 <= loop.time() - began < 1.0
    release.set()
    await prompt.drain(5.0)

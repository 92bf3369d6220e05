"""Finding a request's listener without building every listener's arguments.

Bolt finds the listener for a request by trying each registered listener in turn. Each of its
built-in matchers (``app.view("approve")``, ``app.action(...)``...) reads only the payload's
body, but Bolt calls it as it calls a listener: it first builds the full set of arguments a
listener may ask for (two dozen, among them parsed views, actions and commands and fresh
``say``/``respond`` helpers), then hands it the body. The bot registers some twenty listeners,
so an approve-form submission was matched after seven such rounds, a third of the CPU Bolt spent
on it. :func:`install` gives every built-in matcher the body directly: the same functions,
the same answers, none of the argument building.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.listener_matcher.async_builtins import AsyncBuiltinListenerMatcher
from slack_bolt.listener_matcher.async_listener_matcher import AsyncListenerMatcher
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse


class BodyMatcher(AsyncListenerMatcher):
    """A built-in matcher of Bolt's, called with the body alone (all it reads)."""

    def __init__(self, func: Callable[..., Awaitable[bool]]) -> None:
        self.func = func

    async def async_matches(self, req: AsyncBoltRequest, resp: BoltResponse) -> bool:
        return await self.func(body=req.body)


def _async_func(matcher: AsyncBuiltinListenerMatcher) -> Callable[..., Awaitable[bool]]:
    return matcher.func  # type: ignore[return-value]  # Bolt's async built-ins are coroutines


def install(app: AsyncApp) -> int:
    """Make the built-in matchers of every listener registered so far :class:`BodyMatcher`\\ s
    (call it once all are registered); how many were replaced."""
    replaced = 0
    for listener in app._async_listeners:
        matchers: list[Any] = list(listener.matchers)
        for i, matcher in enumerate(matchers):
            if type(matcher) is AsyncBuiltinListenerMatcher and list(matcher.arg_names) == ["body"]:
                matchers[i] = BodyMatcher(_async_func(matcher))
                replaced += 1
        listener.matchers = matchers
    return replaced

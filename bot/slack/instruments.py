"""Where the bot measures its Slack side, through the libraries' own extension points.

* :class:`SlackCalls`: every Web API exchange, counted by method and error. It is a
  slack_sdk retry handler that never asks for a retry: slack_sdk consults the client's retry
  handlers, in order, after every HTTP exchange (with the answer or the error), and Bolt
  gives each request's client a copy of the app client's handlers, so the bot's own calls
  and those its listeners make through Bolt's ``client`` are all seen, with no wrapper at
  each call site and no private attribute.
* :class:`AckTimer`: a Bolt middleware that hands listeners an ``ack`` which records, when
  called, how long after the request reached the bot it was acknowledged (and binds who and
  which request the log lines are about). It adds no work before the ack but a clock read.
  It also runs the listener as work a person waits for (:mod:`bot.service.urgency`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.service import logcontext
from bot.service.metrics import OTHER, Metrics
from bot.service.urgency import answering

RECEIVED_AT = "startjobs_received_at"  # context key: time.perf_counter() when the body was read

_METHOD = re.compile(r"[a-z]+(?:\.[a-zA-Z]+){1,3}")
_ERROR = re.compile(r"[a-z0-9_]{1,64}")
_REQUEST_ID = re.compile(r"SJ-[0-9A-Z]{4,16}")
_USER_ID = re.compile(r"[UW][0-9A-Z]{2,20}")
ACK_KINDS = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "event_callback",
    }
)


class SlackCalls(AsyncRetryHandler):
    """Counts each Web API exchange; never retries (the handlers after it decide that)."""

    def __init__(self, metrics: Metrics, api_url: str) -> None:
        super().__init__(max_retry_count=0)
        self._metrics = metrics
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        self._metrics.slack_call(self.method(request.url), _error_of(response, error))
        return False

    def method(self, url: str) -> str:
        """The Web API method of ``url`` (``chat.postMessage``); ``upload`` for a file upload
        URL Slack handed out, ``other`` for anything unexpected."""
        if not url.startswith(self._api_url):
            return "upload"
        name = url[len(self._api_url) :].split("?", 1)[0]
        return name if _METHOD.fullmatch(name) else OTHER


def _error_of(response: HttpResponse | None, error: Exception | None) -> str | None:
    if error is not None:
        return "timeout" if isinstance(error, TimeoutError) else "transport"
    if response is None:
        return "transport"
    body = response.body
    if isinstance(body, dict):
        if body.get("ok", True) is not False:
            return None
        text = str(body.get("error") or "unknown_error")
        return text if _ERROR.fullmatch(text) else OTHER
    return None if 200 <= response.status_code < 300 else f"http_{response.status_code // 100}xx"


def request_kind(body: Any) -> str:
    """The kind of a Slack request, as the ack histogram labels it."""
    if not isinstance(body, dict):
        return OTHER
    if "command" in body:
        return "slash_command"
    kind = body.get("type")
    return kind if isinstance(kind, str) and kind in ACK_KINDS else OTHER


class TimedAck(AsyncAck):
    """Bolt's ``ack``, recording the time from the request's arrival on its first call."""

    def __init__(self, metrics: Metrics, kind: str, since: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._metrics = metrics
        self._kind = kind
        self._since = since
        self._timed = False

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        if not self._timed:
            self._timed = True
            self._metrics.acked(self._kind, time.perf_counter() - self._since)
        return await super().__call__(*args, **kwargs)


class AckTimer(AsyncMiddleware):
    """Bolt middleware: a :class:`TimedAck` for the listener; who and which request the log
    lines of this Slack request are about."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        since = req.context.get(RECEIVED_AT)
        if not isinstance(since, float):
            since = time.perf_counter()  # Socket Mode: from when Bolt got the envelope
        body = req.body
        req.context["ack"] = TimedAck(self._metrics, request_kind(body), since)
        if isinstance(body, dict):
            logcontext.bind(user=_user_of(body), request_id=_request_of(body))
        # Bolt runs the listener in this task once the middleware returned: a person waits
        # for what it does until it returns (process_before_response, bot.slack.app).
        answering()
        return await next()


def _user_of(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    found = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return found if isinstance(found, str) and _USER_ID.fullmatch(found) else None


def _request_of(body: dict[str, Any]) -> str | None:
    """The request a button or modal is about (its value, or the modal's metadata)."""
    candidates: list[object] = []
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        candidates.append(actions[0].get("value"))
    view = body.get("view")
    if isinstance(view, dict):
        meta = view.get("private_metadata")
        if isinstance(meta, str):
            candidates.extend(_REQUEST_ID.findall(meta[:2000]))
    for value in candidates:
        if isinstance(value, str) and _REQUEST_ID.fullmatch(value):
            return value
    return None

"""The Bolt app: Slack's payloads screened, listeners registered, errors handled.

Bolt's own listener runner and matchers run the listeners, with ``process_before_response``
True: Bolt answers Slack as soon as the listener returns, with what it passed to ``ack``. So a
listener returns right after its ack: work that follows the ack (opening a modal, posting an
answer, DRS calls) is handed to the service's tasks (``service.tasks.spawn``), a task of its
own that logs its failure with the traceback. (Bolt's other mode runs the whole listener in a
task and checks every 10 ms whether it acked; under bursts of fifty requests, the work after
one request's ack then delays the answers to the others: bench/README.md has the figures.)
Listeners answer people through Bolt's ``ack``, ``respond`` and ``client``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import Service
from bot.slack.directory import Directory
from bot.slack.listeners import actions, commands, home, options, prechecks, submissions

log = logging.getLogger(__name__)


def build_app(
    service: Service,
    slack: AsyncWebClient,
    directory: Directory,
    *,
    signing_secret: str | None,
    max_jobs: int,
) -> AsyncApp:
    """The Bolt app of one process: ``signing_secret`` None in Socket Mode (no signatures).
    Bolt's own signature check is off: over HTTP, :mod:`bot.slack.server` checks every body's
    signature before Bolt sees it (and hands Bolt decoded payloads, whose signature Bolt could
    not check again)."""
    app = AsyncApp(
        client=slack,
        signing_secret=signing_secret,
        request_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    app.use(Screen())
    app.error(_on_error)
    commands.register(app, service, directory, max_jobs=max_jobs)
    actions.register(app, service)
    prechecks.register(app, service)
    submissions.register(app, service, directory, max_jobs=max_jobs)
    options.register(app, service)
    home.register(app, service)
    return app


def _payload_team(body: dict[str, Any]) -> str | None:
    team = body.get("team")
    if isinstance(team, dict) and team.get("id"):
        return str(team["id"])
    if body.get("team_id"):
        return str(body["team_id"])
    user = body.get("user")
    if isinstance(user, dict) and user.get("team_id"):
        return str(user["team_id"])
    return None


# Objects Slack's interactive payloads carry, as listeners read them (path -> type).
_PAYLOAD_SHAPES: tuple[tuple[tuple[str, ...], type], ...] = (
    (("team",), dict),
    (("user",), dict),
    (("channel",), dict),
    (("container",), dict),
    (("message",), dict),
    (("state",), dict),
    (("view",), dict),
    (("view", "state"), dict),
    (("actions",), list),
)


class Screen(AsyncMiddleware):
    """Bolt middleware: refuse a malformed payload (:func:`_malformed`) or one from another
    workspace. A class, not a function: Bolt builds a function's arguments for each request."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        body = req.body
        if isinstance(body, dict):
            refusal = _malformed(body) or _foreign(body, req.context)
            if refusal is not None:
                return refusal
        return await next()


def _malformed(body: dict[str, Any]) -> BoltResponse | None:
    """400 for a payload whose parts are not the objects Slack sends, so listeners can read
    them without checking each type again."""
    for path, shape in _PAYLOAD_SHAPES:
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, shape):
            where, kind = ".".join(path), type(value).__name__
            log.warning("refused a payload whose %s is a %s", where, kind)
            return BoltResponse(status=400, body="malformed payload")
    actions = body.get("actions")
    if isinstance(actions, list) and not all(isinstance(a, dict) for a in actions):
        log.warning("refused a payload whose actions are not objects")
        return BoltResponse(status=400, body="malformed payload")
    return None


def _foreign(body: dict[str, Any], context: Any) -> BoltResponse | None:
    """403 for a payload from any workspace but the one our token belongs to."""
    ours = getattr(context.authorize_result, "team_id", None) if context.authorize_result else None
    theirs = _payload_team(body)
    if ours and theirs and theirs != ours:
        log.warning("refused a payload from team %s (ours is %s)", theirs, ours)
        return BoltResponse(status=403, body="this app serves another workspace")
    return None


async def _on_error(error: Exception, body: Any) -> BoltResponse | None:
    kind = (body.get("type") if isinstance(body, dict) else None) or "command"
    if _raised_reading_payload(error):
        # Bolt's matchers and its unhandled-request log index the payload without checking
        # it (a block action without an action_id): such a payload is a bad request.
        log.warning("refused a malformed %s payload (%s)", kind, type(error).__name__)
        return BoltResponse(status=400, body="malformed payload")
    log.error("unhandled error in a listener (type=%s)", kind, exc_info=error)
    return None


_BOLT_PAYLOAD_READERS = (
    "slack_bolt/listener_matcher/",
    "slack_bolt/logger/",
    "slack_bolt/request/",
)


def _raised_reading_payload(error: Exception) -> bool:
    """True when Bolt's own code reading the payload raised (not a listener of ours)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1].filename.replace("\\", "/") if frames else ""
    return any(part in where for part in _BOLT_PAYLOAD_READERS)

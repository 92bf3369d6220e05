"""Posting and updating the bot's messages over Slack's Web API: each shown once, and
Slack's refusals sorted.

**Once.** A post whose answer is lost (Slack slower than the client's timeout, a dropped
connection, a crash right after the call) may or may not have been made. Every request and
outcome message carries a marker in its message metadata (``event_type`` and the request ID,
and the attempt for an outcome); when an earlier post of the same message began and was never
confirmed, :meth:`Poster.post` first looks for the marker (``conversations.history`` in the
channel, ``conversations.replies`` in a thread) and adopts the message it finds instead of
posting a second one with live buttons.

**Sorted.** :class:`~bot.service.ports.ChannelLost` is Slack saying the bot cannot post in or
update there for good (removed from the channel, archived, deleted); the service records it
once and tells the requester directly. :class:`~bot.service.ports.NotShown` is a passing fault
(a timeout, a 5xx, a rate limit past slack_sdk's retries): the work item is tried again later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.ports import ChannelLost, NotShown

log = logging.getLogger(__name__)

# Slack's errors that mean the bot cannot post in (or update in) this channel, whatever it
# retries: it was removed, the channel was archived or deleted, or posting is restricted.
CHANNEL_LOST_ERRORS = frozenset(
    {
        "not_in_channel",
        "is_archived",
        "channel_not_found",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "ekm_access_denied",
        "message_not_found",
        "thread_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)

EVENT_PREFIX = "startjobs_"
LOOKUP_LIMIT = 200  # messages read when looking for a post whose answer was lost
LOOKUP_SLACK = 60.0  # seconds before the first attempt also searched (clocks differ)


@dataclass(frozen=True, slots=True)
class Marker:
    """What identifies one of the bot's messages: ``kind`` ("request", "outcome") of a
    request, and the attempt for an outcome."""

    kind: str
    request_id: str
    attempt: int = 0

    def metadata(self) -> dict[str, Any]:
        return {
            "event_type": EVENT_PREFIX + self.kind,
            "event_payload": {"request_id": self.request_id, "attempt": self.attempt},
        }

    def on(self, message: dict[str, Any]) -> bool:
        meta = message.get("metadata")
        if not isinstance(meta, dict) or not message.get("bot_id"):
            return False
        payload = meta.get("event_payload")
        return (
            meta.get("event_type") == EVENT_PREFIX + self.kind
            and isinstance(payload, dict)
            and payload.get("request_id") == self.request_id
            and payload.get("attempt") == self.attempt
        )


class Poster:
    """The bot's posts and updates in channels and threads, over the Web API client."""

    def __init__(self, slack: AsyncWebClient) -> None:
        self.slack = slack

    async def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None,
        marker: Marker,
        thread_ts: str | None = None,
        earlier: float | None = None,
    ) -> str:
        """Post the message (in ``thread_ts``'s thread if given) and return its ts. When an
        earlier post began at ``earlier`` (epoch seconds) and was never confirmed, the message
        it may have made is looked for first and, if found, returned instead.

        Raises :class:`ChannelLost` or :class:`NotShown` (see the module)."""
        if earlier is not None:
            found = await self._find(channel, thread_ts, marker, since=earlier - LOOKUP_SLACK)
            if found is not None:
                log.info(
                    "found %s %s posted before (ts %s); not posting it again", *_what(marker), found
                )
                return found
        resp = await self._call(
            "chat.postMessage",
            self.slack.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=text,
                blocks=blocks,
                metadata=marker.metadata(),
            ),
        )
        return str(resp["ts"])

    async def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None
    ) -> None:
        """Replace a message's text and blocks. Raises as :meth:`post` does."""
        await self._call(
            "chat.update", self.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        )

    async def reply(
        self,
        *,
        channel: str,
        thread_ts: str | None,
        text: str,
        blocks: Sequence[dict[str, Any]] | None,
    ) -> None:
        """A note in a thread, posted once without looking for an earlier one (a lost note
        shown twice misleads nobody). Raises as :meth:`post` does."""
        await self._call(
            "chat.postMessage",
            self.slack.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=text, blocks=blocks
            ),
        )

    async def direct(self, user: str, text: str) -> bool:
        """A direct message to ``user``; False (logged) if it could not be sent."""
        try:
            await self._call(
                "chat.postMessage", self.slack.chat_postMessage(channel=user, text=text)
            )
        except (ChannelLost, NotShown) as exc:
            log.error("could not send %s a direct message: %s", user, exc)
            return False
        return True

    async def _find(
        self, channel: str, thread_ts: str | None, marker: Marker, *, since: float
    ) -> str | None:
        args: dict[str, Any] = {
            "channel": channel,
            "oldest": f"{max(since, 0):.6f}",
            "include_all_metadata": True,
            "limit": LOOKUP_LIMIT,
        }
        try:
            if thread_ts is None:
                resp = await self._call(
                    "conversations.history", self.slack.conversations_history(**args)
                )
            else:
                resp = await self._call(
                    "conversations.replies", self.slack.conversations_replies(ts=thread_ts, **args)
                )
        except ChannelLost:
            raise
        except NotShown as exc:
            if "missing_scope" not in str(exc):
                raise
            # An installation without the history scopes: posting again is all that is left.
            log.warning("cannot look for %s %s (%s); posting it again", *_what(marker), exc)
            return None
        for message in resp.get("messages") or []:
            if isinstance(message, dict) and marker.on(message):
                return str(message.get("ts"))
        return None

    async def _call(self, method: str, call: Any) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error in CHANNEL_LOST_ERRORS:
                raise ChannelLost(error) from exc
            raise NotShown(f"{method}: {error}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NotShown(f"{method}: {type(exc).__name__} {exc}".strip()) from exc


def _what(marker: Marker) -> tuple[str, str]:
    if marker.kind == "outcome":
        return (f"the outcome of {marker.request_id}", f"(attempt {marker.attempt})")
    return (f"the {marker.kind} message", f"of {marker.request_id}")

"""The service's :class:`~bot.service.home.HomeTab` over Slack: ``views.publish``.

Each request on the Home links to its message's thread by the permalink Slack gives
(``chat.getPermalink``); a permalink never changes, so each is asked for once per process and
kept (the newest :data:`LINKS_KEPT`). A request whose link cannot be had shows its channel
instead. Slack's refusals and network faults become :class:`~bot.service.ports.NotShown`, so
the caller retries that person's Home with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.request import StartRequest
from bot.service.home import HomeModel
from bot.service.ports import NotShown
from bot.slack.ui.home import home_view

log = logging.getLogger(__name__)

LINKS_KEPT = 5000
LINKS_AT_ONCE = 4  # chat.getPermalink calls in flight for one Home


class SlackHomeTab:
    """Publishes Home tabs with the bot token's client."""

    def __init__(self, slack: AsyncWebClient) -> None:
        self.slack = slack
        self._links: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def publish_home(self, home: HomeModel) -> None:
        requests = {r.id: r for r in (*home.pending, *home.own, *home.following)}
        gate = asyncio.Semaphore(LINKS_AT_ONCE)
        found = await asyncio.gather(*(self._link(r, gate) for r in requests.values()))
        links = {rid: link for rid, link in zip(requests, found, strict=True) if link}
        try:
            await self.slack.views_publish(user_id=home.user, view=home_view(home, links=links))
        except SlackApiError as exc:
            raise NotShown(f"views.publish: {exc.response.get('error', 'unknown_error')}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NotShown(f"views.publish: {type(exc).__name__} {exc}".strip()) from exc

    async def _link(self, req: StartRequest, gate: asyncio.Semaphore) -> str | None:
        if req.message_ts is None or req.channel_problem is not None:
            return None
        where = (req.channel_id, req.message_ts)
        link = self._links.get(where)
        if link is not None:
            return link
        async with gate:
            try:
                resp = await self.slack.chat_getPermalink(
                    channel=req.channel_id, message_ts=req.message_ts
                )
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.info("no permalink for %s: %s", req.id, exc)
                return None
        link = str(resp.get("permalink") or "")
        if not link.startswith("https://") or any(c in link for c in "<>|"):
            return None
        self._links[where] = link
        while len(self._links) > LINKS_KEPT:
            self._links.popitem(last=False)
        return link

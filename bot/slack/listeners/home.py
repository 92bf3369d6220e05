"""The App Home: the tab opened (``app_home_opened``) and its paging buttons.

Both only take note and return (:class:`bot.service.home.Home` publishes in the background,
coalesced per person), so the ack never waits for a database read or ``views.publish``.
The Home's Approve and Reject are the channel's own buttons (:mod:`.actions`).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.service import Service
from bot.slack.ui.home import page_after
from bot.slack.ui.ids import ActionId


def register(app: AsyncApp, service: Service) -> None:
    @app.event("app_home_opened")
    async def opened(event: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab") == "home" and isinstance(user, str) and user:
            service.home.opened(user)

    async def turn(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = str((body.get("user") or {}).get("id", ""))
        view = body.get("view") or {}
        actions = body.get("actions") or [{}]
        action = actions[0] if isinstance(actions[0], dict) else {}
        if not user or view.get("type") != "home":
            return
        page = page_after(
            view.get("private_metadata"), str(action.get("action_id")), str(action.get("value"))
        )
        service.home.turn(user, page)

    app.action(ActionId.HOME_OLDER.value)(turn)
    app.action(ActionId.HOME_NEWEST.value)(turn)

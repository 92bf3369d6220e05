"""The Run precheck button on a request message: a requester or approver of the project starts
DRS's precheck of the jobs that need it; the message updates as the results arrive."""

from __future__ import annotations

from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import Service
from bot.slack.listeners.actions import tell
from bot.slack.ui.ids import ActionId


def register(app: AsyncApp, service: Service) -> None:
    @app.action(ActionId.RUN_PRECHECK.value)
    async def run_precheck(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        # Acked, and the DRS calls handed to the service's tasks: Bolt answers Slack when
        # this returns (bot.slack.app).
        await ack()
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        actions = body.get("actions") or [{}]
        value = str((actions[0].get("value") if isinstance(actions[0], dict) else None) or "")

        async def run() -> None:
            reply = await service.prechecking.run(value, user, channel)
            await tell(client, channel, user, reply)

        service.tasks.spawn(run(), name=f"precheck of {value or '?'} by {user or '?'}")

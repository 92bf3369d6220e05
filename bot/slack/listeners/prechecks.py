"""The Run precheck button on a request message: a requester or approver of the project starts
DRS's precheck of the jobs that need it; the message updates as the results arrive."""

from __future__ import annotations

from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import Service
from bot.slack.listeners.actions import after_ack, click, tell
from bot.slack.ui.ids import ActionId


def register(app: AsyncApp, service: Service) -> None:
    @app.action(ActionId.RUN_PRECHECK.value)
    async def run_precheck(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        # Acked, and the DRS calls handed to the service's tasks: Bolt answers Slack when
        # this returns (bot.slack.app).
        await ack()
        user, channel, rid = click(body)

        async def run() -> None:
            reply = await service.prechecking.run(rid, user, channel)
            await tell(client, channel, user, reply)

        after_ack(service, run(), body, "precheck")

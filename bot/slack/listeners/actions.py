"""Buttons on request messages: Approve, Reject, Cancel, Retry (Approve and Reject also on
the App Home, where a refusal is said in a modal, there being no channel to answer in).

A button's value is a request id and nothing more; every click looks the request up and
re-checks the clicking user against the policy at that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.request import StartRequest
from bot.service import Service, freezes
from bot.service.model import Reply
from bot.slack.ui import answers, decisions, views
from bot.slack.ui import freeze as freeze_ui
from bot.slack.ui.ids import ActionId

log = logging.getLogger(__name__)


class FormBuilder(Protocol):
    def __call__(self, req: StartRequest, *, now: float) -> dict[str, Any]: ...


def click(body: dict[str, Any]) -> tuple[str, str, str]:
    """(user, channel, request id) of a block_actions payload; empty strings when absent."""
    user = str((body.get("user") or {}).get("id", ""))
    channel = str((body.get("channel") or {}).get("id", ""))
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    return user, channel, str(value or "")


def after_ack(
    service: Service, work: Coroutine[Any, Any, None], body: dict[str, Any], what: str
) -> None:
    """Hand a click's ``work`` to the service's tasks: Bolt answers Slack when the listener
    returns (:mod:`bot.slack.app`)."""
    user, _, rid = click(body)
    service.tasks.spawn(work, name=f"{what} of {rid or '?'} by {user or '?'}")


async def tell(client: AsyncWebClient, channel: str, user: str, reply: Reply) -> None:
    """Answer one user privately in the channel (refusals and confirmations)."""
    text = reply.text if reply.ok else answers.refusal_message(reply.text).text
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("ephemeral to %s failed: %s", user, exc.response.get("error"))


def register(app: AsyncApp, service: Service) -> None:
    async def decision_form(
        body: dict[str, Any], client: AsyncWebClient, action: str, form: FormBuilder
    ) -> None:
        """Re-check the clicking user, then open the approve or reject form (or say why not)."""
        user, channel, rid = click(body)
        check = await service.commands.open_form(rid, user, action)
        if not check.ok or check.request is None:
            if channel:
                await tell(client, channel, user, check)
            else:  # clicked on the App Home: no channel to answer in, so a modal says it
                text = answers.refusal_message(check.text).text
                await _open(client, body, views.notice_modal("Not done", text, markup=True))
            return
        await _open(client, body, form(check.request, now=service.ctx.clock()))

    async def approve_form(body: dict[str, Any], client: AsyncWebClient) -> None:
        user, _, rid = click(body)
        frozen = await freezes.for_approver(service.ctx, rid, user)

        def form(req: StartRequest, *, now: float) -> dict[str, Any]:
            return freeze_ui.with_freeze(decisions.approve_modal(req, now=now), frozen)

        await decision_form(body, client, "approve", form)

    @app.action(ActionId.APPROVE.value)
    async def approve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        after_ack(service, approve_form(body, client), body, "approve click")

    @app.action(ActionId.REJECT.value)
    async def reject(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        after_ack(
            service,
            decision_form(body, client, "reject", decisions.reject_modal),
            body,
            "reject click",
        )

    async def requester_click(
        body: dict[str, Any], client: AsyncWebClient, use: Callable[[str, str], Awaitable[Reply]]
    ) -> None:
        """Cancel or Start, the requester's own buttons: done, or told privately why not."""
        user, channel, rid = click(body)
        reply = await use(rid, user)
        if not reply.ok:
            await tell(client, channel, user, reply)

    @app.action(ActionId.CANCEL.value)
    async def cancel(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        after_ack(service, requester_click(body, client, service.commands.cancel), body, "cancel")

    @app.action(ActionId.CONFIRM.value)
    async def confirm(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        after_ack(service, requester_click(body, client, service.commands.confirm), body, "confirm")

    @app.action(ActionId.RETRY.value)
    async def retry(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        after_ack(service, retry_click(body, client), body, "retry")

    async def retry_click(body: dict[str, Any], client: AsyncWebClient) -> None:
        user, channel, rid = click(body)
        await tell(client, channel, user, await service.commands.retry(rid, user))


async def _open(client: AsyncWebClient, body: dict[str, Any], view: dict[str, Any]) -> None:
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))

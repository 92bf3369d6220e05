"""Modal submissions: the start request, an approval, a rejection.

Validation problems go back inline on their field (``response_action: errors``); a decision
that lost a race is answered in the modal itself (``response_action: update``). A start form
that selects jobs by name or attaches a file is resolved by :mod:`bot.slack.listeners.gather`
(inline when quick, else in the background behind a "looking up" modal).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.core.secret import Secret
from bot.service import Service, freezes
from bot.service.model import Draft, Reply
from bot.slack.directory import Directory
from bot.slack.listeners import gather
from bot.slack.ui import decisions, views
from bot.slack.ui import freeze as freeze_ui
from bot.slack.ui.decisions import START_NOW_VALUE
from bot.slack.ui.forms import (
    COMMENT_MAX,
    channel_from_metadata,
    read_start_form,
    selected_values,
    text_value,
)
from bot.slack.ui.ids import ActionId, BlockId, CallbackId
from bot.slack.uploads import Downloader


def _who(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    user = body.get("user") or {}
    view = body.get("view") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return str(user.get("id", "")), team, view if isinstance(view, dict) else {}


def register(app: AsyncApp, service: Service, directory: Directory, *, max_jobs: int) -> None:
    slack = app.client
    downloader = Downloader(token=Secret(slack.token or ""), api_url=slack.base_url, client=slack)

    @app.view(CallbackId.START.value)
    async def start(ack: AsyncAck, body: dict[str, Any]) -> None:
        user, team, view = _who(body)
        channel = channel_from_metadata(view.get("private_metadata"))
        if channel is None:
            await ack(response_action="errors", errors={BlockId.PROJECT.value: _NO_CHANNEL})
            return
        projects, _ = await service.commands.requestable(user, channel)
        limit = min([max_jobs, *(p.max_jobs for p in projects)])
        info = await directory.user(user)  # cached since the form opened
        form = read_start_form(
            _values(view),
            allowed_projects=frozenset(p.name for p in projects),
            max_jobs=limit,
            now=datetime.fromtimestamp(service.ctx.clock(), UTC),
            max_lead=timedelta(days=service.ctx.policy.defaults.max_lead_days),
            tz=info.tz,
        )
        if not form.ok or form.project is None:
            await ack(response_action="errors", errors=form.errors)
            return
        draft = Draft(
            team_id=team,
            channel_id=channel,
            requester_id=user,
            project=form.project,
            job_ids=form.job_ids,
            start_time_ms=form.start_time_ms,
            reason=form.reason,
            language=info.drs_language,
            tz=info.tz,
        )
        view_id = str(view.get("id", ""))
        await gather.answer(
            ack, service, downloader, form, draft, client=slack, view_id=view_id, max_jobs=limit
        )

    @app.view(CallbackId.APPROVE.value)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        user, _, view = _who(body)
        values = _values(view)
        comment = text_value(values, BlockId.COMMENT, ActionId.COMMENT)
        start_now = START_NOW_VALUE in selected_values(
            values, BlockId.START_NOW, ActionId.START_NOW
        )
        override, why = freeze_ui.read_override(values)
        if override and not why:
            await ack(response_action="errors", errors={BlockId.OVERRIDE_REASON.value: _WHY})
            return
        reply = await service.commands.approve(
            str(view.get("private_metadata", "")),
            user,
            comment[:COMMENT_MAX] or None,
            start_now=start_now,
            override=why[:COMMENT_MAX] if override else None,
        )
        if reply.code in ("freeze", "freeze_override") and reply.request is not None:
            await freeze_answer(ack, service, reply, user, start_now, view)
            return
        if reply.code == "schedule_passed" and reply.request is not None:
            # Say it in the form, with the choice to start now instead.
            form = decisions.approve_modal(reply.request, now=service.ctx.clock())
            if BlockId.START_NOW.value in str(view.get("blocks")):
                await ack(
                    response_action="errors", errors={BlockId.START_NOW.value: reply.text[:2000]}
                )
            else:
                await ack(response_action="update", view=form)
            return
        await _answer(ack, reply)

    @app.view(CallbackId.REJECT.value)
    async def reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        user, _, view = _who(body)
        reason = text_value(_values(view), BlockId.COMMENT, ActionId.COMMENT)
        if not reason:
            await ack(
                response_action="errors",
                errors={BlockId.COMMENT.value: "Say why, for the requester."},
            )
            return
        reply = await service.commands.reject(
            str(view.get("private_metadata", "")), user, reason[:COMMENT_MAX]
        )
        await _answer(ack, reply)


def _values(view: dict[str, Any]) -> Any:
    """The form's ``state.values`` (forms.py reads it defensively, whatever its shape)."""
    return (view.get("state") or {}).get("values")


async def _answer(ack: AsyncAck, reply: Reply) -> None:
    """Close the form on success; otherwise say in it why nothing was done."""
    if reply.ok:
        await ack()
    else:
        await ack(
            response_action="update", view=views.notice_modal("Not done", reply.text, markup=True)
        )


async def freeze_answer(
    ack: AsyncAck,
    service: Service,
    reply: Reply,
    user: str,
    start_now: bool,
    view: dict[str, Any],
) -> None:
    """A change freeze holds the start: say so on the override choice when the form has it,
    else show the form again with the freeze (and the choice, to one who may break it)."""
    if BlockId.FREEZE_OVERRIDE.value in str(view.get("blocks")):
        errors = {BlockId.FREEZE_OVERRIDE.value: reply.text[:2000]}
        await ack(response_action="errors", errors=errors)
        return
    assert reply.request is not None
    frozen = await freezes.at_approval(service.ctx, reply.request, user, start_now, None)
    form = decisions.approve_modal(reply.request, now=service.ctx.clock())
    await ack(response_action="update", view=freeze_ui.with_freeze(form, frozen))


_WHY = "Say why you override the change freeze: it goes on the record and into the thread."
_NO_CHANNEL = "This form lost track of its channel; close it and run /startjobs again."

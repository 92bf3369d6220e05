"""``/startjobs``: help, status, history, and opening the request modal.

Listeners ack first (Slack allows 3 s), then work. The modal is opened at once with a short
"loading" view, because a ``trigger_id`` lives only 3 s, and filled in when the user's projects
and timezone are known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.command import Help, History, Invalid, Start, Status, parse_command
from bot.core.jobids import JOB_ID_RE, parse_job_ids
from bot.core.times import parse_start_time
from bot.slack import blocks, views
from bot.slack.forms import channel_metadata
from bot.workflow import Workflow

log = logging.getLogger(__name__)

COMMAND = "/startjobs"


def register(app: AsyncApp, wf: Workflow, *, max_jobs: int) -> None:
    @app.command(COMMAND)
    async def startjobs(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        cmd = parse_command(str(body.get("text", "")))
        if isinstance(cmd, Help):
            msg = blocks.help_message(command=COMMAND, projects=sorted(wf.policy.projects))
            await ack(text=msg.text, blocks=msg.blocks)
        elif isinstance(cmd, Invalid):
            await ack(text=blocks.error_message(cmd.message).text)
        elif isinstance(cmd, History):
            await ack()
            await wf.ack_first.after_ack()
            await _history(wf, _Answer(wf, respond, user, channel))
        elif isinstance(cmd, Status):
            await ack()
            await wf.ack_first.after_ack()
            await _status(wf, _Answer(wf, respond, user, channel), cmd.args)
        elif isinstance(cmd, Start):
            await ack()
            await wf.ack_first.after_ack()
            await open_start_modal(wf, client, body, cmd, max_jobs=max_jobs)


async def _history(wf: Workflow, answer: _Answer) -> None:
    if not await wf.may_read(answer.user, answer.channel):
        await answer(text=blocks.error_message(_NOT_LISTED).text)
        return
    msg = blocks.history_message(await wf.store.recent(answer.channel, limit=10), now=wf.clock())
    await answer(text=msg.text, blocks=msg.blocks)


async def _status(wf: Workflow, answer: _Answer, args: tuple[str, ...]) -> None:
    if not await wf.may_read(answer.user, answer.channel):
        await answer(text=blocks.error_message(_NOT_LISTED).text)
        return
    if len(args) == 1 and args[0].upper().startswith("SJ-"):
        req = await wf.store.get(args[0].upper())
        if req is None:
            await answer(text=blocks.error_message(f"No request {args[0]!r} is known.").text)
            return
        msg = blocks.status_message(req, await wf.store.events(req.id), now=wf.clock())
        await answer(text=msg.text, blocks=msg.blocks)
        return
    parsed = parse_job_ids(" ".join(args), max_jobs=100)
    if not parsed.ok:
        problems = " ".join(parsed.problems())
        await answer(text=blocks.error_message(problems).text)
        return
    reply = await wf.job_statuses(answer.user, answer.channel, parsed.ids)
    if reply.ok:
        await answer(text=reply.text, blocks=reply.blocks)
    else:
        await answer(text=blocks.refusal_message(reply.text).text)


@dataclass(frozen=True)
class _Answer:
    """Answers ``user`` privately where the command was typed: through the command's response
    URL, else (no URL, or one that does not take the answer) as an ephemeral message."""

    wf: Workflow
    respond: AsyncRespond | None
    user: str
    channel: str

    async def __call__(self, *, text: str, blocks: Sequence[dict[str, Any]] | None = None) -> None:
        problem = "no response URL"
        if self.respond is not None:
            try:
                answer = await self.respond(text=text, blocks=blocks)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                problem = type(exc).__name__
            else:
                if answer.status_code < 300:
                    return
                problem = f"HTTP {answer.status_code}"
        log.warning("the command's response URL failed (%s); answering in an ephemeral", problem)
        try:
            await self.wf.slack.chat_postEphemeral(
                channel=self.channel, user=self.user, text=text, blocks=blocks
            )
        except SlackApiError as exc:
            log.warning("ephemeral to %s failed too: %s", self.user, exc.response.get("error"))


_NOT_LISTED = (
    "You are not a requester or approver of any project usable in this channel. "
    "Ask an admin to add you to the startjobs policy."
)


async def open_start_modal(
    wf: Workflow, client: AsyncWebClient, body: dict[str, Any], cmd: Start, *, max_jobs: int
) -> None:
    """Open the modal at once (trigger ids expire in 3 s), then fill it in."""
    user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
    try:
        opened = await client.views_open(
            trigger_id=str(body.get("trigger_id", "")), view=views.loading_modal()
        )
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        return
    view_id = str(opened["view"]["id"])
    projects, notes = await wf.requestable(user, channel)
    if not projects:
        reason = " ".join(notes) or (
            "no projects are configured"
            if not wf.policy.projects
            else "you may not request in any project from this channel"
        )
        view = views.notice_modal("Cannot start jobs", f"Sorry: {reason}.", markup=True)
    else:
        info = await wf.directory.user(user)
        prefill = _prefill(
            cmd,
            tz=info.tz,
            max_jobs=max_jobs,
            max_lead=timedelta(days=wf.policy.defaults.max_lead_days),
        )
        choices = [views.ProjectChoice(p.name, p.region, p.approval) for p in projects]
        names = [c.name for c in choices]
        preselected = prefill.project if prefill.project in names else None
        if preselected is None and len(names) == 1:
            preselected = names[0]
        view = views.start_modal(
            choices,
            prefill,
            private_metadata=channel_metadata(channel, project=preselected),
            max_jobs=max_jobs,
            pick=True,
            by_name=True,
            upload=True,
        )
    try:
        await client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        log.warning("views.update failed: %s", exc.response.get("error"))


def _prefill(
    cmd: Start, *, tz: str | None, max_jobs: int, max_lead: timedelta
) -> views.StartPrefill:
    """The modal's initial values from the command's arguments, with notices of what was off."""
    notices: list[str] = []
    parsed = parse_job_ids(cmd.job_text, max_jobs=max_jobs)
    if cmd.job_text and parsed.problems():
        notices.extend(parsed.problems())
    if parsed.duplicates:
        notices.append(f"{len(parsed.duplicates)} duplicate job ID(s) collapsed.")
    start_at: int | None = None
    if cmd.time_text:
        when = parse_start_time(cmd.time_text, now=datetime.now(UTC), tz=tz, max_lead=max_lead)
        if when.error:
            notices.append(f"Start time not used: {when.error}")
        elif when.when is not None:
            start_at = int(when.when.timestamp())
            notices.append(f"Start time understood as {when.understood}.")
    job_text = "\n".join(parsed.ids) if parsed.ids else ""
    leftovers = [t for t, _ in parsed.invalid if not JOB_ID_RE.fullmatch(t)]
    if leftovers and not parsed.ids:
        job_text = cmd.job_text
    pattern = cmd.name_pattern
    if pattern is None and (cmd.status_filter or cmd.db_use_type):
        pattern = "*"  # `--status X` alone selects every job in that status
    return views.StartPrefill(
        project=cmd.project,
        job_text=job_text,
        start_at=start_at,
        name_pattern=pattern,
        status_filter=cmd.status_filter,
        type_filter=cmd.db_use_type,
        notices=tuple(notices),
    )

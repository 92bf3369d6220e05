"""``/startjobs``: help, status, history, freezes, and opening the request modal.

Listeners ack first (Slack allows 3 s), then work. The modal is opened at once with a short
"loading" view, because a ``trigger_id`` lives only 3 s, and filled in when the user's projects
and timezone are known. A first word that is neither a subcommand, a job ID nor a project the
user may request in here is answered with what was not understood instead of a form.

What help, status and history show is limited to what the asker may see
(:mod:`bot.service.reading`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.command import (
    SUBCOMMANDS,
    Command,
    Freezes,
    Help,
    History,
    Invalid,
    Start,
    Status,
    closest,
    parse_command,
)
from bot.core.jobids import JOB_ID_RE, parse_job_ids
from bot.core.times import EPOCH_SECONDS_MAX, parse_start_time
from bot.service import Service, freezes
from bot.service.reading import Reading
from bot.slack.directory import Directory
from bot.slack.ui import answers, views
from bot.slack.ui import freeze as freeze_ui
from bot.slack.ui.forms import channel_metadata

log = logging.getLogger(__name__)

COMMAND = "/startjobs"
# Of the 3 s a trigger id lives, how long to spend finding out whether the first word is a
# project the user may request in; past that the form opens and says so itself.
_FIRST_WORD_CHECK = 1.5


def register(app: AsyncApp, service: Service, directory: Directory, *, max_jobs: int) -> None:
    reading = service.reading

    @app.command(COMMAND)
    async def startjobs(
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        cmd = parse_command(str(body.get("text", "")))
        if isinstance(cmd, Invalid):
            await ack(text=answers.error_message(cmd.message).text)
            return
        await ack()
        answer = _Answer(client, respond, user, channel)
        service.tasks.spawn(work(cmd, answer, body), name=f"/startjobs of {user}")

    async def work(cmd: Command, answer: _Answer, body: dict[str, Any]) -> None:
        """What the command asks for, after the ack (Bolt answers Slack when the listener
        returns: :mod:`bot.slack.app`)."""
        user, channel, client = answer.user, answer.channel, answer.client
        if isinstance(cmd, Help):
            projects = await reading.memberships(user, channel)
            msg = answers.help_message(command=COMMAND, projects=projects, user=user)
            await answer(text=msg.text, blocks=msg.blocks)
        elif isinstance(cmd, History):
            reqs = await reading.history(user, channel)
            await answer(**answers.history_message(reqs, now=service.ctx.clock()).as_kwargs())
        elif isinstance(cmd, Status):
            await _status(service, reading, answer, cmd.args)
        elif isinstance(cmd, Freezes):
            rows = await freezes.for_asker(service.ctx, reading, user, channel)
            await answer(**freeze_ui.freezes_message(rows, now=service.ctx.clock()).as_kwargs())
        elif isinstance(cmd, Start):
            word = cmd.project
            if word is not None and await _first_word_refused(service, reading, answer, word):
                return
            await open_start_modal(service, directory, client, body, cmd, max_jobs=max_jobs)


async def _status(
    service: Service, reading: Reading, answer: _Answer, args: tuple[str, ...]
) -> None:
    if len(args) == 1 and args[0].upper().startswith("SJ-"):
        rid = args[0].upper()
        found = await reading.request(answer.user, answer.channel, rid)
        if found is None:
            await answer(**answers.no_such_request_message(rid).as_kwargs())
            return
        msg = answers.status_message(found.request, found.events, now=service.ctx.clock())
        await answer(**msg.as_kwargs())
        return
    parsed = parse_job_ids(" ".join(args), max_jobs=100)
    if not parsed.ok:
        problems = " ".join(parsed.problems())
        await answer(text=answers.error_message(problems).text)
        return
    statuses = await reading.job_statuses(answer.user, parsed.ids)
    if statuses.problem is not None:
        await answer(text=answers.error_message(statuses.problem).text)
        return
    await answer(**answers.job_status_message(statuses.infos).as_kwargs())


async def _first_word_refused(
    service: Service, reading: Reading, answer: _Answer, word: str
) -> bool:
    """Answer (and return True) when ``word``, read as a project name, is none the user may
    request in from here. The answer is the same whether such a project exists or not, unless
    the user is in it (then it says why it is not offered here)."""
    try:
        usable, _ = await asyncio.wait_for(
            service.commands.requestable(answer.user, answer.channel), _FIRST_WORD_CHECK
        )
    except TimeoutError:
        return False  # the form opens and says the project is not offered
    names = sorted(p.name for p in usable)
    if word in names:
        return False
    mine = {m.project.name: m for m in await reading.memberships(answer.user, answer.channel)}
    msg = answers.not_understood_message(
        word,
        command=COMMAND,
        suggestion=closest(word, [*SUBCOMMANDS, *names]),
        projects=names,
        member=mine.get(word),
        in_no_project=not mine,
    )
    await answer(**msg.as_kwargs())
    return True


@dataclass(frozen=True)
class _Answer:
    """Answers ``user`` privately where the command was typed: through the command's response
    URL, else (no URL, or one that does not take the answer) as an ephemeral message."""

    client: AsyncWebClient
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
            await self.client.chat_postEphemeral(
                channel=self.channel, user=self.user, text=text, blocks=blocks
            )
        except SlackApiError as exc:
            log.warning("ephemeral to %s failed too: %s", self.user, exc.response.get("error"))


async def open_start_modal(
    service: Service,
    directory: Directory,
    client: AsyncWebClient,
    body: dict[str, Any],
    cmd: Start,
    *,
    max_jobs: int,
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
    projects, notes = await service.commands.requestable(user, channel)
    if not projects:
        reason = " ".join(notes) or (
            "no projects are configured"
            if not service.ctx.policy.projects
            else "you may not request in any project from this channel"
        )
        view = views.notice_modal("Cannot start jobs", f"Sorry: {reason}.", markup=True)
    else:
        info = await directory.user(user)
        prefill = _prefill(
            cmd,
            tz=info.tz,
            max_jobs=max_jobs,
            max_lead=timedelta(days=service.ctx.policy.defaults.max_lead_days),
        )
        choices = [views.ProjectChoice(p.name, p.region, p.approval) for p in projects]
        names = [c.name for c in choices]
        preselected = prefill.project if prefill.project in names else None
        if prefill.project is not None and preselected is None:
            missing = f"{prefill.project} is not a project you can request in here: choose one."
            prefill = replace(prefill, notices=(missing, *prefill.notices))
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
        n = len(parsed.duplicates)
        notices.append(f"{n:,} duplicate job ID{'' if n == 1 else 's'} collapsed.")
    start_at: int | None = None
    start_notice: str | None = None
    if cmd.time_text:
        when = parse_start_time(cmd.time_text, now=datetime.now(UTC), tz=tz, max_lead=max_lead)
        kept = int(when.refused.timestamp()) if when.refused is not None else -1
        if when.error and 0 <= kept <= EPOCH_SECONDS_MAX:
            # Past or too far ahead: keep it, with "At", so the form cannot start now by
            # mistake; submitting it unchanged shows the error on the field.
            start_at = kept
            start_notice = f"Change this time or choose Now: {when.error}."
            notices.append(f"The start time needs a change: {when.error}.")
        elif when.error:
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
        start_notice=start_notice,
    )

"""The Notifier port over Slack: :class:`SlackNotifier` renders the service's values with the
Block Kit builders (:mod:`bot.slack.ui`) and shows them through :class:`bot.slack.poster.Poster`
(each once; Slack's refusals sorted into the port's errors).
"""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.idfile import ListedJob, frozen_list_csv
from bot.core.request import StartRequest
from bot.core.summary import jobs_csv
from bot.service.ports import (
    ChannelGone,
    FailedAfterStart,
    FreezeOverridden,
    Note,
    NoteDirect,
    Notice,
    NotPosted,
    OutcomeDirect,
    OutcomeView,
    RequestView,
    Settled,
    StartedNowInstead,
    StoppedFollowing,
)
from bot.slack.poster import Marker, Poster
from bot.slack.ui import blocks, kit, outcome, precheck
from bot.slack.ui import freeze as freeze_ui
from bot.slack.ui.message import Message
from bot.slack.ui.mrkdwn import mention, slack_date

log = logging.getLogger(__name__)

_CANNOT_POST_HINTS = {
    "not_in_channel": "invite the bot to the channel (/invite @startjobs) and try again",
    "channel_not_found": "the bot cannot see this channel; invite it first",
    "is_archived": "the channel is archived",
}


class SlackNotifier:
    """The service's Notifier: Block Kit messages in the request's channel and thread, and
    direct messages to the requester."""

    def __init__(self, slack: AsyncWebClient) -> None:
        self.slack = slack
        self.poster = Poster(slack)

    async def post_request(
        self, req: StartRequest, view: RequestView, *, earlier: float | None
    ) -> str:
        msg = _request(req, view)
        marker = Marker("request", req.id)
        return await self.poster.post(
            channel=req.channel_id, text=msg.text, blocks=msg.blocks, marker=marker, earlier=earlier
        )

    async def update_request(self, req: StartRequest, view: RequestView) -> None:
        assert req.message_ts is not None
        msg = _request(req, view)
        await self.poster.update(
            channel=req.channel_id, ts=req.message_ts, text=msg.text, blocks=msg.blocks
        )

    async def attach_job_list(self, req: StartRequest, source: str) -> None:
        """The frozen job list of a request made by name pattern or upload, as a CSV in its
        thread. Best effort: the list itself is in the store; a failed upload is logged."""
        content = frozen_list_csv(
            ListedJob(j.job_id, j.name, j.status_at_request, j.prepaid) for j in req.jobs
        )
        await self._upload(
            req,
            content,
            filename=f"{req.id}-requested-jobs.csv",
            title=f"{req.id}: the {len(req.jobs):,} requested jobs",
            comment=blocks.job_list_comment(req, source=source),
        )

    async def post_outcome(
        self, req: StartRequest, view: OutcomeView, *, earlier: float | None
    ) -> str:
        msg = _outcome(req, view)
        ts = await self.poster.post(
            channel=req.channel_id,
            thread_ts=req.message_ts,
            text=msg.text,
            blocks=msg.blocks,
            marker=Marker("outcome", req.id, view.attempt),
            earlier=earlier,
        )
        if outcome.needs_csv(req):
            await self._upload(
                req,
                jobs_csv(req.jobs),
                filename=f"{req.id}-jobs.csv",
                title=f"{req.id}: every job's outcome",
            )
        return ts

    async def update_outcome(self, req: StartRequest, view: OutcomeView) -> None:
        assert req.outcome_ts is not None
        msg = _outcome(req, view)
        await self.poster.update(
            channel=req.channel_id, ts=req.outcome_ts, text=msg.text, blocks=msg.blocks
        )

    async def note(self, req: StartRequest, note: Note) -> None:
        msg = _note(req, note)
        await self.poster.reply(
            channel=req.channel_id,
            thread_ts=req.message_ts,
            text=msg.text,
            blocks=msg.blocks or None,
        )

    async def tell(self, req: StartRequest, notice: Notice) -> bool:
        return await self.poster.direct(req.requester_id, _notice_text(req, notice))

    async def _upload(
        self,
        req: StartRequest,
        content: str,
        *,
        filename: str,
        title: str,
        comment: str | None = None,
    ) -> None:
        try:
            await self.slack.files_upload_v2(
                channel=req.channel_id,
                thread_ts=req.message_ts,
                content=content,
                filename=filename,
                title=title,
                initial_comment=comment,
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.error("upload of %s for %s failed: %s", filename, req.id, exc)


def _request(req: StartRequest, view: RequestView) -> Message:
    msg = blocks.request_message(
        req,
        now=view.now,
        lookup_problem=view.lookup_problem,
        source=view.source,
        overlaps=view.overlaps,
    )
    return precheck.with_prechecks(msg, req, view.prechecks, view.precheck_rule)


def _outcome(req: StartRequest, view: OutcomeView) -> Message:
    """The thread's outcome message, with a Retry button when one helps and fits."""
    msg = outcome.outcome_message(
        req, failures=view.failures, attempt=view.attempt, actor=view.actor
    )
    retry = outcome.retry_button_blocks(req, view.retryable)
    if retry and len(msg.blocks) + len(retry) <= kit.MESSAGE_BLOCKS_MAX:
        return Message(msg.text, [*msg.blocks, *retry])
    return msg


def _note(req: StartRequest, note: Note) -> Message:
    if isinstance(note, Settled):
        return outcome.settled_message(req)
    if isinstance(note, FailedAfterStart):
        text = outcome.failed_after_start_text(req, note.job_ids)
    elif isinstance(note, StoppedFollowing):
        text = (
            f"Stopped following {req.id}: some jobs had not settled after "
            f"{int(note.after_seconds)} s. Check them with `/startjobs status {req.id}`."
        )
    elif isinstance(note, FreezeOverridden):
        text = freeze_ui.override_note_text(req, note)
    else:
        assert isinstance(note, StartedNowInstead)
        text = (
            f":fast_forward: {mention(note.approver)} approved {req.id} after its scheduled "
            f"time ({slack_date(note.scheduled_at)}) had passed, and chose to start it now "
            "instead."
        )
    return Message(text, [])


def _notice_text(req: StartRequest, notice: Notice) -> str:
    where = f"<#{req.channel_id}>"
    if isinstance(notice, NotPosted):
        hint = _CANNOT_POST_HINTS.get(notice.error, "see the bot's log")
        return (
            f":warning: I could not post request {req.id} in {where} ({notice.error}): "
            f"{hint}. Nothing was started."
        )
    if isinstance(notice, ChannelGone):
        return (
            f":warning: I can no longer post about request {req.id} in {where} "
            f"({notice.error}). I will tell you here what becomes of it; "
            f"`/startjobs status {req.id}` shows it at any time."
        )
    if isinstance(notice, OutcomeDirect):
        text = _outcome(req, notice.view).text
        return f"{text}\nDetails: `/startjobs status {req.id}`."
    assert isinstance(notice, NoteDirect)
    return _note(req, notice.note).text

"""Turning a submitted start form into one frozen list of job IDs.

The typed and picked IDs are known at once; a name pattern needs DRS's job list and an upload
needs Slack's file. Both lookups run together under :data:`ACK_BUDGET`: a lookup that ends in
time is answered inline (``response_action: errors`` on the field, or the request is made and
the modal closes), which covers every ordinary case; one that takes longer — a slow DRS, a
project of many thousands of jobs — must not hold the 3 s acknowledgement, so the modal turns
into a "looking up" notice at once and the lookup finishes in the background, then says in
that modal (and, for a refusal, privately in the channel) what became of it.

Whatever the sources, the IDs are merged once (duplicates collapsed), checked against the
per-request maximum, and stored with the request: approvers approve and the bot starts that
list, never a new reading of the pattern.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.model import DrsCallError
from bot.core.selection import Selection, merge_ids
from bot.service import Service
from bot.service.model import Draft, Reply
from bot.slack.ui import answers, views
from bot.slack.ui.forms import StartForm
from bot.slack.ui.ids import BlockId
from bot.slack.uploads import Downloader, UploadedIds, read_uploads

log = logging.getLogger(__name__)

ACK_BUDGET = 1.5
"""Seconds of lookups waited for before the acknowledgement; Slack allows 3 s in all, and the
permission checks before and the store write after need their share."""

ERROR_MAX = 2000


@dataclass(frozen=True, slots=True)
class Gathered:
    """The merged IDs and a description of their sources, or errors by ``block_id``."""

    ids: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    source: str | None = None


async def gather_ids(
    service: Service,
    downloader: Downloader,
    form: StartForm,
    *,
    project: str,
    max_jobs: int,
) -> Gathered:
    """Resolve the form's pattern and uploads and merge every source. Never raises for a
    problem people can fix (DRS unreachable, a bad file): those come back in ``errors``."""
    selecting = _select(service, project, form.selection, max_jobs)
    uploading = _upload(downloader, form, max_jobs)
    (selected, select_error), uploaded = await asyncio.gather(selecting, uploading)
    errors: dict[str, str] = {}
    if select_error:
        errors[BlockId.NAME_PATTERN.value] = _fit(select_error)
    if uploaded.problem:
        errors[BlockId.UPLOAD.value] = _fit(uploaded.problem)
    if errors:
        return Gathered(errors=errors)
    ids, _ = merge_ids(form.job_ids, uploaded.ids, selected)
    if len(ids) > max_jobs:
        block = BlockId.NAME_PATTERN if selected else BlockId.UPLOAD
        return Gathered(
            errors={
                block.value: f"Together the lists hold {len(ids):,} jobs; at most {max_jobs:,} "
                "per request: split them into several requests."
            }
        )
    return Gathered(ids, source=describe_sources(form, uploaded))


def describe_sources(form: StartForm, uploaded: UploadedIds) -> str | None:
    """Plain text for the request message, or None when every ID was typed or picked."""
    parts: list[str] = []
    if form.selection is not None:
        parts.append(form.selection.describe())
    if uploaded.names:
        parts.append("file " + ", ".join(uploaded.names))
    if not parts:
        return None
    if form.job_ids:
        parts.append(f"{len(form.job_ids):,} typed or picked")
    return " + ".join(parts)


async def _select(
    service: Service, project: str, selection: Selection | None, max_jobs: int
) -> tuple[tuple[str, ...], str | None]:
    if selection is None:
        return (), None
    try:
        resolved = await service.selecting.select_jobs(project, selection, max_jobs=max_jobs)
    except DrsCallError as exc:
        log.warning("selecting jobs in %s failed: %s", project, exc)
        return (), f"Could not list the jobs in DRS: {exc}. Nothing was requested; try again."
    problem = resolved.problem(project)
    return (resolved.ids, None) if problem is None else ((), problem)


async def _upload(downloader: Downloader, form: StartForm, max_jobs: int) -> UploadedIds:
    if not form.files:
        return UploadedIds()
    return await read_uploads(downloader, form.files, max_jobs=max_jobs)


def lookup_text(form: StartForm) -> str:
    """What is being looked up, for the "looking up" modal (plain text)."""
    parts = [form.selection.describe()] if form.selection is not None else []
    parts += [f"file {f.name}" for f in form.files]
    return "; ".join(parts)


# --- answering -----------------------------------------------------------------------------------

Ack = Callable[..., Awaitable[object]]


async def answer(
    ack: Ack,
    service: Service,
    downloader: Downloader,
    form: StartForm,
    draft: Draft,
    *,
    client: AsyncWebClient,
    view_id: str,
    max_jobs: int,
) -> None:
    """Acknowledge a valid start form within Slack's 3 s, making the request now or (for a
    lookup that takes longer than :data:`ACK_BUDGET`) once the lookup is done.

    ``draft`` holds the typed and picked IDs; ``form.project`` must be set.
    """
    if not form.needs_lookup or form.project is None:
        await submit_inline(ack, service, draft)
        return
    lookup = gather_ids(service, downloader, form, project=form.project, max_jobs=max_jobs)
    gathering = asyncio.ensure_future(lookup)
    done, _ = await asyncio.wait({gathering}, timeout=ACK_BUDGET)
    if not done:
        await ack(response_action="update", view=views.selecting_modal(lookup_text(form)))
        finish = finish_later(service, client, gathering, draft, view_id=view_id)
        service.tasks.spawn(finish, name=f"select jobs for {draft.requester_id}")
        return
    got = gathering.result()
    if got.errors:
        await ack(response_action="errors", errors=got.errors)
        return
    await submit_inline(ack, service, replace(draft, job_ids=got.ids, source=got.source))


async def submit_inline(ack: Ack, service: Service, draft: Draft) -> None:
    """Make the request and acknowledge: close the modal, or show why not on it."""
    reply = await service.commands.submit(draft)
    if not reply.ok:
        field = BlockId.WHEN if reply.code == "freeze" else BlockId.PROJECT  # a change freeze
        await ack(response_action="errors", errors={field.value: _fit(reply.text)})
        return
    await ack()


async def finish_later(
    service: Service,
    client: AsyncWebClient,
    gathering: asyncio.Future[Gathered],
    draft: Draft,
    *,
    view_id: str,
) -> None:
    """The rest of a submission whose lookups outlived the acknowledgement."""
    try:
        got = await gathering
    except Exception:
        log.exception("looking up the jobs of a request by %s failed", draft.requester_id)
        await _refuse(client, draft, view_id, "Something went wrong while looking up the jobs.")
        return
    if got.errors:
        await _refuse(client, draft, view_id, " ".join(got.errors.values()))
        return
    reply = await service.commands.submit(replace(draft, job_ids=got.ids, source=got.source))
    if not reply.ok:
        await _refuse(client, draft, view_id, reply.text)
        return
    await _show(client, view_id, "Request submitted", _submitted(reply))


def _submitted(reply: Reply) -> str:
    req = reply.request
    if req is None:
        return reply.text
    return (
        f"Request {req.id} for {len(req.jobs):,} jobs is being posted in the channel. "
        "The list is frozen: approvers approve exactly these jobs."
    )


async def _refuse(client: AsyncWebClient, draft: Draft, view_id: str, why: str) -> None:
    text = f"No request was made. {why}"
    await _show(client, view_id, "Not submitted", text)
    try:
        await client.chat_postEphemeral(
            channel=draft.channel_id,
            user=draft.requester_id,
            text=answers.error_message(text).text,
        )
    except SlackApiError as exc:
        log.warning("ephemeral to %s failed: %s", draft.requester_id, exc.response.get("error"))


async def _show(client: AsyncWebClient, view_id: str, title: str, text: str) -> None:
    if not view_id:
        return
    try:
        await client.views_update(view_id=view_id, view=views.notice_modal(title, text))
    except SlackApiError as exc:
        # Closed by the user meanwhile (not_found): the channel says the rest.
        log.info("could not update modal %s: %s", view_id, exc.response.get("error"))


def _fit(text: str) -> str:
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"

"""Options of the start modal's "pick jobs by name" select, searched in DRS as the user types.

Slack sends a ``block_suggestion`` request (over HTTP to the manifest's options load URL, or
over Socket Mode) with the typed text and the open view; Bolt's ``app.options`` serves both.
The answer must come within Slack's 3 s, so the DRS search gets :data:`SEARCH_BUDGET` seconds
and a slower DRS gets a hint option instead of a late answer. Options are the project's jobs
whose name contains the typed text, at most :data:`MAX_OPTIONS` (Slack's limit), startable
ones first; a job that cannot be started now is marked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.core.model import DrsCallError, JobInfo
from bot.core.status import is_startable
from bot.service import Service
from bot.slack.ui import kit
from bot.slack.ui.forms import channel_from_metadata, project_of_view
from bot.slack.ui.ids import HINT_VALUE, ActionId

log = logging.getLogger(__name__)

MAX_OPTIONS = 100  # Slack shows at most 100 options
SEARCH_BUDGET = 2.0  # seconds for DRS, leaving room within Slack's 3 s for the rest
QUERY_MAX = 64

NO_PROJECT = "Choose a project above first, then type a job name"


def hint_option(text: str) -> kit.Block:
    """An option that only says something; picking it adds no job."""
    return kit.option(text, HINT_VALUE)


def job_option(info: JobInfo) -> kit.Block:
    """A job as an option: its name, then status and engine; ``:warning:`` when it cannot be
    started now. The value is the job ID."""
    name = info.name or info.job_id
    kind = " ".join(x for x in (info.engine_type, info.db_use_type) if x)
    status = info.status or "no status"
    if is_startable(info.status):
        description = f"{status} · {kind}" if kind else status
    else:
        description = f":warning: cannot start now: {status}" + (f" · {kind}" if kind else "")
    return kit.option(name, info.job_id, description)


def job_options(infos: Sequence[JobInfo]) -> list[kit.Block]:
    """At most :data:`MAX_OPTIONS` options, startable jobs first, then by name; or one hint
    option when nothing matched."""
    unique = {i.job_id: i for i in infos}
    ordered = sorted(
        unique.values(), key=lambda i: (not is_startable(i.status), i.name or "", i.job_id)
    )
    if not ordered:
        return [hint_option("No job name contains that text")]
    return [job_option(i) for i in ordered[:MAX_OPTIONS]]


def register(app: AsyncApp, service: Service) -> None:
    @app.options(ActionId.JOB_PICK.value)
    async def pick_jobs(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        user = str((body.get("user") or {}).get("id", ""))
        channel = channel_from_metadata(view.get("private_metadata") if view else None)
        project = project_of_view(view)
        query = str(body.get("value") or "").strip()[:QUERY_MAX]
        await ack(options=await _search(service, user, channel, project, query))


async def _search(
    service: Service, user: str, channel: str | None, project: str | None, query: str
) -> list[kit.Block]:
    if project is None or channel is None:
        return [hint_option(NO_PROJECT)]
    decision = await service.commands.check_request(user, project, channel)
    if not decision.allowed:
        return [hint_option(f"Not allowed: {decision.reason}")]
    try:
        async with asyncio.timeout(SEARCH_BUDGET):
            found = await service.selecting.search_jobs(project, query, limit=MAX_OPTIONS)
    except TimeoutError:
        log.warning("job search in %s: DRS took over %.1f s", project, SEARCH_BUDGET)
        return [hint_option("DRS is slow to answer: keep typing, or paste the IDs below")]
    except DrsCallError as exc:
        log.warning("job search in %s failed: %s", project, exc)
        return [hint_option("DRS could not be searched now; paste the IDs below")]
    return job_options(found)

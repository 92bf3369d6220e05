"""Choosing jobs without typing their IDs: the request form's search as a person types, and
resolving a name pattern against DRS's job list."""

from __future__ import annotations

import asyncio

from bot.core.command import DB_USE_TYPES
from bot.core.model import JobInfo
from bot.core.selection import Resolved, Selection, resolve
from bot.service.context import Context


class Selecting:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def search_jobs(self, project_name: str, text: str, *, limit: int = 100) -> list[JobInfo]:
        """Jobs of every type whose name DRS matches with ``text`` (its job-list ``name``
        filter), at most ``limit`` per type, one DRS call per type, made concurrently.

        For the modal's search as the user types. An unknown project finds nothing; a failed
        call raises :class:`bot.core.model.DrsCallError`.
        """
        project = self.ctx.policy.project(project_name)
        if project is None:
            return []
        drs = self.ctx.drs_for(project)
        found = await asyncio.gather(
            *(drs.list_jobs(db_use_type=t, name=text or None, limit=limit) for t in DB_USE_TYPES)
        )
        return [info for part in found for info in part]

    async def select_jobs(
        self, project_name: str, selection: Selection, *, max_jobs: int
    ) -> Resolved:
        """The project's jobs that ``selection`` matches now, read page by page from DRS's job
        list (the pattern's literal prefix as DRS's ``name`` filter, the status too; the
        pattern, status and type are then checked here).

        At most ``10 * max_jobs`` listed jobs are read per type; past that the result is
        marked incomplete and :meth:`Resolved.problem` refuses it. A failed call raises
        :class:`bot.core.model.DrsCallError`; an unknown project matches nothing.
        """
        project = self.ctx.policy.project(project_name)
        if project is None:
            return resolve(selection, [], max_jobs=max_jobs)
        drs = self.ctx.drs_for(project)
        scan = max(10 * max_jobs, 1000)
        listed = await asyncio.gather(
            *(
                drs.list_jobs(
                    db_use_type=t, name=selection.drs_name, status=selection.status, limit=scan
                )
                for t in selection.db_use_types
            )
        )
        complete = all(len(part) < scan for part in listed)
        infos = [info for part in listed for info in part]
        return resolve(selection, infos, max_jobs=max_jobs, complete=complete)

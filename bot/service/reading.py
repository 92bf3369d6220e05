"""Reading: a request, a channel's history, jobs' DRS statuses and one's own projects, each
limited to what the person asking may see.

Who may read a request is decided by :func:`bot.core.policy.may_read_request`: its requester,
its project's requesters and approvers (directly or through a user group), and, where the
project sets ``visible_to_channel``, anyone asking from the request's own channel. A request
that exists but may not be read is answered exactly like one that does not exist, so request
IDs cannot be probed.

User groups are resolved through a directory (``groups_of``) that raises :class:`LookupError`
when a group cannot be read; such a group grants nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.model import DrsCallError, JobInfo
from bot.core.policy import Membership, Policy, ProjectPolicy, may_read_request, membership
from bot.core.request import AuditEvent, StartRequest
from bot.service.ports import Directory, DrsFor, Store

HISTORY_SCANNED = 100
"""Most recent requests of a channel looked at for :meth:`Reading.history`."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A request and its audit trail, as shown by ``status <request ID>``."""

    request: StartRequest
    events: Sequence[AuditEvent]


@dataclass(frozen=True, slots=True)
class JobStatuses:
    """What DRS says about some jobs, in the order asked (a job no project of the asker
    knows has ``status`` None), or ``problem``: plain text saying why nothing was looked up."""

    infos: tuple[JobInfo, ...] = ()
    problem: str | None = None


class Reading:
    """The read use cases; every dependency passed in."""

    def __init__(
        self,
        *,
        policy: Policy,
        directory: Directory,
        store: Store,
        drs_for: DrsFor,
    ) -> None:
        self.policy = policy
        self.directory = directory
        self.store = store
        self.drs_for = drs_for

    async def _groups(self, user: str, project: ProjectPolicy) -> frozenset[str]:
        """``user``'s groups among those ``project`` names; none when they cannot be read."""
        wanted = project.groups()
        if not wanted or user in project.requesters | project.approvers:
            return frozenset()  # no lookup needed: nothing to find, or listed directly
        try:
            return await self.directory.groups_of(user, wanted)
        except LookupError:
            return frozenset()

    async def memberships(self, user: str, channel: str) -> list[Membership]:
        """The projects ``user`` is a requester or approver of, by name."""
        found: list[Membership] = []
        for _, project in sorted(self.policy.projects.items()):
            member = membership(project, user, await self._groups(user, project), channel)
            if member is not None:
                found.append(member)
        return found

    async def request(self, user: str, channel: str, request_id: str) -> RequestRecord | None:
        """The request ``request_id`` with its audit trail, or None when it does not exist or
        ``user`` (asking from ``channel``) may not read it: the two are not told apart."""
        req = await self.store.get(request_id)
        if req is None or not await self._may_read(user, channel, req):
            return None
        return RequestRecord(req, await self.store.events(req.id))

    async def history(self, user: str, channel: str, *, limit: int = 10) -> list[StartRequest]:
        """The newest requests made in ``channel`` that ``user`` may read, at most ``limit``,
        among the channel's last :data:`HISTORY_SCANNED`."""
        seen: list[StartRequest] = []
        groups: dict[str, frozenset[str]] = {}
        for req in await self.store.recent(channel, limit=HISTORY_SCANNED):
            project = self.policy.project(req.project)
            if project is not None and project.name not in groups:
                groups[project.name] = await self._groups(user, project)
            user_groups = groups.get(req.project, frozenset())
            if may_read_request(project, req, user, user_groups, channel):
                seen.append(req)
                if len(seen) >= limit:
                    break
        return seen

    async def job_statuses(self, user: str, job_ids: Sequence[str]) -> JobStatuses:
        """What DRS says now about ``job_ids``, looked up in every project ``user`` is a
        requester or approver of (in name order; each job from the first project that knows
        it). A failed DRS call ends the look-up with its ``problem``."""
        projects = [m.project for m in await self.memberships(user, "")]
        if not projects:
            return JobStatuses(problem=NOT_IN_A_PROJECT)
        found: dict[str, JobInfo] = {}
        for project in projects:
            missing = [j for j in job_ids if j not in found]
            if not missing:
                break
            try:
                infos = await self.drs_for(project).batch_detail(missing)
            except DrsCallError as exc:
                return JobStatuses(problem=f"DRS ({project.name}) answered: {exc}")
            found.update((i.job_id, i) for i in infos if i.status is not None)
        return JobStatuses(infos=tuple(found.get(j, JobInfo(job_id=j)) for j in job_ids))

    async def _may_read(self, user: str, channel: str, req: StartRequest) -> bool:
        project = self.policy.project(req.project)
        groups = await self._groups(user, project) if project is not None else frozenset()
        return may_read_request(project, req, user, groups, channel)


NOT_IN_A_PROJECT = (
    "you are not a requester or approver of any project, so there is nothing you may look up: "
    "ask whoever maintains the bot's access policy (startjobs.toml) to add your user ID or one "
    "of your user groups to a project's requesters or approvers"
)

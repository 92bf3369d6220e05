"""The App Home: what one person sees on the bot's Home tab, as a view model (no Slack).

Three sections, each newest first and a page at a time (:class:`HomePage`, keyed by
``(created_at, id)`` cursors):

1. requests waiting for *this person's* approval: pending, unexpired requests of projects
   they approve, that :func:`bot.core.policy.may_approve` lets them approve now (so never
   their own under two-person approval), with the warnings the channel message shows;
2. their own recent requests, in any state;
3. requests still being followed up that they may read (:func:`may_read_request`, asked from
   no channel: the projects they request in or approve, and their own).

The view is published through the :class:`HomeTab` port when the person opens the tab and
whenever a request they can see changes state (:class:`bot.service.home_updates.HomeUpdates`
coalesces those per person). The page a person turned to is kept in the store
(:meth:`bot.service.ports.Store.keep_home_page`, for :data:`PAGE_KEPT` seconds), so that an
update published by another replica shows that page too; opening the tab starts again at the
newest.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from bot.core.policy import (
    ProjectPolicy,
    may_approve,
    may_read_request,
    membership,
)
from bot.core.request import Approval, StartRequest
from bot.service.context import Context
from bot.service.home_updates import HomeUpdates
from bot.service.ports import Cursor

PENDING_SHOWN = 12  # requests waiting for approval on one page
OWN_SHOWN = 15  # one's own requests on one page
FOLLOWING_SHOWN = 10  # followed-up requests on one page
SCAN_ROUNDS = 4  # pages of pending requests read to fill one page of those one may approve
PAGE_KEPT = 86_400.0  # seconds a person's turned page is kept for later updates
PAGE_TEXT_MAX = 2000  # characters of a kept page read back; three cursors take under 300
ID_MAX = 64  # longer than any request id; a cursor with a longer one is not ours
UPDATE_WINDOW = 0.5  # seconds a burst of changes is gathered into one publish per person


class Section(StrEnum):
    PENDING = "pending"
    OWN = "own"
    FOLLOWING = "following"


@dataclass(frozen=True, slots=True)
class HomePage:
    """Where each section starts (None: at its newest request)."""

    pending: Cursor | None = None
    own: Cursor | None = None
    following: Cursor | None = None

    def at(self, section: Section) -> Cursor | None:
        return {
            Section.PENDING: self.pending,
            Section.OWN: self.own,
            Section.FOLLOWING: self.following,
        }[section]

    def moved(self, section: Section, cursor: Cursor | None) -> HomePage:
        return replace(self, **{section.value: cursor})

    def as_json(self) -> dict[str, list[object]]:
        """Each section not at its newest, by name, to its ``[created_at, id]`` (the form the
        store keeps and the Home view's metadata carries)."""
        return {s.value: [c[0], c[1]] for s in Section if (c := self.at(s)) is not None}

    @classmethod
    def of_json(cls, data: object) -> HomePage:
        """The page :meth:`as_json` gave; whatever is not a cursor is its section's newest."""
        if not isinstance(data, dict):
            return cls()
        return cls(*(cursor_of(data.get(s.value)) for s in Section))

    def text(self) -> str | None:
        """The page as the store keeps it (:meth:`as_json`); None at the newest everywhere."""
        at = self.as_json()
        return json.dumps(at, separators=(",", ":")) if at else None

    @classmethod
    def of_text(cls, text: object) -> HomePage:
        """The page :meth:`text` gave; anything else is the newest page."""
        data: object = None
        if isinstance(text, str) and len(text) <= PAGE_TEXT_MAX:
            with contextlib.suppress(ValueError):
                data = json.loads(text)
        return cls.of_json(data)


def cursor_of(value: object) -> Cursor | None:
    """A cursor as JSON holds it (``[created_at, id]``, the id at most :data:`ID_MAX`
    characters); None for anything else."""
    if isinstance(value, list) and len(value) == 2:
        at, rid = value
        if isinstance(at, int | float) and not isinstance(at, bool) and isinstance(rid, str):
            return (float(at), rid) if 0 < len(rid) <= ID_MAX else None
    return None


@dataclass(frozen=True, slots=True)
class HomeModel:
    """One person's Home tab. ``older`` holds, for each section with older requests, where
    its next page starts; ``overlaps`` (pending request -> other open request -> jobs both
    hold) and ``problems`` (plain text: why some projects' rights could not be read) are
    shown as warnings."""

    user: str
    now: float
    page: HomePage
    pending: tuple[StartRequest, ...]
    own: tuple[StartRequest, ...]
    following: tuple[StartRequest, ...]
    older: Mapping[Section, Cursor] = field(default_factory=dict)
    overlaps: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


class HomeTab(Protocol):
    """Shows a person their Home tab (``bot.slack.home`` over ``views.publish``); raises
    :class:`bot.service.ports.NotShown` for a passing fault."""

    async def publish_home(self, home: HomeModel) -> None: ...


def key(req: StartRequest) -> Cursor:
    return (req.created_at, req.id)


@dataclass(frozen=True, slots=True)
class _Rights:
    projects: tuple[ProjectPolicy, ...]  # the projects the person requests in or approves
    approves: tuple[ProjectPolicy, ...]
    groups: Mapping[str, frozenset[str]]  # project -> the person's groups among its groups
    problems: tuple[str, ...]


class Home:
    """Builds and publishes Home tabs; ``tab`` None builds them only (nothing is shown)."""

    def __init__(
        self, ctx: Context, tab: HomeTab | None = None, *, window: float = UPDATE_WINDOW
    ) -> None:
        self.ctx = ctx
        self.tab = tab
        # Pages turned (or the tab opened) here and not yet stored: stored by the publish
        # that shows them, which is retried with its work item if the store fails.
        self._turned: dict[str, HomePage] = {}
        self.updates = HomeUpdates(
            self.publish, self.audience, spawn=ctx.tasks.spawn, window=window, clock=time.monotonic
        )

    # -- what people do -----------------------------------------------------------------------

    def opened(self, user: str) -> None:
        """``user`` opened the Home tab: show it from the newest, at once."""
        self.turn(user, HomePage())

    def turn(self, user: str, page: HomePage) -> None:
        """``user`` asked for another page: show it at once, and keep it on later updates
        (whichever replica makes them)."""
        if self.tab is not None:
            self._turned[user] = page
            self.updates.people([user], at_once=True)

    async def publish(self, user: str) -> None:
        """Build ``user``'s Home on the page they are at and show it."""
        assert self.tab is not None
        await self.tab.publish_home(await self.model(user, await self._page(user)))

    async def _page(self, user: str) -> HomePage:
        """The page ``user`` turned to here (stored first, for every replica), else the one
        the store keeps (turned on any replica), else the newest."""
        store, now = self.ctx.store, self.ctx.clock()
        turned = self._turned.pop(user, None)
        if turned is None:
            return HomePage.of_text(await store.home_page(user, now=now))
        try:
            await store.keep_home_page(user, turned.text(), now=now, until=now + PAGE_KEPT)
        except BaseException:
            self._turned.setdefault(user, turned)  # for the retry; a newer turn wins
            raise
        return turned

    # -- who sees a request -------------------------------------------------------------------

    async def audience(self, request_id: str) -> frozenset[str]:
        """Whose Home shows ``request_id``: its requester, and its project's requesters and
        approvers (user groups expanded; a group that cannot be read adds nobody)."""
        req = await self.ctx.store.get(request_id)
        if req is None:
            return frozenset()
        people = {req.requester_id}
        project = self.ctx.policy.project(req.project)
        if project is not None:
            groups = project.groups()
            people |= (project.requesters | project.approvers) - groups
            if groups:
                # The rule everywhere: a group that cannot be read grants nothing.
                with contextlib.suppress(LookupError):
                    people |= await self.ctx.directory.users_in(groups)
        return frozenset(p for p in people if p)

    # -- the view model -----------------------------------------------------------------------

    async def model(self, user: str, page: HomePage | None = None) -> HomeModel:
        """``user``'s Home at ``page`` (default: every section at its newest)."""
        page = page or HomePage()
        ctx = self.ctx
        now = ctx.clock()
        rights = await self._rights(user)
        older: dict[Section, Cursor] = {}
        pending, more = await self._pending(user, rights, page.pending, now)
        if more is not None:
            older[Section.PENDING] = more
        own = await ctx.store.requested_by(user, before=page.own, limit=OWN_SHOWN + 1)
        if len(own) > OWN_SHOWN:
            own = own[:OWN_SHOWN]
            older[Section.OWN] = key(own[-1])
        names = [p.name for p in rights.projects]
        following = await ctx.store.following(
            names, requester=user, before=page.following, limit=FOLLOWING_SHOWN + 1
        )
        if len(following) > FOLLOWING_SHOWN:
            following = following[:FOLLOWING_SHOWN]
            older[Section.FOLLOWING] = key(following[-1])
        readable = [
            r
            for r in following
            if may_read_request(
                ctx.policy.project(r.project),
                r,
                user,
                rights.groups.get(r.project, frozenset()),
                "",
            )
        ]
        overlaps = {r.id: await ctx.store.overlapping(r.id) for r in pending}
        return HomeModel(
            user=user,
            now=now,
            page=page,
            pending=tuple(pending),
            own=tuple(own),
            following=tuple(readable),
            older=older,
            overlaps={rid: o for rid, o in overlaps.items() if o},
            problems=rights.problems,
        )

    async def _rights(self, user: str) -> _Rights:
        projects: list[ProjectPolicy] = []
        approves: list[ProjectPolicy] = []
        groups: dict[str, frozenset[str]] = {}
        problems: list[str] = []
        for _, project in sorted(self.ctx.policy.projects.items()):
            mine: frozenset[str] = frozenset()
            wanted = project.groups()
            if wanted:
                try:
                    mine = await self.ctx.directory.groups_of(user, wanted)
                except LookupError as exc:
                    problems.append(f"{project.name}: {exc}")
            member = membership(project, user, mine, "")
            if member is None:
                continue
            groups[project.name] = mine
            projects.append(project)
            if member.approver:
                approves.append(project)
        return _Rights(tuple(projects), tuple(approves), groups, tuple(problems))

    async def _pending(
        self, user: str, rights: _Rights, before: Cursor | None, now: float
    ) -> tuple[list[StartRequest], Cursor | None]:
        """The page of requests ``user`` may approve now, and where the next page starts
        (None: no older ones). At most :data:`SCAN_ROUNDS` pages are read to fill it."""
        if not rights.approves:
            return [], None
        policy = self.ctx.policy
        names = [p.name for p in rights.approves]
        shown: list[StartRequest] = []
        cursor = before
        for _ in range(SCAN_ROUNDS):
            batch = await self.ctx.store.pending_in(names, before=cursor, limit=PENDING_SHOWN + 1)
            for req in batch:
                project = policy.project(req.project)
                if (
                    project is not None
                    and req.approval is not Approval.NONE  # its requester confirms it
                    and req.expires_at > now
                    and may_approve(
                        project, req, user, rights.groups.get(project.name, frozenset())
                    )
                ):
                    shown.append(req)
                if len(shown) > PENDING_SHOWN:
                    return shown[:PENDING_SHOWN], key(shown[PENDING_SHOWN - 1])
                cursor = key(req)
            if len(batch) <= PENDING_SHOWN:
                return shown, None  # nothing older
        return shown, cursor  # read enough for one page: the next page goes on from here

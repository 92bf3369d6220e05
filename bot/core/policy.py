"""The access policy: which projects exist, and who may request, approve and cancel, and where.

The policy's values (:class:`Policy`, :class:`ProjectPolicy`, :class:`Defaults`) and the
decisions taken on them (``may_*``, :func:`membership`, :func:`may_read_request`). The values are
built from the policy file by :func:`bot.core.policy_file.load_policy`. Deny by default: with no
projects nobody may do anything, and with projects only the people (or user groups) listed may
act.

Decisions take the ids of the user groups the person belongs to (``user_groups``), resolved
elsewhere among the groups the policy references (:meth:`Policy.groups`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.core.freeze import FreezeWindow
from bot.core.precheck import PrecheckRule
from bot.core.request import Approval, RequestState, StartRequest
from bot.core.status import is_retryable

GROUP_ID_RE = re.compile(r"\AS[A-Z0-9]{2,31}\Z")
"""A Slack user group ID (``S...``): in a project's requesters or approvers, it names a group."""

_RETRY_STATES = frozenset({RequestState.DONE, RequestState.FAILED, RequestState.UNKNOWN})


@dataclass(frozen=True, slots=True)
class Defaults:
    """Settings from ``[defaults]``, each with the value used when the file leaves it out."""

    max_jobs: int = 1000  # job IDs per request (a project may set its own)
    expire_hours: float = 24.0  # a pending request expires after this long
    chunk_size: int = 100  # job IDs per batch-starting call
    max_lead_days: int = 30  # how far ahead a start may be scheduled
    approval: Approval = Approval.TWO_PERSON  # for projects that do not say
    precheck: PrecheckRule = PrecheckRule.REQUIRE  # DRS's precheck before start


@dataclass(frozen=True, slots=True)
class ProjectPolicy:
    """One ``[projects.<name>]`` table, checked. ``channels`` None = any channel."""

    name: str
    region: str
    project_id: str
    endpoint: str | None
    iam_endpoint: str | None
    requesters: frozenset[str]
    approvers: frozenset[str]
    approval: Approval
    channels: frozenset[str] | None
    max_jobs: int
    # Anyone asking from a request's own channel may read that request (status, history),
    # besides the project's requesters and approvers.
    visible_to_channel: bool = False
    # What a job's DRS precheck must show before it starts (bot.core.precheck).
    precheck: PrecheckRule = PrecheckRule.REQUIRE

    def groups(self) -> frozenset[str]:
        """Every user group ID (``S...``) the project's requesters and approvers name."""
        return frozenset(i for i in self.requesters | self.approvers if GROUP_ID_RE.match(i))

    @property
    def drs_url(self) -> str:
        """The DRS endpoint: the configured one, else Huawei Cloud's for the region."""
        return self.endpoint or f"https://drs.{self.region}.{_domain(self.region)}"

    @property
    def iam_url(self) -> str:
        """The IAM endpoint: the configured one, else Huawei Cloud's for the region."""
        return self.iam_endpoint or f"https://iam.{self.region}.{_domain(self.region)}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole policy. ``projects`` is read-only and keyed by project name."""

    projects: Mapping[str, ProjectPolicy] = field(default_factory=lambda: MappingProxyType({}))
    defaults: Defaults = field(default_factory=Defaults)
    # The [[freeze]] windows, in file order (bot.core.freeze decides on them).
    freezes: tuple[FreezeWindow, ...] = ()

    def project(self, name: str) -> ProjectPolicy | None:
        return self.projects.get(name)

    def groups(self) -> frozenset[str]:
        """Every user group ID any project references (the ones worth resolving)."""
        return frozenset().union(*(p.groups() for p in self.projects.values()))


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether an action is allowed; ``reason`` tells the person why, or what to do about it."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _domain(region: str) -> str:
    # The one region served under Huawei Cloud Europe's own domain.
    return "myhuaweicloud.eu" if region == "eu-west-101" else "myhuaweicloud.com"


# --- decisions -------------------------------------------------------------------------------

NO_PROJECTS = (
    "no projects are configured, so nobody may start jobs: add a [projects.<name>] table "
    "to the policy file"
)


def _member(ids: frozenset[str], user: str, user_groups: frozenset[str]) -> bool:
    # Only group ids count as groups: a user id slipped into user_groups grants nothing.
    groups = {g for g in user_groups if GROUP_ID_RE.match(g)}
    return bool(user) and (user in ids or not ids.isdisjoint(groups))


def _two_person(p: ProjectPolicy, req: StartRequest) -> bool:
    # The stricter of the policy now and the policy when the request was made.
    return Approval.TWO_PERSON in (p.approval, req.approval)


def may_request(p: ProjectPolicy, user: str, user_groups: frozenset[str], channel: str) -> Decision:
    """May ``user`` ask to start jobs of project ``p`` in ``channel``?"""
    if p.channels is not None and channel not in p.channels:
        where = ", ".join(f"<#{c}>" for c in sorted(p.channels))
        return Decision(False, f"project {p.name} may only be requested in {where}")
    if not _member(p.requesters, user, user_groups):
        return Decision(
            False,
            f"you are not a requester of project {p.name}: ask the owners of the policy file "
            f"to add your user ID or one of your user groups to projects.{p.name}.requesters",
        )
    return Decision(True, f"you may request in project {p.name}")


def may_approve(
    p: ProjectPolicy, req: StartRequest, user: str, user_groups: frozenset[str]
) -> Decision:
    """May ``user`` approve ``req`` (which must be pending)?

    Under two-person approval (by the project now or when the request was made) the requester
    may never approve, whatever groups they are in. With approval "none" the requester may.
    """
    if req.project != p.name:
        return Decision(False, f"this request is for project {req.project}, not {p.name}")
    if not req.state.is_open:
        return Decision(False, f"this request is already {req.state.value}")
    return _approver_decision(p, req, user, user_groups, "approve")


def may_reject(
    p: ProjectPolicy, req: StartRequest, user: str, user_groups: frozenset[str]
) -> Decision:
    """May ``user`` reject ``req`` (pending)? Any approver may, the requester included."""
    if req.project != p.name:
        return Decision(False, f"this request is for project {req.project}, not {p.name}")
    if not req.state.is_open:
        return Decision(False, f"this request is already {req.state.value}")
    if _member(p.approvers, user, user_groups):
        return Decision(True, f"you may reject requests of project {p.name}")
    if user and user == req.requester_id:
        return Decision(False, "you made this request: cancel it instead")
    return _not_approver(p, "reject")


def may_retry(
    p: ProjectPolicy, req: StartRequest, user: str, user_groups: frozenset[str]
) -> Decision:
    """May ``user`` send ``req``'s retryable jobs again? The rules of :func:`may_approve` hold,
    on a finished request that has at least one retryable job."""
    if req.project != p.name:
        return Decision(False, f"this request is for project {req.project}, not {p.name}")
    if req.state not in _RETRY_STATES:
        return Decision(False, f"this request is {req.state.value}: only a finished one is retried")
    if not any(is_retryable(job) for job in req.jobs):
        return Decision(False, "no job of this request can safely be sent again")
    return _approver_decision(p, req, user, user_groups, "retry")


@dataclass(frozen=True, slots=True)
class Membership:
    """What ``user`` is in one project: requester, approver (directly or through a group), and
    whether they may request in it from the channel they are in (``here``)."""

    project: ProjectPolicy
    requester: bool
    approver: bool
    here: bool

    @property
    def roles(self) -> str:
        """``requester``, ``approver`` or ``requester, approver``."""
        return ", ".join(
            r for r, on in (("requester", self.requester), ("approver", self.approver)) if on
        )


def membership(
    p: ProjectPolicy, user: str, user_groups: frozenset[str], channel: str
) -> Membership | None:
    """``user``'s place in project ``p``, or None when they are neither requester nor approver."""
    requester = _member(p.requesters, user, user_groups)
    approver = _member(p.approvers, user, user_groups)
    if not (requester or approver):
        return None
    here = requester and may_request(p, user, user_groups, channel).allowed
    return Membership(p, requester=requester, approver=approver, here=here)


def may_read_request(
    p: ProjectPolicy | None,
    req: StartRequest,
    user: str,
    user_groups: frozenset[str],
    channel: str,
) -> bool:
    """May ``user``, asking from ``channel``, read ``req`` (its reason, jobs, audit trail)?

    Its requester may; so may the requesters and approvers of its project ``p`` (directly or
    through a user group in ``user_groups``); and, where ``p.visible_to_channel``, anyone asking
    from the request's own channel. A project no longer in the policy (``p`` None) or another
    project than the request's shows it to its requester only.
    """
    if not user:
        return False
    if user == req.requester_id:
        return True
    if p is None or p.name != req.project:
        return False
    if _member(p.requesters | p.approvers, user, user_groups):
        return True
    return p.visible_to_channel and bool(channel) and channel == req.channel_id


def may_cancel(req: StartRequest, user: str) -> Decision:
    """May ``user`` cancel ``req``? Only its requester, while it is pending."""
    if not user or user != req.requester_id:
        return Decision(False, f"only <@{req.requester_id}>, who made this request, can cancel it")
    if not req.state.is_open:
        return Decision(False, f"this request is already {req.state.value}")
    return Decision(True, "you may cancel your request")


def requestable_projects(
    policy: Policy, user: str, user_groups: frozenset[str], channel: str
) -> list[ProjectPolicy]:
    """The projects ``user`` may request in from ``channel``, by name."""
    return [
        p
        for _, p in sorted(policy.projects.items())
        if may_request(p, user, user_groups, channel).allowed
    ]


def no_project_reason(policy: Policy, name: str | None = None) -> str:
    """What to tell someone who named project ``name`` (or none) that the policy lacks."""
    if not policy.projects:
        return NO_PROJECTS
    known = ", ".join(sorted(policy.projects))
    if name is None:
        return f"name a project: {known}"
    return f"there is no project {name!r}; the projects are {known}"


def nothing_requestable_reason(
    policy: Policy, user: str, user_groups: frozenset[str], channel: str
) -> str:
    """Why :func:`requestable_projects` is empty for ``user`` in ``channel``."""
    if not policy.projects:
        return NO_PROJECTS
    elsewhere = [
        p.name
        for p in policy.projects.values()
        if _member(p.requesters, user, user_groups) and p.channels is not None
    ]
    if elsewhere:
        return f"you may request in {', '.join(sorted(elsewhere))}, but not from this channel"
    return (
        "you are not a requester of any project: ask the owners of the policy file to add "
        "your user ID or one of your user groups to a project's requesters"
    )


def _approver_decision(
    p: ProjectPolicy, req: StartRequest, user: str, user_groups: frozenset[str], verb: str
) -> Decision:
    if _two_person(p, req) and user == req.requester_id:
        return Decision(
            False,
            f"you made this request and project {p.name} needs two people: "
            f"another approver must {verb} it",
        )
    if _member(p.approvers, user, user_groups):
        return Decision(True, f"you may {verb} requests of project {p.name}")
    if not _two_person(p, req) and user and user == req.requester_id:
        return Decision(True, f"project {p.name} needs no second person: you may {verb} it")
    return _not_approver(p, verb)


def _not_approver(p: ProjectPolicy, verb: str) -> Decision:
    if not p.approvers:
        return Decision(False, f"project {p.name} has no approvers, so nobody may {verb}")
    return Decision(
        False,
        f"you are not an approver of project {p.name}, so you may not {verb} its requests",
    )

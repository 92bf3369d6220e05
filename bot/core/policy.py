"""The access policy: which projects exist, who may request, approve and cancel, and where.

Loaded from a TOML file (``tomllib`` output goes to :func:`load_policy`); every problem in the
file is reported at once in one :class:`PolicyError`. Deny by default: with no projects nobody may
do anything, and with projects only the people (or user groups) listed may act.

Decisions take the ids of the user groups the person belongs to (``user_groups``), resolved
elsewhere among the groups the policy references (:meth:`Policy.groups`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from bot.core.command import PROJECT_NAME_RE, RESERVED_WORDS
from bot.core.jobids import JOB_ID_RE
from bot.core.request import Approval, RequestState, StartRequest
from bot.core.status import is_retryable

_USER_RE = re.compile(r"\A[UW][A-Z0-9]{2,31}\Z")
_GROUP_RE = re.compile(r"\AS[A-Z0-9]{2,31}\Z")
_CHANNEL_RE = re.compile(r"\A[CG][A-Z0-9]{2,31}\Z")
# ap-southeast-1, cn-north-4, eu-west-101, my-kualalumpur-1; Open Telekom Cloud's eu-de.
_REGION_RE = re.compile(r"\A[a-z]{2}(?:-[a-z0-9]+){1,3}\Z")
_PROJECT_ID_RE = re.compile(r"\A[0-9a-f]{32}\Z")

MAX_JOBS_LIMIT = 10_000

# A TOML table as tomllib returns it; keys are checked, so any key type is accepted here.
_Table = Mapping[Any, object]
_RETRY_STATES = frozenset({RequestState.DONE, RequestState.FAILED, RequestState.UNKNOWN})


class PolicyError(ValueError):
    """The policy file is wrong; ``problems`` names every problem found, one per entry."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("the access policy has problems:\n- " + "\n- ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Defaults:
    """Settings from ``[defaults]``, each with the value used when the file leaves it out."""

    max_jobs: int = 1000  # job IDs per request (a project may set its own)
    expire_hours: float = 24.0  # a pending request expires after this long
    chunk_size: int = 100  # job IDs per batch-starting call
    max_lead_days: int = 30  # how far ahead a start may be scheduled
    approval: Approval = Approval.TWO_PERSON  # for projects that do not say


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

    def groups(self) -> frozenset[str]:
        """Every user group ID (``S...``) the project's requesters and approvers name."""
        return frozenset(i for i in self.requesters | self.approvers if _GROUP_RE.match(i))

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


# --- loading ---------------------------------------------------------------------------------

_TOP_KEYS = ("defaults", "projects")
_DEFAULT_KEYS = ("max_jobs", "expire_hours", "chunk_size", "max_lead_days", "approval")
_PROJECT_KEYS = (
    "region",
    "project_id",
    "endpoint",
    "iam_endpoint",
    "requesters",
    "approvers",
    "approval",
    "channels",
    "max_jobs",
    "visible_to_channel",
)


def load_policy(data: Mapping[str, object]) -> Policy:
    """Check and build the policy from parsed TOML.

    Raises :class:`PolicyError` listing every problem (and nothing else, whatever ``data`` holds).
    An empty ``data`` is a valid policy under which nobody may do anything.
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise PolicyError(["the policy must be a table of [defaults] and [projects.<name>]"])
    _unknown_keys(data, _TOP_KEYS, "the top level", problems)
    defaults = _load_defaults(data.get("defaults", {}), problems)
    projects: dict[str, ProjectPolicy] = {}
    raw_projects = data.get("projects", {})
    if not isinstance(raw_projects, Mapping):
        problems.append("projects: must be a table of [projects.<name>] tables")
        raw_projects = {}
    for name, table in raw_projects.items():
        project = _load_project(name, table, defaults, problems)
        if project is not None:
            projects[project.name] = project
    if problems:
        raise PolicyError(problems)
    return Policy(projects=MappingProxyType(projects), defaults=defaults)


def _load_defaults(raw: object, problems: list[str]) -> Defaults:
    if not isinstance(raw, Mapping):
        problems.append("defaults: must be a table")
        return Defaults()
    _unknown_keys(raw, _DEFAULT_KEYS, "[defaults]", problems)
    base = Defaults()
    return Defaults(
        max_jobs=_int(raw, "max_jobs", "defaults", base.max_jobs, 1, MAX_JOBS_LIMIT, problems),
        expire_hours=_hours(raw, base.expire_hours, problems),
        chunk_size=_int(raw, "chunk_size", "defaults", base.chunk_size, 1, 1000, problems),
        max_lead_days=_int(raw, "max_lead_days", "defaults", base.max_lead_days, 1, 365, problems),
        approval=_approval(raw, "defaults", base.approval, problems),
    )


def _load_project(
    name: object, raw: object, defaults: Defaults, problems: list[str]
) -> ProjectPolicy | None:
    where = f"projects.{name}"
    start = len(problems)
    if not isinstance(name, str) or not _valid_project_name(name):
        problems.append(
            f"{where}: a project name is 1-64 letters, digits, '_', '.', '-' starting with a "
            f"letter or digit, not a job ID and not one of {', '.join(sorted(RESERVED_WORDS))}"
        )
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    _unknown_keys(raw, _PROJECT_KEYS, f"[{where}]", problems)

    region = _required_str(raw, "region", where, problems)
    if region is not None and not _REGION_RE.match(region):
        problems.append(f"{where}.region: {region!r} is not a region name such as ap-southeast-1")
    project_id = _required_str(raw, "project_id", where, problems)
    if project_id is not None and not _PROJECT_ID_RE.match(project_id):
        problems.append(
            f"{where}.project_id: expected the 32 lower-case hex digits of the Huawei Cloud "
            "project ID (console: My Credentials → Projects)"
        )
    endpoint = _url(raw, "endpoint", where, problems)
    iam_endpoint = _url(raw, "iam_endpoint", where, problems)

    requesters = _ids(raw, "requesters", where, problems, required=True)
    approvers = _ids(raw, "approvers", where, problems, required=False)
    approval = _approval(raw, where, defaults.approval, problems)
    channels = _channels(raw, where, problems)
    max_jobs = _int(raw, "max_jobs", where, defaults.max_jobs, 1, MAX_JOBS_LIMIT, problems)
    visible_to_channel = _bool(raw, "visible_to_channel", where, False, problems)

    if approval is Approval.TWO_PERSON and not approvers:
        problems.append(
            f"{where}: two-person approval needs approvers: add approvers = [...] or set "
            'approval = "none"'
        )
    elif approval is Approval.TWO_PERSON and approvers == requesters and len(approvers) == 1:
        (only,) = approvers
        if not _GROUP_RE.match(only):
            problems.append(
                f"{where}: {only} is the only requester and the only approver, so under "
                "two-person approval nobody could ever approve: add another approver"
            )
    if len(problems) > start or not isinstance(name, str) or region is None or project_id is None:
        return None
    return ProjectPolicy(
        name=name,
        region=region,
        project_id=project_id,
        endpoint=endpoint,
        iam_endpoint=iam_endpoint,
        requesters=requesters,
        approvers=approvers,
        approval=approval,
        channels=channels,
        max_jobs=max_jobs,
        visible_to_channel=visible_to_channel,
    )


def _valid_project_name(name: str) -> bool:
    return (
        bool(PROJECT_NAME_RE.match(name))
        and name.lower() not in RESERVED_WORDS
        and not JOB_ID_RE.match(name.lower())
    )


def _unknown_keys(raw: _Table, known: Sequence[str], where: str, problems: list[str]) -> None:
    for key in raw:
        if key not in known:
            problems.append(f"unknown key {_show(key)} in {where} (known keys: {', '.join(known)})")


def _required_str(raw: _Table, key: str, where: str, problems: list[str]) -> str | None:
    if key not in raw:
        problems.append(f"{where}: {key} is missing")
        return None
    value = raw[key]
    if not isinstance(value, str):
        problems.append(f"{where}.{key}: must be a string, not {_type(value)}")
        return None
    return value


def _int(
    raw: _Table,
    key: str,
    where: str,
    default: int,
    low: int,
    high: int,
    problems: list[str],
) -> int:
    if key not in raw:
        return default
    value = raw[key]
    # TOML booleans are Python bools, which are ints too: refuse them explicitly.
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{where}.{key}: must be a whole number, not {_type(value)}")
        return default
    if not low <= value <= high:
        problems.append(f"{where}.{key}: {value} is out of range {low}..{high}")
        return default
    return value


def _bool(raw: _Table, key: str, where: str, default: bool, problems: list[str]) -> bool:
    if key not in raw:
        return default
    value = raw[key]
    if not isinstance(value, bool):
        problems.append(f"{where}.{key}: must be true or false, not {_type(value)}")
        return default
    return value


def _hours(raw: _Table, default: float, problems: list[str]) -> float:
    if "expire_hours" not in raw:
        return default
    value = raw["expire_hours"]
    if not isinstance(value, int | float) or isinstance(value, bool):
        problems.append(f"defaults.expire_hours: must be a number, not {_type(value)}")
        return default
    if not math.isfinite(value) or not 0 < value <= 24 * 30:
        problems.append(f"defaults.expire_hours: {value} is out of range (0, 720]")
        return default
    return float(value)


def _approval(raw: _Table, where: str, default: Approval, problems: list[str]) -> Approval:
    if "approval" not in raw:
        return default
    value = raw["approval"]
    if isinstance(value, str) and value in {a.value for a in Approval}:
        return Approval(value)
    allowed = " or ".join(f'"{a.value}"' for a in Approval)
    problems.append(f"{where}.approval: {_show(value)} is not {allowed}")
    return default


def _url(raw: _Table, key: str, where: str, problems: list[str]) -> str | None:
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, str):
        problems.append(f"{where}.{key}: must be a string, not {_type(value)}")
        return None
    bad = f"{where}.{key}: {_show(value)} is not an http(s) URL such as https://drs.example.com"
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        problems.append(bad)
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(bad)
        return None
    if parts.username is not None or parts.password is not None:
        problems.append(f"{where}.{key}: must not carry credentials; they belong in the env")
        return None
    if parts.query or parts.fragment or any(c.isspace() for c in value):
        problems.append(bad)
        return None
    return value.rstrip("/")


def _ids(
    raw: _Table, key: str, where: str, problems: list[str], *, required: bool
) -> frozenset[str]:
    if key not in raw:
        if required:
            problems.append(f"{where}: {key} is missing: list Slack user IDs or user group IDs")
        return frozenset()
    value = raw[key]
    if not isinstance(value, list):
        problems.append(f"{where}.{key}: must be a list of Slack IDs, not {_type(value)}")
        return frozenset()
    if required and not value:
        problems.append(f"{where}.{key}: is empty, so nobody could request in this project")
    ids: set[str] = set()
    for item in value:
        if isinstance(item, str) and (_USER_RE.match(item) or _GROUP_RE.match(item)):
            ids.add(item)
        else:
            problems.append(
                f"{where}.{key}: {_show(item)} is not a Slack user ID (U... or W...) or user "
                "group ID (S...); copy it from the profile's menu"
            )
    return frozenset(ids)


def _channels(raw: _Table, where: str, problems: list[str]) -> frozenset[str] | None:
    if "channels" not in raw:
        return None
    value = raw["channels"]
    if not isinstance(value, list):
        problems.append(f"{where}.channels: must be a list of channel IDs, not {_type(value)}")
        return None
    if not value:
        problems.append(
            f"{where}.channels: is empty, so no channel could be used; leave it out to allow any"
        )
    channels: set[str] = set()
    for item in value:
        if isinstance(item, str) and _CHANNEL_RE.match(item):
            channels.add(item)
        else:
            problems.append(
                f"{where}.channels: {_show(item)} is not a Slack channel ID (C... or G...)"
            )
    return frozenset(channels)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _type(value: object) -> str:
    return {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


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
    groups = {g for g in user_groups if _GROUP_RE.match(g)}
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

"""The policy file: the parsed TOML checked, and the :class:`~bot.core.policy.Policy` built.

``tomllib`` output goes to :func:`load_policy`; every problem in the file is reported at once in
one :class:`PolicyError`, each naming the key to fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from bot.core.command import PROJECT_NAME_RE, RESERVED_WORDS
from bot.core.freeze_file import load_freezes
from bot.core.jobids import JOB_ID_RE
from bot.core.policy import GROUP_ID_RE, Defaults, Policy, ProjectPolicy
from bot.core.precheck import PrecheckRule
from bot.core.request import Approval

_USER_RE = re.compile(r"\A[UW][A-Z0-9]{2,31}\Z")
_CHANNEL_RE = re.compile(r"\A[CG][A-Z0-9]{2,31}\Z")
# ap-southeast-1, cn-north-4, eu-west-101, my-kualalumpur-1; Open Telekom Cloud's eu-de.
_REGION_RE = re.compile(r"\A[a-z]{2}(?:-[a-z0-9]+){1,3}\Z")
_PROJECT_ID_RE = re.compile(r"\A[0-9a-f]{32}\Z")

MAX_JOBS_LIMIT = 10_000

# A TOML table as tomllib returns it; keys are checked, so any key type is accepted here.
_Table = Mapping[Any, object]


class PolicyError(ValueError):
    """The policy file is wrong; ``problems`` names every problem found, one per entry."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("the access policy has problems:\n- " + "\n- ".join(self.problems))


_TOP_KEYS = ("defaults", "projects", "freeze")
_DEFAULT_KEYS = (
    "max_jobs",
    "expire_hours",
    "chunk_size",
    "max_lead_days",
    "approval",
    "precheck",
)
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
    "precheck",
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
    freezes = load_freezes(data.get("freeze", []), problems)
    if problems:
        raise PolicyError(problems)
    return Policy(projects=MappingProxyType(projects), defaults=defaults, freezes=freezes)


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
        precheck=_precheck(raw, "defaults", base.precheck, problems),
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
    precheck = _precheck(raw, where, defaults.precheck, problems)

    if approval is Approval.TWO_PERSON and not approvers:
        problems.append(
            f"{where}: two-person approval needs approvers: add approvers = [...] or set "
            'approval = "none"'
        )
    elif approval is Approval.TWO_PERSON and approvers == requesters and len(approvers) == 1:
        (only,) = approvers
        if not GROUP_ID_RE.match(only):
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
        precheck=precheck,
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


def _precheck(raw: _Table, where: str, default: PrecheckRule, problems: list[str]) -> PrecheckRule:
    if "precheck" not in raw:
        return default
    value = raw["precheck"]
    if isinstance(value, str) and value in {r.value for r in PrecheckRule}:
        return PrecheckRule(value)
    problems.append(
        f'{where}.precheck: {_show(value)} is not "require" (approve and start only jobs whose '
        'DRS precheck passed), "warn" (show what has not passed, go ahead) or "off"'
    )
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
        if isinstance(item, str) and (_USER_RE.match(item) or GROUP_ID_RE.match(item)):
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

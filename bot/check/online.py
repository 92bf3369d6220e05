"""The online probes of ``startjobs check``: Slack's ``auth.test``, the token's scopes, user
groups, and one harmless DRS read per project.

Each probe returns :class:`Finding` lines (``ok``, ``FAIL`` or ``skip``) that say what was
found and, for a failure, what to fix. Messages are built from error codes and the settings'
names, never from credentials; the caller still redacts every line as a last defence.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import drs_authenticator
from bot.config import AkSk, IamPassword, Settings
from bot.core.policy import Policy, ProjectPolicy
from bot.drs import DrsAuthError, DrsClient, DrsError, IamTokenAuth
from bot.drs.auth import Authenticator
from bot.slack.scopes import BOT_SCOPES, GROUP_SCOPES

Status = Literal["ok", "FAIL", "skip"]

#: Bot scopes the code needs whatever the policy says (user groups add usergroups:read).
GROUPS_SCOPE = "usergroups:read"
# What the code uses (bot.slack.scopes, which manifest.yml must match); the groups scope only
# matters when the policy names user groups.
REQUIRED_SCOPES: tuple[str, ...] = tuple(s for s in BOT_SCOPES if s not in GROUP_SCOPES)
SCOPE_USE = BOT_SCOPES
_BAD_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
_SIGNATURE_CODES = frozenset({"APIGW.0301"})
_PERMISSION_CODES = frozenset({"APIGW.0302", "APIGW.0306", "DRS.M00102", "DRS.M00103"})


@dataclass(frozen=True)
class Finding:
    status: Status
    name: str
    detail: str


def required_scopes(policy: Policy) -> list[str]:
    """The bot scopes this policy needs: :data:`REQUIRED_SCOPES`, plus ``usergroups:read``
    when a project names a user group."""
    return [*REQUIRED_SCOPES, *([GROUPS_SCOPE] if policy.groups() else [])]


def unreachable(exc: BaseException) -> str:
    """Why a connection failed, in a few words: ``connection refused``, ``timed out``..."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(current, TimeoutError | httpx.TimeoutException):
            return "timed out"
        current = current.__cause__ or current.__context__
    return f"connection failed ({type(exc).__name__})"


# --- Slack -------------------------------------------------------------------------------------


async def check_slack(settings: Settings, policy: Policy, *, call_timeout: float) -> list[Finding]:
    """``auth.test`` with the bot token, then its scopes and the policy's user groups."""
    client = AsyncWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=int(max(call_timeout, 1)),
        retry_handlers=[],
    )
    try:
        resp = await client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if error in _BAD_TOKEN_ERRORS:
            detail = (
                f"SLACK_BOT_TOKEN is not valid: {error}. Copy the Bot User OAuth Token (xoxb-...) "
                "from the app's OAuth & Permissions page (reinstall the app if it was revoked)"
            )
        else:
            detail = f"Slack refused auth.test: {error}"
        return [Finding("FAIL", "slack token", detail), *_skip_after_auth(policy)]
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        detail = (
            f"cannot reach {settings.slack_api_url} ({unreachable(exc)}): check SLACK_API_URL "
            "(normally unset) and the network path to Slack"
        )
        return [Finding("FAIL", "slack token", detail), *_skip_after_auth(policy)]
    team = f"{resp.get('team', '?')} ({resp.get('team_id', '?')})"
    who = f"bot @{resp.get('user', '?')} in workspace {team}"
    findings = [Finding("ok", "slack token", f"auth.test: {who}")]
    granted = _scopes_header(resp.headers)
    findings += _scope_findings(granted, policy)
    missing_groups_scope = granted is not None and GROUPS_SCOPE not in granted
    findings += await _group_findings(client, policy, skip=missing_groups_scope)
    return findings


def _skip_after_auth(policy: Policy) -> list[Finding]:
    out = [Finding("skip", "slack scopes", "needs a valid token (see above)")]
    if policy.groups():
        out.append(Finding("skip", "slack user groups", "needs a valid token (see above)"))
    return out


def _scopes_header(headers: Mapping[str, object] | None) -> set[str] | None:
    for key, value in (headers or {}).items():
        if key.lower() == "x-oauth-scopes":
            raw = value[0] if isinstance(value, list) and value else value
            return {s.strip() for s in str(raw).split(",") if s.strip()}
    return None


def _scope_findings(granted: set[str] | None, policy: Policy) -> list[Finding]:
    needed = required_scopes(policy)
    if granted is None:
        return [Finding("skip", "slack scopes", "Slack did not report the token's scopes")]
    missing = [s for s in needed if s not in granted]
    if not missing:
        return [Finding("ok", "slack scopes", ", ".join(needed))]
    return [
        Finding(
            "FAIL",
            f"slack scope {scope}",
            f"missing (needed for {SCOPE_USE[scope]}): add it under OAuth & Permissions → "
            "Scopes → Bot Token Scopes (manifest.yml: oauth_config.scopes.bot), then reinstall "
            "the app to the workspace",
        )
        for scope in missing
    ]


async def _group_findings(client: AsyncWebClient, policy: Policy, *, skip: bool) -> list[Finding]:
    groups = sorted(policy.groups())
    if not groups:
        return [Finding("ok", "slack user groups", "not needed: the policy names none")]
    if skip:
        return [Finding("skip", "slack user groups", f"needs the {GROUPS_SCOPE} scope (above)")]
    findings: list[Finding] = []
    for group in groups:
        name = f"slack user group {group}"
        try:
            resp = await client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error == "plan_upgrade_required":
                listed = ", ".join(groups)
                return [
                    *findings,
                    Finding(
                        "FAIL",
                        "slack user groups",
                        f"this workspace's Slack plan has no user groups (plan_upgrade_required), "
                        f"but the policy names {listed}: list user IDs (U...) in the policy "
                        "instead, or upgrade the plan",
                    ),
                ]
            findings.append(Finding("FAIL", name, _group_error(group, error)))
            continue
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            findings.append(Finding("FAIL", name, f"cannot read it ({unreachable(exc)})"))
            continue
        members = list(resp.get("users") or [])
        note = "" if members else ": nobody gets rights through it"
        findings.append(Finding("ok", name, f"{len(members)} member(s){note}"))
    return findings


def _group_error(group: str, error: str) -> str:
    if error == "no_such_subteam":
        return "does not exist in this workspace (no_such_subteam): fix the policy"
    if error == "missing_scope":
        return f"cannot be read: the token lacks {GROUPS_SCOPE} (missing_scope)"
    return f"cannot be read: {error}"


# --- DRS ---------------------------------------------------------------------------------------


async def check_drs(settings: Settings, policy: Policy, *, call_timeout: float) -> list[Finding]:
    """Per project: an IAM token (password login only), then ``list_jobs(limit=1)``."""
    findings: list[Finding] = []
    refused_aksk = False
    http_timeout = httpx.Timeout(
        connect=min(call_timeout, 5.0), read=call_timeout, write=call_timeout, pool=5.0
    )
    async with httpx.AsyncClient(timeout=http_timeout) as http:
        for name, project in sorted(policy.projects.items()):
            label = f"drs {name}"
            if refused_aksk:
                findings.append(
                    Finding(
                        "skip",
                        label,
                        "not tried: DRS refused the AK/SK above, and repeated signature failures "
                        "lock the AK for five minutes",
                    )
                )
                continue
            auth, iam_findings = await _authenticate(settings, project, http)
            findings += iam_findings
            if auth is None:
                findings.append(Finding("skip", label, "needs an IAM token (see above)"))
                continue
            client = DrsClient(
                http=http, endpoint=project.drs_url, project_id=project.project_id, auth=auth
            )
            try:
                jobs = await client.list_jobs(limit=1)
            except DrsError as exc:
                findings.append(Finding("FAIL", label, _drs_problem(exc, project)))
                refused_aksk = isinstance(settings.credentials, AkSk) and (
                    exc.error_code in _SIGNATURE_CODES
                )
                continue
            seen = "at least one migration task" if jobs else "no migration task yet"
            findings.append(
                Finding(
                    "ok",
                    label,
                    f"{project.drs_url}, project {project.project_id}: DRS answered ({seen})",
                )
            )
    return findings


async def _authenticate(
    settings: Settings, project: ProjectPolicy, http: httpx.AsyncClient
) -> tuple[Authenticator | None, list[Finding]]:
    creds = settings.credentials
    auth = drs_authenticator(settings, project, http)
    if isinstance(creds, AkSk):
        return auth, []
    assert isinstance(creds, IamPassword) and isinstance(auth, IamTokenAuth)
    label = f"iam {project.name}"
    try:
        await auth.token()
    except DrsAuthError as exc:
        return None, [Finding("FAIL", label, _iam_problem(exc, creds, project))]
    return auth, [Finding("ok", label, f"token for IAM user {creds.user!r} ({project.iam_url})")]


def _iam_problem(exc: DrsAuthError, creds: IamPassword, project: ProjectPolicy) -> str:
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPError):
        return (
            f"cannot reach {project.iam_url} ({unreachable(cause)}): check "
            f"projects.{project.name}.iam_endpoint (or region) and the network"
        )
    said = " ".join(
        p for p in (f"HTTP {exc.http_status}" if exc.http_status else "", exc.error_msg or "") if p
    )
    return (
        f"IAM refused the password login of user {creds.user!r} in account {creds.domain!r}"
        f"{f' ({said})' if said else ''}: check HUAWEICLOUD_IAM_USER, HUAWEICLOUD_IAM_PASSWORD "
        "and HUAWEICLOUD_IAM_DOMAIN (the account name), and that the user may access project "
        f"{project.project_id}"
    )


def _drs_problem(exc: DrsError, project: ProjectPolicy) -> str:
    code = exc.error_code or ""
    where = f"projects.{project.name}"
    said = f" (DRS said: {exc.error_msg})" if exc.error_msg else ""
    if code in _SIGNATURE_CODES:
        return (
            f"DRS refused the credentials ({code}): check HUAWEICLOUD_SDK_AK and "
            f"HUAWEICLOUD_SDK_SK (both of one access key) and this machine's clock{said}"
        )
    if code == "APIGW.0307":
        return f"DRS says the token expired or belongs to another region ({code}){said}"
    if code == "DRS.M00261":
        return (
            f"DRS does not know project id {project.project_id} ({code}): check "
            f"{where}.project_id (console: My Credentials → Projects) for region "
            f"{project.region}{said}"
        )
    if code in _PERMISSION_CODES:
        return (
            f"the credentials may not read DRS tasks ({code}): grant the IAM user DRS "
            f"permissions in the cloud account; this is the account's policy, not the bot's{said}"
        )
    if code == "APIGW.0101":
        return f"{project.drs_url} does not serve the DRS v3 API ({code}): check {where}.endpoint"
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPError) and exc.http_status is None:
        return (
            f"cannot reach {project.drs_url} ({unreachable(cause)}): check endpoint / network "
            f"({where}.endpoint, or the region {project.region})"
        )
    return f"DRS call failed: {exc}"

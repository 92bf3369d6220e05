"""``startjobs check``: a configuration doctor.

Loads ``.env`` (``--env-file``; the real environment always wins), then checks, printing one
line per check (``ok``, ``FAIL`` or ``skip``) with what to fix:

1. the settings and the access policy (:func:`bot.config.load_config`), every problem;
2. online, unless ``--offline``: Slack ``auth.test`` with the bot token, the token's scopes
   (``x-oauth-scopes``) against :data:`REQUIRED_SCOPES` (plus ``usergroups:read`` when the
   policy names user groups), each user group the policy names, and per project an IAM token
   (password login only) and one harmless DRS read (the job list, one entry).

Exit status 0 when nothing failed (checks skipped by ``--offline`` do not count), 1 when a
check failed, 2 for bad arguments. No secret is ever printed: every line is redacted with the
configured secret values before it is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from dotenv import dotenv_values

from bot.check.freezes import freeze_findings
from bot.check.online import REQUIRED_SCOPES, Finding, check_drs, check_slack, required_scopes
from bot.cli import parse_or_status
from bot.config import AkSk, ConfigError, Settings, load_config, masked_url
from bot.core.policy import Policy
from bot.logs import Redactor, scoped_logging

__all__ = ["REQUIRED_SCOPES", "Finding", "check", "cli_main", "required_scopes"]

# Settings whose values are secret (or identify a credential) and must never be printed.
SECRET_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_IAM_PASSWORD",
)
DEFAULT_TIMEOUT = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="startjobs check",
        description="Check the configuration, the Slack token and DRS access; say what to fix.",
    )
    parser.add_argument(
        "--env-file", type=Path, help="dotenv file to load (default: .env if it exists)"
    )
    parser.add_argument(
        "--offline", action="store_true", help="check settings and policy only, call nothing"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per network call (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--verbose", action="store_true", help="show the bot's logs on stderr")
    return parser


def cli_main(argv: list[str]) -> int:
    """Run the checks with ``os.environ`` and the dotenv file; returns the exit status."""
    args = parse_or_status(_parser(), argv)
    if isinstance(args, int):
        return args
    if args.timeout <= 0:
        print("startjobs check: --timeout must be positive")
        return 2
    env_file: Path = args.env_file or Path(".env")
    findings: list[Finding] = []
    file_values: dict[str, str] = {}
    if env_file.is_file():
        file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        note = f"loaded {env_file} ({len(file_values)} settings; the environment wins)"
        findings.append(Finding("ok", "env file", note))
    elif args.env_file is not None:
        findings.append(Finding("FAIL", "env file", f"{env_file} does not exist"))
    else:
        findings.append(Finding("ok", "env file", "no .env here: the environment only"))
    env = {**file_values, **os.environ}
    secrets = [env[name] for name in SECRET_NAMES if env.get(name)]
    with scoped_logging(args.verbose, secrets):
        return asyncio.run(
            check(
                env,
                out=sys.stdout,
                offline=args.offline,
                call_timeout=args.timeout,
                first=findings,
            )
        )


async def check(
    env: Mapping[str, str],
    *,
    out: TextIO,
    offline: bool = False,
    call_timeout: float = DEFAULT_TIMEOUT,
    first: list[Finding] | None = None,
) -> int:
    """Run every check with the settings in ``env``, print the findings to ``out``.

    Returns 1 when a check failed, else 0.
    """
    redactor = Redactor(env[name] for name in SECRET_NAMES if env.get(name))
    findings = list(first or [])
    printed = 0

    def flush() -> None:
        nonlocal printed
        for f in findings[printed:]:
            out.write(redactor.scrub(f"{f.status:<4}  {f.name}: {f.detail}") + "\n")
        out.flush()
        printed = len(findings)

    flush()
    try:
        settings, policy = load_config(env, check_database=True)
    except ConfigError as exc:
        findings += [Finding("FAIL", "config", problem) for problem in exc.problems]
        findings.append(Finding("skip", "online checks", "fix the configuration first"))
    else:
        findings += _config_findings(settings, policy)
        flush()
        if offline:
            findings.append(Finding("skip", "online checks", "--offline"))
        else:
            findings += await check_slack(settings, policy, call_timeout=call_timeout)
            flush()
            findings += await check_drs(settings, policy, call_timeout=call_timeout)
    flush()
    failed = sum(f.status == "FAIL" for f in findings)
    out.write(
        f"{failed} check(s) failed: fix them and run startjobs check again\n"
        if failed
        else "everything checked is ok\n"
    )
    return 1 if failed else 0


def _config_findings(settings: Settings, policy: Policy) -> list[Finding]:
    mode = (
        "Socket Mode (SLACK_APP_TOKEN)"
        if settings.socket_mode
        else f"HTTP on port {settings.port} (POST /slack/events)"
    )
    creds = (
        "AK/SK signing"
        if isinstance(settings.credentials, AkSk)
        else f"IAM password login as {settings.credentials.user!r}"
    )
    db = settings.database
    where = (
        f"PostgreSQL {masked_url(db.url.reveal())}"
        if db is not None and db.url is not None
        else f"SQLite {settings.db_path}"
    )
    found = [Finding("ok", "settings", f"{mode}; {creds}; database {where}")]
    if not policy.projects:
        found.append(
            Finding(
                "FAIL",
                "policy",
                f"{settings.config_path} configures no project, so every request would be "
                "refused: add a [projects.<name>] table",
            )
        )
        return found
    listed = ", ".join(
        f"{p.name} ({p.region}, {p.approval.value})" for _, p in sorted(policy.projects.items())
    )
    found.append(Finding("ok", "policy", f"{settings.config_path}: {listed}"))
    found += freeze_findings(policy)
    return found


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))

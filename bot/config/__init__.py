"""Settings and access policy as frozen values.

Secrets and process settings come from the environment (``.env`` is loaded by ``__main__``
without overriding the real environment); projects and the access policy come from a TOML file
that can live in git and be reviewed. :func:`load_config` reads both and raises one
:class:`ConfigError` naming every problem, so an operator fixes them in one go.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config.credentials import AkSk, Credentials, IamPassword, credentials_from
from bot.config.database import (
    DEFAULT_DB_PATH,
    DatabaseSettings,
    database_problems,
    database_settings,
    db_path,
    masked_url,
)
from bot.config.values import number_setting
from bot.core.policy import Policy
from bot.core.policy_file import PolicyError, load_policy
from bot.core.secret import Secret

__all__ = [
    "DEFAULT_DB_PATH",
    "DEFAULT_DRS_CONCURRENCY",
    "AkSk",
    "ConfigError",
    "Credentials",
    "DatabaseSettings",
    "IamPassword",
    "Settings",
    "database_problems",
    "load_config",
    "load_database_settings",
    "load_policy_file",
    "masked_url",
]

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# DRS calls of one batch in flight at once: enough that a large batch takes few rounds of
# calls (bench/batch_scaling.py --tune compares), few enough to stay modest for the gateway,
# whose 429s are retried per chunk after Retry-After.
DEFAULT_DRS_CONCURRENCY = 8
ROLES = ("all", "answer")  # STARTJOBS_ROLE


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason with what to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "startjobs cannot start; fix the configuration:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """Process settings. Every field has an environment variable; see the README."""

    slack_bot_token: Secret
    slack_signing_secret: Secret | None
    slack_app_token: Secret | None
    slack_api_url: str
    port: int
    config_path: Path
    db_path: str
    credentials: Credentials
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line (bot/logs.py)
    drs_chunk_size: int | None = None  # None: the policy's [defaults] chunk_size
    drs_concurrency: int = DEFAULT_DRS_CONCURRENCY
    drs_timeout: float = 30.0
    followup_interval: float = 30.0
    followup_max: float = 3600.0
    followup_budget: int = 20  # DRS status calls per request per minute
    max_jobs: int = 1000
    user_requests_per_minute: int = 6
    group_cache_ttl: float = 300.0
    recovery_grace: float = 60.0
    maintenance_interval: float = 5.0
    lease_seconds: float = 15.0
    send_settle: float = 60.0
    slack_timeout: float = 10.0
    # With a URL: PostgreSQL instead of SQLite at db_path (None: SQLite at db_path).
    database: DatabaseSettings | None = None
    # "all": answer Slack and do the background work; "answer": answer only, and leave the
    # work to the replicas on the same PostgreSQL database that do it (README, Replicas).
    role: str = "all"

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


def load_config(env: Mapping[str, str], *, check_database: bool = False) -> tuple[Settings, Policy]:
    """Read settings from ``env`` and the policy from ``STARTJOBS_CONFIG``; raise ConfigError.

    ``check_database``: also make sure ``STARTJOBS_DB`` can be written
    (:func:`database_problems`), as the bot must before it serves (unless it uses PostgreSQL).
    """
    problems: list[str] = []
    settings = _load_settings(env, problems)
    policy: Policy | None = None
    if settings is not None:
        policy = _load_policy_file(settings.config_path, problems)
    if check_database and not env.get("STARTJOBS_DATABASE_URL", "").strip():
        problems.extend(database_problems(db_path(env)))
    if problems or settings is None or policy is None:
        raise ConfigError(problems)
    return settings, policy


def load_database_settings(env: Mapping[str, str]) -> DatabaseSettings:
    """Only the database settings (what ``startjobs migrate`` needs); raise ConfigError."""
    problems: list[str] = []
    database = database_settings(env, problems)
    if problems:
        raise ConfigError(problems)
    return database


def load_policy_file(path: Path) -> Policy:
    problems: list[str] = []
    policy = _load_policy_file(path, problems)
    if policy is None:
        raise ConfigError(problems)
    return policy


def _load_policy_file(path: Path, problems: list[str]) -> Policy | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(
            f"STARTJOBS_CONFIG: no file at {path}; create it (see startjobs.example.toml)"
        )
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"STARTJOBS_CONFIG: cannot read {path}: {exc}")
        return None
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
        return None
    try:
        return load_policy(data)
    except PolicyError as exc:
        problems.extend(f"{path}: {p}" for p in exc.problems)
        return None


def _load_settings(env: Mapping[str, str], problems: list[str]) -> Settings | None:
    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    def secret(name: str, *, prefix: str | None = None, required: bool = False) -> Secret | None:
        value = get(name)
        if value is None:
            if required:
                problems.append(f"{name} is not set")
            return None
        if prefix and not value.startswith(prefix):
            problems.append(f"{name} must start with {prefix!r} (check you copied the right token)")
        return Secret(value)

    number = functools.partial(number_setting, env, problems)

    bot_token = secret("SLACK_BOT_TOKEN", prefix="xoxb-", required=True)
    app_token = secret("SLACK_APP_TOKEN", prefix="xapp-")
    signing_secret = secret("SLACK_SIGNING_SECRET", required=app_token is None)
    api_url = get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not api_url.startswith(("http://", "https://")):
        problems.append(f"SLACK_API_URL={api_url!r} must start with http:// or https://")
    if not api_url.endswith("/"):
        api_url += "/"
    port = number("PORT", 3000, int, 1)
    if port > 65535:
        problems.append(f"PORT={port} must be at most 65535")

    config_path = Path(get("STARTJOBS_CONFIG") or "startjobs.toml")
    database = database_settings(env, problems)

    credentials = credentials_from(get, problems)

    role = (get("STARTJOBS_ROLE") or "all").lower()
    if role not in ROLES:
        problems.append(
            f"STARTJOBS_ROLE={role!r}: use all (answer Slack and do the work, the default) or "
            "answer (answer only, leaving the work to replicas on the same database)"
        )
    elif role == "answer" and database.url is None:
        problems.append(
            "STARTJOBS_ROLE=answer leaves the work to other replicas, which must share its "
            "database: set STARTJOBS_DATABASE_URL (PostgreSQL), or use STARTJOBS_ROLE=all"
        )

    log_level = (get("STARTJOBS_LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"STARTJOBS_LOG_LEVEL={log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    log_format = (get("STARTJOBS_LOG_FORMAT") or "text").lower()
    if log_format not in {"text", "json"}:
        problems.append(
            f"STARTJOBS_LOG_FORMAT={log_format!r}: use text (the default) or json "
            "(one JSON object per line)"
        )

    settings_kw = {
        "drs_chunk_size": number("STARTJOBS_DRS_CHUNK_SIZE", None, int, 1),
        "drs_concurrency": number("STARTJOBS_DRS_CONCURRENCY", DEFAULT_DRS_CONCURRENCY, int, 1),
        "drs_timeout": number("STARTJOBS_DRS_TIMEOUT", 30.0, float, 1),
        "followup_interval": number("STARTJOBS_FOLLOWUP_INTERVAL", 30.0, float, 0.05),
        "followup_max": number("STARTJOBS_FOLLOWUP_MAX", 3600.0, float, 0),
        "followup_budget": number("STARTJOBS_FOLLOWUP_BUDGET", 20, int, 1),
        "max_jobs": number("STARTJOBS_MAX_JOBS", 1000, int, 1),
        "user_requests_per_minute": number("STARTJOBS_USER_REQUESTS_PER_MINUTE", 6, int, 1),
        "group_cache_ttl": number("STARTJOBS_GROUP_CACHE_TTL", 300.0, float, 0),
        "recovery_grace": number("STARTJOBS_RECOVERY_GRACE", 60.0, float, 0),
        "maintenance_interval": number("STARTJOBS_MAINTENANCE_INTERVAL", 5.0, float, 0.05),
        "lease_seconds": number("STARTJOBS_LEASE_SECONDS", 15.0, float, 0.3),
        "send_settle": number("STARTJOBS_SEND_SETTLE", 60.0, float, 0),
        "slack_timeout": number("STARTJOBS_SLACK_TIMEOUT", 10.0, float, 0.1),
    }
    chunk = settings_kw["drs_chunk_size"]
    if chunk is not None and chunk > 1000:
        problems.append("STARTJOBS_DRS_CHUNK_SIZE must be at most 1000 (the gateway caps bodies)")

    if bot_token is None or credentials is None:
        return None
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=api_url,
        port=port,
        config_path=config_path,
        db_path=database.path,
        credentials=credentials,
        log_level=log_level,
        log_format=log_format,
        database=database,
        role=role,
        **settings_kw,  # type: ignore[arg-type]
    )

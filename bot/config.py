"""Settings and access policy as frozen values.

Secrets and process settings come from the environment (``.env`` is loaded by ``__main__``
without overriding the real environment); projects and the access policy come from a TOML file
that can live in git and be reviewed. :func:`load_config` reads both and raises one
:class:`ConfigError` naming every problem, so an operator fixes them in one go.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.core.policy import Policy
from bot.core.policy_file import PolicyError, load_policy
from bot.core.secret import Secret

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DB_PATH = "startjobs.db"
# DRS calls of one batch in flight at once: enough that a large batch takes few rounds of
# calls (bench/batch_scaling.py --tune compares), few enough to stay modest for the gateway,
# whose 429s are retried per chunk after Retry-After.
DEFAULT_DRS_CONCURRENCY = 8
# PostgreSQL: connections kept per process, at least and at most; seconds to open one.
DEFAULT_DB_POOL_MIN, DEFAULT_DB_POOL_MAX, DEFAULT_DB_CONNECT_TIMEOUT = 1, 10, 5.0

T = TypeVar("T")


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason with what to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "startjobs cannot start; fix the configuration:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True, slots=True)
class AkSk:
    """AK/SK signing (SDK-HMAC-SHA256), what IAM recommends."""

    ak: Secret
    sk: Secret


@dataclass(frozen=True, slots=True)
class IamPassword:
    """An IAM user's password, exchanged for a project-scoped token."""

    user: str
    password: Secret
    domain: str


Credentials = AkSk | IamPassword


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """PostgreSQL at ``url`` (``STARTJOBS_DATABASE_URL``) when set, else SQLite at ``path``."""

    path: str = DEFAULT_DB_PATH
    url: Secret | None = None  # a libpq URL; its password is secret
    pool_min: int = DEFAULT_DB_POOL_MIN
    pool_max: int = DEFAULT_DB_POOL_MAX
    connect_timeout: float = DEFAULT_DB_CONNECT_TIMEOUT


def masked_url(url: str) -> str:
    """``url`` with its password (``user:password@host`` or ``password=``) shown as ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc, cut, tail = (*re.split(r"([/?#])", rest, maxsplit=1), "", "")[:3]
    user, colon, _ = netloc.rpartition("@")[0].partition(":")
    if colon:
        netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
    tail = re.sub(r"(?i)((?:^|[?&])password=)[^&#]*", r"\1***", tail)
    return f"{scheme}{sep}{netloc}{cut}{tail}"


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
    drs_chunk_size: int | None = None  # None: the policy's [defaults] chunk_size
    drs_concurrency: int = DEFAULT_DRS_CONCURRENCY
    drs_timeout: float = 30.0
    followup_interval: float = 30.0
    followup_max: float = 3600.0
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
        problems.extend(database_problems(_db_path(env)))
    if problems or settings is None or policy is None:
        raise ConfigError(problems)
    return settings, policy


def load_database_settings(env: Mapping[str, str]) -> DatabaseSettings:
    """Only the database settings (what ``startjobs migrate`` needs); raise ConfigError."""
    problems: list[str] = []
    database = _database_settings(env, problems)
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


def _number(
    env: Mapping[str, str], problems: list[str], name: str, default: T, cast: Callable[[str], T],
    low: float,
) -> T:  # fmt: skip
    """A number setting: the default when unset; a problem when not a number or below ``low``."""
    raw = env.get(name, "").strip() or None
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        problems.append(f"{name}={raw!r} is not a number")
        return default
    if value < low:  # type: ignore[operator]
        problems.append(f"{name}={raw!r} must be at least {low}")
        return default
    return value


def _database_settings(env: Mapping[str, str], problems: list[str]) -> DatabaseSettings:
    number = functools.partial(_number, env, problems)
    url = env.get("STARTJOBS_DATABASE_URL", "").strip() or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        problems.append(
            f"STARTJOBS_DATABASE_URL={masked_url(url)!r} must start with postgresql:// (as in "
            "postgresql://user:password@host:5432/dbname); unset, SQLite at STARTJOBS_DB is used"
        )
    pool_min = number("STARTJOBS_DB_POOL_MIN", DEFAULT_DB_POOL_MIN, int, 0)
    pool_max = number("STARTJOBS_DB_POOL_MAX", DEFAULT_DB_POOL_MAX, int, 1)
    if pool_max < pool_min:
        problems.append(
            f"STARTJOBS_DB_POOL_MAX={pool_max} must be at least STARTJOBS_DB_POOL_MIN={pool_min}"
        )
    timeout = number("STARTJOBS_DB_CONNECT_TIMEOUT", DEFAULT_DB_CONNECT_TIMEOUT, float, 1)
    return DatabaseSettings(_db_path(env), url and Secret(url), pool_min, pool_max, timeout)


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

    number = functools.partial(_number, env, problems)

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
    database = _database_settings(env, problems)

    credentials = _credentials(get, problems)

    log_level = (get("STARTJOBS_LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"STARTJOBS_LOG_LEVEL={log_level!r}: use DEBUG, INFO, WARNING or ERROR")

    settings_kw = {
        "drs_chunk_size": number("STARTJOBS_DRS_CHUNK_SIZE", None, int, 1),
        "drs_concurrency": number("STARTJOBS_DRS_CONCURRENCY", DEFAULT_DRS_CONCURRENCY, int, 1),
        "drs_timeout": number("STARTJOBS_DRS_TIMEOUT", 30.0, float, 1),
        "followup_interval": number("STARTJOBS_FOLLOWUP_INTERVAL", 30.0, float, 0.05),
        "followup_max": number("STARTJOBS_FOLLOWUP_MAX", 3600.0, float, 0),
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
        database=database,
        **settings_kw,  # type: ignore[arg-type]
    )


def _credentials(get: Callable[[str], str | None], problems: list[str]) -> Credentials | None:
    ak, sk = get("HUAWEICLOUD_SDK_AK"), get("HUAWEICLOUD_SDK_SK")
    user = get("HUAWEICLOUD_IAM_USER")
    password = get("HUAWEICLOUD_IAM_PASSWORD")
    domain = get("HUAWEICLOUD_IAM_DOMAIN")
    if ak or sk:
        if not (ak and sk):
            problems.append("set both HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or neither")
            return None
        if user or password:
            problems.append(
                "both AK/SK and HUAWEICLOUD_IAM_* are set; keep one way of authenticating"
            )
            return None
        return AkSk(Secret(ak), Secret(sk))
    if user or password or domain:
        missing = [
            name
            for name, value in (
                ("HUAWEICLOUD_IAM_USER", user),
                ("HUAWEICLOUD_IAM_PASSWORD", password),
                ("HUAWEICLOUD_IAM_DOMAIN", domain),
            )
            if not value
        ]
        if user and password and domain:
            return IamPassword(user=user, password=Secret(password), domain=domain)
        problems.append(f"IAM password login needs {', '.join(missing)} too")
        return None
    problems.append(
        "no Huawei Cloud credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK "
        "(recommended) or HUAWEICLOUD_IAM_USER, HUAWEICLOUD_IAM_PASSWORD, HUAWEICLOUD_IAM_DOMAIN"
    )
    return None


def _db_path(env: Mapping[str, str]) -> str:
    return env.get("STARTJOBS_DB", "").strip() or DEFAULT_DB_PATH


def database_problems(path: str) -> list[str]:
    """Why the bot could not keep its database at ``path`` (``STARTJOBS_DB``), with what to fix;
    empty when it can.

    An existing file is opened and written to in a transaction that is rolled back (a file that
    is not a database, or that it or its directory is read-only, fails here, not at the first
    request); for a file yet to be created, the nearest existing directory must take a new
    file. A database locked by another replica counts as usable: it will be free in a moment.
    """
    if path == ":memory:":
        return []
    name = f"STARTJOBS_DB={path}"
    fix = "point it at a file path the bot can create and write"
    target = Path(path)
    try:
        if target.is_dir():
            return [f"{name}: is a directory; {fix}"]
        if not target.exists():
            return _directory_problems(name, target, fix)
    except OSError as exc:  # a directory on the way that the bot may not enter
        return [f"{name}: cannot be reached ({exc.strerror or exc}); {fix}"]
    try:
        db = sqlite3.connect(
            f"{target.resolve().as_uri()}?mode=rw", uri=True, timeout=10.0, isolation_level=None
        )
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE startjobs_write_check (x)")
            db.execute("ROLLBACK")
        finally:
            db.close()
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return []
        if code == "SQLITE_NOTADB":
            return [
                f"{name}: is not a SQLite database ({exc}); point it at the bot's database, "
                "or at a new file path the bot can create and write"
            ]
        if code.startswith("SQLITE_READONLY"):
            return [
                f"{name}: cannot be written ({exc}); make the file and its directory "
                f"{target.resolve().parent} writable by the bot's user (uid {os.geteuid()}), "
                f"or {fix}"
            ]
        return [f"{name}: cannot be opened and written ({exc}); {fix}"]
    return []


def _directory_problems(name: str, target: Path, fix: str) -> list[str]:
    """Problems creating ``target``: its nearest existing ancestor must take a new file (the
    store creates missing directories)."""
    ancestor = target.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return [f"{name}: {ancestor} is not a directory; {fix}"]
    try:
        fd, probe = tempfile.mkstemp(prefix=".startjobs-write-check-", dir=ancestor)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return [
            f"{name}: cannot create files in {ancestor} ({reason}); make it writable by the "
            f"bot's user (uid {os.geteuid()}), or {fix}"
        ]
    os.close(fd)
    os.unlink(probe)
    return []

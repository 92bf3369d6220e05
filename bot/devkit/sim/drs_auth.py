"""The simulator's IAM and API-gateway checks: issued tokens and AK/SK signatures.

Signatures are verified with :func:`bot.drs.signer.signature_for`, the same canonicalisation
the client signs with, and compared in constant time. Tokens are opaque random strings the
simulator issued; they and the secret key never appear in a repr, a log line or an answer.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.secret import Secret
from bot.drs.signer import DATE_FORMAT, DATE_HEADER, parse_authorization, signature_for

MAX_SKEW_SECONDS = 15 * 60
LOCKOUT_SECONDS = 5 * 60

_BAD_IAM = "Incorrect IAM authentication information"


@dataclass(frozen=True, slots=True)
class Denial:
    """A gateway refusal: HTTP status, ``APIGW.``/``DRS.`` code and message."""

    status: int
    code: str
    message: str


@dataclass(slots=True)
class TokenRecord:
    """What the simulator remembers about a token it issued (never the token itself)."""

    user: str
    domain: str
    project_id: str | None  # None for a domain-scoped token
    issued_at: float
    expires_at: float
    revoked: bool = False

    def __repr__(self) -> str:
        return f"TokenRecord(user={self.user!r}, project_id={self.project_id!r})"


class TokenBook:
    """Tokens issued by this simulator. Thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[str, TokenRecord] = {}
        self._lock = threading.Lock()

    def issue(self, record: TokenRecord) -> Secret:
        # Real tokens are long base64 blobs starting "MII"; the shape keeps header-size and
        # logging behaviour realistic.
        token = "MII" + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode("ascii")
        with self._lock:
            self._tokens[token] = record
        return Secret(token)

    def lookup(self, token: str) -> TokenRecord | None:
        with self._lock:
            return self._tokens.get(token)

    def revoke_all(self) -> None:
        with self._lock:
            for record in self._tokens.values():
                record.revoked = True


class AkSkVerifier:
    """Checks SDK-HMAC-SHA256 signatures as the API gateway does.

    ``skew_clock`` is what ``X-Sdk-Date`` is compared with (more than 15 minutes apart is
    refused); ``now`` drives the lock-out: after ``lockout_after`` consecutive signature
    failures the AK is refused for five minutes even with a good signature.
    """

    def __init__(
        self,
        ak: str,
        sk: Secret,
        *,
        skew_clock: Callable[[], float],
        now: Callable[[], float],
        lockout_after: int | None = 5,
    ) -> None:
        self.ak = ak
        self._sk = sk
        self._skew_clock = skew_clock
        self._now = now
        self._lockout_after = lockout_after
        self._failures = 0
        self._locked_until = 0.0
        self._lock = threading.Lock()

    def verify(
        self,
        *,
        authorization: str,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[str | None, Denial | None]:
        """Return ``(ak, None)`` when the signature holds, else ``(ak or None, denial)``."""
        parsed = parse_authorization(authorization)
        if parsed is None:
            return None, Denial(401, "APIGW.0301", f"{_BAD_IAM}: verify aksk signature fail")
        ak, signed_headers, signature = parsed
        if ak != self.ak:
            return ak, Denial(401, "APIGW.0301", f"{_BAD_IAM}: ak not found")
        with self._lock:
            if self._now() < self._locked_until:
                return ak, Denial(
                    401, "APIGW.0301", f"{_BAD_IAM}: AK access failed to reach the limit, forbidden"
                )
        lowered = {k.lower(): v for k, v in headers.items()}
        sdk_date = lowered.get(DATE_HEADER.lower())
        if sdk_date is None:
            return ak, self._fail(f"{_BAD_IAM}: x-sdk-date not found")
        try:
            signed_at = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            return ak, self._fail(f"{_BAD_IAM}: x-sdk-date invalid")
        if abs(self._skew_clock() - signed_at) > MAX_SKEW_SECONDS:
            return ak, self._fail(
                f"{_BAD_IAM}: verify aksk signature fail, the request time differs from the "
                "server time by more than 15 minutes"
            )
        names = {n.lower() for n in signed_headers}
        if not {"host", DATE_HEADER.lower()} <= names or not names <= set(lowered):
            return ak, self._fail(f"{_BAD_IAM}: verify aksk signature fail")
        expected = signature_for(
            method, path, query, headers, signed_headers, body, self._sk, sdk_date
        )
        if not hmac.compare_digest(expected, signature):
            return ak, self._fail(f"{_BAD_IAM}: verify aksk signature fail")
        with self._lock:
            self._failures = 0
        return ak, None

    def _fail(self, message: str) -> Denial:
        with self._lock:
            self._failures += 1
            if self._lockout_after is not None and self._failures >= self._lockout_after:
                self._locked_until = self._now() + LOCKOUT_SECONDS
                self._failures = 0
        return Denial(401, "APIGW.0301", message)


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """A parsed IAM password-method token request."""

    user: str
    password: str
    domain: str
    project_id: str | None
    project_name: str | None
    domain_scoped: bool

    def __repr__(self) -> str:
        return f"PasswordAuth(user={self.user!r}, domain={self.domain!r})"


def parse_password_auth(body: Mapping[str, Any]) -> PasswordAuth | str:
    """Parse ``{"auth": {"identity": ..., "scope": ...}}``; a string says what is wrong."""
    auth = body.get("auth")
    if not isinstance(auth, dict):
        return "auth is required"
    identity = auth.get("identity")
    if not isinstance(identity, dict):
        return "auth.identity is required"
    methods = identity.get("methods")
    if not isinstance(methods, list) or "password" not in methods:
        return "auth.identity.methods must contain password"
    password = identity.get("password")
    user = password.get("user") if isinstance(password, dict) else None
    if not isinstance(user, dict):
        return "auth.identity.password.user is required"
    name, secret, domain = user.get("name"), user.get("password"), user.get("domain")
    domain_name = domain.get("name") if isinstance(domain, dict) else None
    if not isinstance(name, str) or not isinstance(secret, str) or not isinstance(domain_name, str):
        return "user name, password and domain name are required"
    scope = auth.get("scope")
    if not isinstance(scope, dict):
        return "auth.scope is required"
    project = scope.get("project")
    if isinstance(project, dict):
        pid, pname = project.get("id"), project.get("name")
        if not isinstance(pid, str) and not isinstance(pname, str):
            return "auth.scope.project needs an id or a name"
        return PasswordAuth(
            name,
            secret,
            domain_name,
            pid if isinstance(pid, str) else None,
            pname if isinstance(pname, str) else None,
            domain_scoped=False,
        )
    if isinstance(scope.get("domain"), dict):
        return PasswordAuth(name, secret, domain_name, None, None, domain_scoped=True)
    return "auth.scope must name a project or a domain"

"""Authentication of DRS requests as ``httpx.Auth`` flows: AK/SK signing or a cached IAM token.

Pass one to ``httpx.AsyncClient.send(request, auth=...)`` (as :class:`bot.drs.DrsClient`
does), after the request's body is final. :class:`AkSkAuth` signs the request and sends it
once. :class:`IamTokenAuth` adds a token (fetched first if none is cached) and, when DRS
answers 401 because the token expired, forgets it, fetches a new one and sends the request
once more. A credential that cannot be obtained raises :class:`DrsAuthError` from the flow;
nothing is sent then. Credentials and tokens live in :class:`Secret` and are revealed only into
the outgoing headers or the IAM request body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from datetime import UTC, datetime
from typing import TypeAlias

import httpx

from bot.core.secret import Secret
from bot.drs import signer, wire
from bot.drs.errors import DrsAuthError

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 - a header name, not a credential
PROJECT_HEADER = "X-Project-Id"
# Headers that transports and proxies may add, drop or rewrite; signing them would only make
# the signature fragile. Everything else on the request is signed (as the SDK signs all of
# its own headers).
_UNSIGNED = frozenset(
    {"connection", "user-agent", "accept", "accept-encoding", "content-length", "transfer-encoding"}
)
_EXPIRED_CODE = "APIGW.0307"

# What :class:`bot.drs.client.DrsClient` authenticates its requests with.
Authenticator: TypeAlias = httpx.Auth


class AkSkAuth(httpx.Auth):
    """Signs each request with SDK-HMAC-SHA256 (no token call; what IAM recommends).

    Adds ``X-Project-Id`` and signs it as the SDK does; a request signed again (sent anew)
    gets fresh headers, never a second set. The request is sent once whatever the answer: a
    signature failure is never retried (five failures lock the AK for five minutes).
    """

    requires_request_body = True

    def __init__(
        self,
        ak: Secret,
        sk: Secret,
        project_id: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not ak or not sk:
            raise ValueError("AK and SK must both be set")
        self._ak = ak
        self._sk = sk
        self._project_id = project_id
        self._clock = clock

    def __repr__(self) -> str:
        return f"AkSkAuth(ak=***, sk=***, project_id={self._project_id!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        yield request

    def _sign(self, request: httpx.Request) -> None:
        for stale in ("Authorization", signer.DATE_HEADER):
            request.headers.pop(stale, None)
        request.headers[PROJECT_HEADER] = self._project_id
        to_sign = {k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED}
        added = signer.sign_headers(
            request.method,
            str(request.url),
            to_sign,
            request.content,
            self._ak,
            self._sk,
            now=self._clock(),
        )
        request.headers.update(added)


class IamTokenAuth(httpx.Auth):
    """Sends a project-scoped IAM token, fetched with a password and cached until near expiry.

    The token is refreshed ``refresh_margin`` seconds before ``expires_at`` (or halfway through
    its life, if that comes first, so a short-lived token is not fetched on every call).
    Concurrent callers share one in-flight fetch, and share its failure too. IAM failures raise
    :class:`DrsAuthError`. A request answered 401 for an expired token (``APIGW.0307``, or a
    message saying the token expires) is sent once more with a new token, never twice; any
    other answer is the flow's last. Async clients only: the token is fetched with ``http``.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        iam_endpoint: str,
        user: str,
        password: Secret,
        domain: str,
        project_id: str,
        refresh_margin: float = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._url = iam_endpoint.rstrip("/") + "/v3/auth/tokens"
        self._user = user
        self._password = password
        self._domain = domain
        self._project_id = project_id
        self._margin = refresh_margin
        self._clock = clock
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._inflight: asyncio.Task[Secret] | None = None

    def __repr__(self) -> str:
        return (
            f"IamTokenAuth(url={self._url!r}, user={self._user!r}, domain={self._domain!r}, "
            f"project_id={self._project_id!r}, password=***, token=***)"
        )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers[TOKEN_HEADER] = (await self.token()).reveal()
        response = yield request
        if response.status_code != 401:
            return
        await response.aread()
        if not self.is_token_expiry(response):
            return
        log.info(
            "iam token expired (request_id=%s), fetching a new one and sending again once",
            response.headers.get("X-Request-Id"),
        )
        await self.invalidate()
        request.headers[TOKEN_HEADER] = (await self.token()).reveal()
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise TypeError("IamTokenAuth fetches tokens asynchronously: use an httpx.AsyncClient")

    def is_token_expiry(self, response: httpx.Response) -> bool:
        """True when ``response`` (already read) says the token must be renewed."""
        if response.status_code != 401:
            return False
        code, msg = wire.error_fields(response.content)
        return code == _EXPIRED_CODE or "token expires" in (msg or "").lower()

    async def invalidate(self) -> None:
        """Forget the cached token so the next request fetches a new one."""
        self._token = None
        self._refresh_at = 0.0

    async def token(self) -> Secret:
        """A valid token: the cached one, or one fetched now (shared with concurrent callers)."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_task(self._fetch())
            self._inflight.add_done_callback(self._fetched)
        # shield: a caller giving up must not cancel the fetch the others wait for
        return await asyncio.shield(self._inflight)

    def _fetched(self, task: asyncio.Task[Secret]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is not reported as lost

    async def _fetch(self) -> Secret:
        started = self._clock()
        try:
            response = await self._http.post(
                self._url,
                params={"nocatalog": "true"},
                json=self._body(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            log.warning("iam token fetch failed: %s", type(exc).__name__)
            raise DrsAuthError(
                f"could not reach IAM at {self._url} ({type(exc).__name__})",
                advice="Check the IAM endpoint and the network path to it.",
            ) from exc
        request_id = response.headers.get("X-Request-Id")
        log.info(
            "iam token fetch status=%s request_id=%s duration=%.3fs",
            response.status_code,
            request_id,
            self._clock() - started,
        )
        if response.status_code not in (200, 201):
            code, msg = wire.error_fields(response.content)
            raise DrsAuthError(
                f"IAM refused the token request for user {self._user!r} in account "
                f"{self._domain!r}",
                http_status=response.status_code,
                error_code=code,
                error_msg=self._scrub(msg),
                request_id=request_id,
                advice=(
                    "Check the IAM user name, password and account name, and that the user "
                    "may access this project; this is the cloud account's policy, not the bot's."
                ),
            )
        value = response.headers.get("X-Subject-Token")
        expires = self._expires_at(response)
        if not value or expires is None:
            raise DrsAuthError(
                "IAM answered without a token or its expiry (X-Subject-Token, token.expires_at)",
                http_status=response.status_code,
                request_id=request_id,
                advice="Check that the IAM endpoint is Huawei Cloud IAM v3.",
            )
        now = self._clock()
        margin = min(self._margin, max(expires - now, 0.0) / 2)
        token = Secret(value)
        self._token = token
        self._refresh_at = expires - margin
        return token

    def _body(self) -> dict[str, object]:
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._user,
                            "password": self._password.reveal(),
                            "domain": {"name": self._domain},
                        }
                    },
                },
                "scope": {"project": {"id": self._project_id}},
            }
        }

    @staticmethod
    def _expires_at(response: httpx.Response) -> float | None:
        try:
            body = wire.decode_object(response.content)
            token = body["token"]
            moment = datetime.fromisoformat(str(token["expires_at"]))
        except (wire.WireError, KeyError, TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    def _scrub(self, text: str | None) -> str | None:
        # An error body could echo the request; the password must not travel on in messages.
        secret = self._password.reveal()
        if text is None or not secret:
            return text
        return text.replace(secret, "***")

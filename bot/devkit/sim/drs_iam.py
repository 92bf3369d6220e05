"""The simulator's IAM token endpoint: the password method, checked, and the token issued.

``POST /v3/auth/tokens[?nocatalog=true]``
    IAM password method, project scope by ``id`` or ``name`` (the region name, default
    ``cn-north-4``), or domain scope. 201 with ``X-Subject-Token`` and ``{"token": {...,
    "expires_at": ISO8601}}``; a bad user, password or domain: 401 ``{"error": {"code": 401,
    "title": "Unauthorized", "message": "The username or password is wrong."}}``.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from typing import Any

from bot.devkit.sim.drs_auth import TokenBook, TokenRecord, parse_password_auth
from bot.devkit.sim.drs_model import ApiConfig, CallNote, Result
from bot.devkit.sim.drs_wire import iso8601, loads_object


class TokenIssuer:
    """Answers ``POST /v3/auth/tokens`` for the users and project of ``config``."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        tokens: TokenBook,
        now: Callable[[], float],
        base_url: Callable[[], str],
    ) -> None:
        self.config = config
        self.tokens = tokens
        self._now = now
        self._base_url = base_url

    def issue(self, call: CallNote, body: bytes, nocatalog: bool) -> Result:
        data = loads_object(body)
        parsed = parse_password_auth(data) if data is not None else "the body is not JSON"
        if isinstance(parsed, str):
            call.error_code = "400"
            return _iam_error(400, "Bad Request", f"The request is invalid: {parsed}.")
        call.auth, call.principal = "password", parsed.user
        known = self.config.iam_users.get(parsed.user)
        if (
            known is None
            or not hmac.compare_digest(known[0].encode(), parsed.password.encode())
            or known[1] != parsed.domain
        ):
            call.error_code = "401"
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        project_id: str | None = None
        if not parsed.domain_scoped:
            wrong_id = parsed.project_id not in (None, self.config.project_id)
            if wrong_id or parsed.project_name not in (None, self.config.project_name):
                call.error_code = "401"
                return _iam_error(401, "Unauthorized", "The project does not exist in this domain.")
            project_id = self.config.project_id
        now = self._now()
        record = TokenRecord(
            parsed.user,
            parsed.domain,
            project_id,
            issued_at=now,
            expires_at=now + self.config.token_ttl,
        )
        token = self.tokens.issue(record)
        return Result(
            201,
            self._token_body(record, nocatalog),
            headers={"X-Subject-Token": token.reveal()},  # the token's only way out: the wire
        )

    def _token_body(self, record: TokenRecord, nocatalog: bool) -> dict[str, Any]:
        domain = {"id": _stable_id("domain", record.domain), "name": record.domain}
        token: dict[str, Any] = {
            "methods": ["password"],
            "expires_at": iso8601(record.expires_at),
            "issued_at": iso8601(record.issued_at),
            "user": {
                "id": _stable_id("user", record.user),
                "name": record.user,
                "domain": domain,
                "password_expires_at": "",
            },
            "roles": [{"id": _stable_id("role", "drs"), "name": "drs_adm"}],
        }
        if record.project_id is not None:
            token["project"] = {
                "id": record.project_id,
                "name": self.config.project_name,
                "domain": domain,
            }
        else:
            token["domain"] = domain
        if not nocatalog:
            token["catalog"] = [
                {
                    "id": _stable_id("service", "drs"),
                    "name": "drs",
                    "type": "drs",
                    "endpoints": [
                        {
                            "id": _stable_id("endpoint", "drs"),
                            "interface": "public",
                            "region": self.config.project_name,
                            "region_id": self.config.project_name,
                            "url": self._base_url(),
                        }
                    ],
                }
            ]
        return {"token": token}


def _iam_error(status: int, title: str, message: str) -> Result:
    return Result(status, {"error": {"code": status, "title": title, "message": message}})


def _stable_id(kind: str, name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"startjobs-sim:{kind}:{name}").hex

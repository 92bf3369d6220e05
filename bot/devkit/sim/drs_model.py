"""What the simulator's API works with: its settings (:class:`ApiConfig`), the note taken while
a call is served (:class:`CallNote`), the answer processing forms (:class:`Result`), and the
record kept of every call (:class:`RecordedCall`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ApiConfig:
    """The simulated project and its IAM users, as the API answers for them."""

    project_id: str
    project_name: str
    iam_users: Mapping[str, tuple[str, str]]
    token_ttl: float
    latency: float


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One call the simulator answered (control API excluded). Holds no secrets.

    ``endpoint`` is None for an unknown path; ``auth`` is ``token``, ``aksk``, ``password``
    (a token request) or ``none``; ``principal`` the IAM user name or the AK; ``status`` None
    if the answer was never formed (the simulator stopped mid-call); ``fault`` the kind of
    fault that shaped the answer.
    """

    seq: int
    at: float
    endpoint: str | None
    method: str
    path: str
    job_ids: tuple[str, ...]
    status: int | None
    auth: str
    principal: str | None
    error_code: str | None
    request_id: str
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "job_ids": list(self.job_ids),
            "status": self.status,
            "auth": self.auth,
            "principal": self.principal,
            "error_code": self.error_code,
            "request_id": self.request_id,
            "fault": self.fault,
        }


@dataclass(slots=True)
class CallNote:
    """What a handler learns about the call it serves, for the record."""

    request_id: str
    endpoint: str | None = None
    auth: str = "none"
    principal: str | None = None
    job_ids: tuple[str, ...] = ()
    error_code: str | None = None
    fault: str | None = None


@dataclass(slots=True)
class Result:
    """An answer as processing forms it, before any ``after`` fault acts on it."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)

"""The service's own values: its timing knobs, a parsed request, and the answer to a person."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from bot.core.followup_schedule import Pace
from bot.core.request import StartRequest

INTERACTIVE_WRITE_SECONDS = 1.0
"""A write made before a person's click is acknowledged (a new request, a decision) is made
within this many seconds or not at all (:class:`bot.service.ports.StoreUnavailable`), so the
person hears "nothing was stored" inside Slack's 3 s rather than Slack's own error."""


@dataclass(frozen=True, slots=True)
class Tuning:
    """Timing knobs of the service (from Settings; tests shorten them)."""

    expire_seconds: float = 24 * 3600
    followup_interval: float = 30.0
    followup_max: float = 3600.0
    recovery_grace: float = 60.0
    user_requests_per_minute: int = 6
    # A sent start is its sender's while the sender renews this lease (every third of it);
    # another process reconciles it only once the lease has expired.
    lease_seconds: float = 15.0
    # After a takeover, how long the dead owner's last call may still be acted on by DRS:
    # Retry is not offered before then.
    send_settle: float = 60.0
    # The follow-up's pace (bot/core/followup_schedule.py): the gap after a start or a DRS
    # transition, doubling up to followup_interval; at most followup_early_gap during the
    # followup_early seconds after a start; DRS status calls per request per minute (None:
    # no limit; the bot runs with STARTJOBS_FOLLOWUP_BUDGET).
    followup_first: float = 2.0
    followup_early: float = 120.0
    followup_early_gap: float = 5.0
    followup_budget: int | None = None

    def pace(self) -> Pace:
        return Pace(
            interval=self.followup_interval,
            first=self.followup_first,
            early=self.followup_early,
            early_gap=self.followup_early_gap,
            budget=self.followup_budget,
        )


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated request, as the listener parsed it from the modal."""

    team_id: str
    channel_id: str
    requester_id: str
    project: str
    job_ids: tuple[str, ...]
    start_time_ms: int | None
    reason: str
    language: str
    # Where the list came from when not only typed (a name pattern, a file): plain text, kept
    # in the audit trail and shown on the request message.
    source: str | None = None
    # The requester's timezone (IANA), for times in what they are told; None: UTC.
    tz: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """What to tell the user who acted: ``ok`` False means refused (shown ephemerally)."""

    ok: bool
    text: str
    request: StartRequest | None = None
    blocks: list[dict[str, Any]] | None = None  # a formatted answer, where there is one
    code: str | None = None  # why it was refused, where a listener answers differently


def new_request_id() -> str:
    """Short, unguessable, easy to read aloud: ``SJ-7K3MQ2XD``."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "SJ-" + "".join(secrets.choice(alphabet) for _ in range(8))


def schedule_passed(req: StartRequest, now: float) -> float | None:
    """When a scheduled request was to start, if that time has passed (else None)."""
    if req.start_time_ms is None or req.start_time_ms / 1000 > now:
        return None
    return req.start_time_ms / 1000

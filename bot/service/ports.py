"""What the service needs from the outside, named: the adapters implement these.

* :class:`Store`: durable state, every call awaited (``bot.store`` implements it over SQLite,
  off the event loop); each method is one transaction, and every state change in it is a
  conditional update derived from the state tables in :mod:`bot.core.request`.
* :class:`Notifier`: showing things to people (``bot.slack.notifier`` implements it with
  Block Kit): the request message, the outcome in its thread, notes, direct messages.
* :class:`Directory`: who is in which user group.
* :class:`Drs`: the DRS calls (``bot.drs.DrsClient``); failures are
  :class:`bot.core.model.DrsCallError`.
* ``Clock``: epoch seconds now.

The exceptions here are the ports' own: an adapter translates its library's errors into them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.core.model import CallFailure, JobInfo, JobResult, Outcome, StartReport
from bot.core.policy import ProjectPolicy
from bot.core.precheck import JobPrecheck, PrecheckMode, PrecheckRule
from bot.core.request import (
    AuditEvent,
    AuditKind,
    RequestJob,
    RequestState,
    Start,
    StartRequest,
    StartState,
)
from bot.service.work import RetryLater

Clock = Callable[[], float]
Cursor = tuple[float, str]
"""Where a page of requests ends: the ``(created_at, id)`` of its last request (pages run
newest first, so the next page holds the requests below it)."""


# -- the store ----------------------------------------------------------------------------------


class StoreUnavailable(Exception):
    """The database could not take a write in time (locked, busy) or refused it (disk full,
    read-only); nothing of that call was stored."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision to make: move request ``request_id`` to ``target`` (approved, rejected,
    cancelled or expired) if it is still pending and, with ``require_unexpired``, unexpired
    (and, with ``require_prechecks``, every job's precheck passed)."""

    request_id: str
    target: RequestState
    actor: str | None
    now: float
    comment: str | None = None
    require_unexpired: bool = True
    # Approving a request whose scheduled time has passed: start it now instead (the
    # approver chose so explicitly); the schedule is dropped in the same transaction.
    start_now: bool = False
    # The process that will send an approval's start (its claimed attempt's lease owner).
    owner: str | None = None
    # Approving under the project's precheck rule ``require``: only if every job of the
    # request has a stored precheck that passed, checked with the state, under the row's lock
    # (a precheck run again between the approver's check and the decision holds it back).
    require_prechecks: bool = False

    def __post_init__(self) -> None:
        assert self.target in (
            RequestState.APPROVED,
            RequestState.REJECTED,
            RequestState.CANCELLED,
            RequestState.EXPIRED,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of a conditional decision: who won, or who had already decided."""

    won: bool
    request: StartRequest | None  # the request as it is after the attempt (None: no such id)


@dataclass(frozen=True, slots=True)
class PostTurn:
    """Whether the caller may post a request message or an outcome now (``mine``: one live
    process at a time), and when an earlier post of it began and was never confirmed
    (``earlier``: the message may exist, look first)."""

    mine: bool
    earlier: float | None = None


class Recorded(StrEnum):
    """What recording an attempt's outcomes did."""

    RECORDED = "recorded"  # sent -> recorded: post the outcome
    MERGED = "merged"  # DRS's answer merged into an attempt recorded already: update the post
    IGNORED = "ignored"  # nothing: the attempt was recorded already


class Store(Protocol):
    """Durable state. Each method is one transaction; see :mod:`bot.store.sqlite`."""

    async def insert_request(
        self,
        req: StartRequest,
        *,
        actor: str,
        detail: dict[str, object],
        within: float | None = None,
        owner: str | None = None,
    ) -> None: ...
    async def decide(self, verdict: Verdict, *, within: float | None = None) -> Decision: ...
    async def get(self, request_id: str) -> StartRequest | None: ...
    async def recent(self, channel_id: str, *, limit: int = 10) -> list[StartRequest]: ...
    async def events(self, request_id: str) -> list[AuditEvent]: ...
    async def audit(
        self,
        request_id: str,
        kind: AuditKind,
        *,
        actor: str | None,
        now: float,
        detail: dict[str, object] | None = None,
    ) -> None: ...
    async def set_jobs_info(self, request_id: str, jobs: Sequence[RequestJob]) -> None: ...
    async def set_message_ts(self, request_id: str, ts: str) -> None: ...
    async def begin_message_post(
        self, request_id: str, now: float, *, owner: str, alive_until: float
    ) -> PostTurn: ...
    async def overlapping(self, request_id: str) -> dict[str, int]: ...
    async def lose_channel(self, request_id: str, error: str, *, now: float) -> bool: ...
    async def mark_message_stale(self, request_id: str, stale: bool) -> None: ...
    async def start(self, request_id: str, attempt: int) -> Start | None: ...
    async def last_attempt(self, request_id: str) -> int: ...
    async def claim_retry(
        self,
        request_id: str,
        job_ids: Sequence[str],
        *,
        actor: str,
        now: float,
        owner: str | None = None,
    ) -> Start | None: ...
    async def mark_sent(
        self, request_id: str, attempt: int, *, now: float, owner: str, lease: float
    ) -> bool: ...
    async def renew_lease(
        self, request_id: str, attempt: int, *, owner: str, until: float
    ) -> bool: ...
    async def take_over(
        self, request_id: str, attempt: int, *, owner: str, now: float, lease: float
    ) -> bool: ...
    async def record_outcomes(
        self,
        request_id: str,
        attempt: int,
        results: Iterable[JobResult],
        *,
        now: float,
        calls: Sequence[dict[str, object]],
        drs_statuses: dict[str, str | None] | None = None,
        followup_interval: float,
        followup_max: float,
        recovered: bool = False,
    ) -> Recorded: ...
    async def begin_outcome_post(
        self, request_id: str, attempt: int, now: float, *, owner: str, alive_until: float
    ) -> PostTurn: ...
    async def mark_posted(self, request_id: str, attempt: int, outcome_ts: str | None) -> bool: ...
    async def claim_followup(self, request_id: str, *, now: float, lease: float) -> bool: ...
    async def schedule_followup(
        self,
        request_id: str,
        *,
        next_at: float | None,
        deadline: float | None = None,
        changed_at: float | None = None,
    ) -> None: ...
    async def followup_deadline(self, request_id: str) -> float | None: ...
    async def followup_changed_at(self, request_id: str) -> float | None: ...
    async def update_drs_statuses(
        self, request_id: str, statuses: dict[str, str | None]
    ) -> None: ...
    async def confirm_outcomes(self, request_id: str, confirmed: dict[str, Outcome]) -> None: ...
    async def fail_started(
        self, request_id: str, failures: dict[str, tuple[str, str | None]], *, now: float
    ) -> list[str]: ...
    async def claim_settled_notice(self, request_id: str) -> bool: ...
    async def expired_pending(self, now: float) -> list[str]: ...
    async def unconfirmed(
        self, created_before: float, *, now: float | None = None
    ) -> list[str]: ...
    async def keep_alive(self, owner: str, *, now: float, until: float) -> None: ...
    async def live_owners(self, now: float) -> frozenset[str]: ...
    async def starts_in(self, *states: StartState) -> list[Start]: ...
    async def stale_messages(self) -> list[str]: ...
    async def due_followups(self, now: float) -> list[str]: ...
    # The App Home's reads: newest first, at most ``limit``, below ``before``.
    async def pending_in(
        self, projects: Sequence[str], *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]: ...
    async def requested_by(
        self, user: str, *, before: Cursor | None = None, limit: int = 20
    ) -> list[StartRequest]: ...
    async def following(
        self,
        projects: Sequence[str],
        *,
        requester: str,
        before: Cursor | None = None,
        limit: int = 20,
    ) -> list[StartRequest]: ...
    async def save_prechecks(self, request_id: str, prechecks: Sequence[JobPrecheck]) -> None: ...
    async def prechecks(self, request_id: str) -> dict[str, JobPrecheck]: ...
    # Pending requests whose running prechecks nobody read since ``read_before`` (a poller died).
    async def unwatched_prechecks(self, read_before: float) -> list[str]: ...
    # Take up a request's precheck poll until ``until`` unless another holds it past ``now``.
    async def claim_precheck_poll(
        self, request_id: str, *, owner: str, now: float, until: float
    ) -> bool: ...
    # A person's Home page (HomePage.text) until ``until``, for every replica; None forgets it.
    async def home_page(self, user: str, *, now: float) -> str | None: ...
    async def keep_home_page(
        self, user: str, page: str | None, *, now: float, until: float
    ) -> None: ...


# -- showing things to people -----------------------------------------------------------------


class ChannelLost(Exception):
    """The request's channel refuses the bot's posts and updates for good (the bot was
    removed, the channel archived or deleted): ``error`` is the platform's word for it."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class NotShown(RetryLater):
    """A passing fault (a timeout, a rate limit, a server error): try again later."""


@dataclass(frozen=True, slots=True)
class RequestView:
    """What the request message shows beside the request itself."""

    now: float
    source: str | None = None  # how the list was chosen, when not typed (a pattern, a file)
    lookup_problem: str | None = None  # why the jobs' DRS statuses are missing
    overlaps: Mapping[str, int] | None = None  # other open request -> jobs it holds too
    # Each job's precheck as last read (job id -> precheck); None: the project's rule is off.
    prechecks: Mapping[str, JobPrecheck] | None = None
    precheck_rule: PrecheckRule = PrecheckRule.REQUIRE  # the project's rule


@dataclass(frozen=True, slots=True)
class OutcomeView:
    """What the outcome of one attempt shows beside the request's jobs."""

    attempt: int
    failures: Sequence[CallFailure] = ()
    actor: str | None = None  # who retried (attempts after the first)
    retryable: int = 0  # jobs a Retry button may send again now


@dataclass(frozen=True, slots=True)
class Settled:
    """Every job settled: mention the requester, with the counts."""


@dataclass(frozen=True, slots=True)
class FailedAfterStart:
    """DRS accepted these jobs' start, then their tasks failed."""

    job_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoppedFollowing:
    """The follow-up gave up after ``after_seconds`` with jobs not settled."""

    after_seconds: float


@dataclass(frozen=True, slots=True)
class StartedNowInstead:
    """An approver approved after the scheduled time and chose to start now."""

    approver: str
    scheduled_at: float


@dataclass(frozen=True, slots=True)
class FreezeOverridden:
    """An approver broke the glass: approved a start inside change-freeze ``windows``."""

    approver: str
    windows: tuple[str, ...]
    reason: str


Note = Settled | FailedAfterStart | StoppedFollowing | StartedNowInstead | FreezeOverridden


@dataclass(frozen=True, slots=True)
class NotPosted:
    """To the requester: the request could not be shown in its channel; nothing started."""

    error: str


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """To the requester: news of the request comes directly from now on."""

    error: str


@dataclass(frozen=True, slots=True)
class OutcomeDirect:
    """To the requester: the outcome, since the channel is lost."""

    view: OutcomeView


@dataclass(frozen=True, slots=True)
class NoteDirect:
    """To the requester: a thread note, since the channel is lost."""

    note: Note


Notice = NotPosted | ChannelGone | OutcomeDirect | NoteDirect


class Notifier(Protocol):
    """Shows requests and what became of them. Posts raise :class:`ChannelLost` or
    :class:`NotShown`; a post whose earlier attempt began at ``earlier`` and was never
    confirmed is looked for before it is made again."""

    async def post_request(
        self, req: StartRequest, view: RequestView, *, earlier: float | None
    ) -> str: ...
    async def update_request(self, req: StartRequest, view: RequestView) -> None: ...
    async def attach_job_list(self, req: StartRequest, source: str) -> None: ...
    async def post_outcome(
        self, req: StartRequest, view: OutcomeView, *, earlier: float | None
    ) -> str: ...
    async def update_outcome(self, req: StartRequest, view: OutcomeView) -> None: ...
    async def note(self, req: StartRequest, note: Note) -> None: ...
    async def tell(self, req: StartRequest, notice: Notice) -> bool: ...


# -- people and DRS ----------------------------------------------------------------------------


class Directory(Protocol):
    async def groups_of(self, user: str, group_ids: Iterable[str]) -> frozenset[str]:
        """The groups among ``group_ids`` that ``user`` is in; raises :class:`LookupError`
        when one cannot be read (such a group grants nothing)."""
        ...

    async def users_in(self, group_ids: Iterable[str]) -> frozenset[str]:
        """Every member of the groups ``group_ids``; raises :class:`LookupError` when one
        cannot be read."""
        ...

    async def tz_of(self, user: str) -> str | None:
        """``user``'s IANA timezone, or None when it cannot be told (never raises)."""
        ...


class Drs(Protocol):
    async def batch_start(
        self, job_ids: Sequence[str], *, start_time_ms: int | None, language: str
    ) -> StartReport: ...
    async def batch_status(self, job_ids: Sequence[str]) -> list[JobInfo]: ...
    async def batch_detail(self, job_ids: Sequence[str]) -> list[JobInfo]: ...
    async def list_jobs(
        self,
        *,
        db_use_type: str,
        name: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo]: ...
    async def precheck_results(self, job_ids: Sequence[str]) -> list[JobPrecheck]: ...
    async def run_precheck(self, jobs: Sequence[tuple[str, PrecheckMode]]) -> list[JobPrecheck]: ...


DrsFor = Callable[[ProjectPolicy], Drs]

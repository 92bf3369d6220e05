"""DRS task statuses, grouped into the phases the bot reasons about.

DRS reports a task's status as an upper-case string (``CONFIGURATION``, ``STARTJOBING``, ...).
The bot only needs to know which *phase* a status belongs to: may it be started, is it on its
way, has it settled (so the follow-up may stop polling), or is it gone. Matching ignores case and
surrounding blanks; a status this module does not know is :attr:`Phase.OTHER`, never an error.
"""

from __future__ import annotations

from enum import StrEnum

from bot.core.model import Outcome
from bot.core.precheck import HELD_CODE
from bot.core.request import RequestJob


class Phase(StrEnum):
    """Where a DRS task stands, as far as starting it is concerned."""

    STARTABLE = "startable"  # configured and never started: batch-starting may start it
    STARTING = "starting"  # DRS is starting it right now
    WAITING = "waiting"  # started with a start time: DRS starts it at that time
    TRANSFERRING = "transferring"  # running: full or incremental transfer, or DRS works on it
    FAILED = "failed"  # DRS reports a failure
    GONE = "gone"  # deleted or its resources released
    UNKNOWN = "unknown"  # no status at all (DRS did not report the task)
    OTHER = "other"  # any other status (CREATING, or one this module does not know)


# Statuses of a task that has started and is running, possibly while DRS works on it
# (node rebuild, job change, upgrade, dual-active child transfer, pause).
_TRANSFERRING = frozenset(
    {
        "FULL_TRANSFER_STARTED",
        "FULL_TRANSFER_COMPLETE",
        "INCRE_TRANSFER_STARTED",
        "INCRE_TRANSFER_COMPLETE",
        "CHILD_TRANSFER_STARTING",
        "CHILD_TRANSFER_STARTED",
        "CHILD_TRANSFER_COMPLETE",
        "REBUILD_NODE_STARTED",
        "CHANGE_JOB_STARTED",
        "NODE_UPGRADE_START",
        "NODE_UPGRADE_COMPLETE",
        # Only a task that has started can be paused.
        "PAUSING",
    }
)

_EXACT: dict[str, Phase] = {
    "CONFIGURATION": Phase.STARTABLE,
    "STARTJOBING": Phase.STARTING,
    "WAITING_FOR_START": Phase.WAITING,
    "DELETED": Phase.GONE,
    **dict.fromkeys(_TRANSFERRING, Phase.TRANSFERRING),
}

KNOWN_STATUSES: frozenset[str] = frozenset(
    {
        *_EXACT,
        "CREATING",
        "CREATE_FAILED",
        "START_JOB_FAILED",
        "FULL_TRANSFER_FAILED",
        "INCRE_TRANSFER_FAILED",
        "RELEASE_RESOURCE_STARTED",
        "RELEASE_RESOURCE_FAILED",
        "RELEASE_RESOURCE_COMPLETE",
        "REBUILD_NODE_FAILED",
        "CHANGE_JOB_FAILED",
        "CHILD_TRANSFER_FAILED",
        "RELEASE_CHILD_TRANSFER_STARTED",
        "RELEASE_CHILD_TRANSFER_COMPLETE",
        "NODE_UPGRADE_FAILED",
    }
)
"""Every task status DRS is documented to report (the SDK's list), upper-case."""

_SETTLED = frozenset({Phase.WAITING, Phase.TRANSFERRING, Phase.FAILED, Phase.GONE})

# Codes of jobs the bot itself held back right before sending, without asking DRS.
SCHEDULE_PASSED_CODE = "SCHEDULE_PASSED"  # the scheduled start time passed before it was sent
FREEZE_CODE = "CHANGE_FREEZE"  # a change-freeze window holds the moment it would start
HELD_BY_BOT_CODES: frozenset[str] = frozenset({SCHEDULE_PASSED_CODE, FREEZE_CODE, HELD_CODE})


def held_by_bot(job: RequestJob) -> bool:
    """The job failed without DRS being asked: the bot held it back before sending."""
    return job.outcome is Outcome.FAILED and (job.error_code or "").strip() in HELD_BY_BOT_CODES


RETRYABLE_CODES: frozenset[str] = frozenset(
    {
        "DRS.M01504",  # another operation is running on the task
        "DRS.M01503",  # operation too frequent
        "APIGW.0308",  # throttled by the API gateway: the request was not processed
        HELD_CODE,  # not sent by the bot: its DRS precheck had not passed right before sending
    }
)
"""Error codes after which sending the same start again is safe and may succeed."""


def phase_of(status: str | None) -> Phase:
    """The phase of a DRS task status; None or blank is UNKNOWN, an unknown string OTHER.

    ``RELEASE_*`` (resources being or having been released) is GONE even when it ends in
    ``_FAILED``; every other ``*_FAILED`` status is FAILED.
    """
    if status is None:
        return Phase.UNKNOWN
    key = status.strip().upper()
    if not key:
        return Phase.UNKNOWN
    exact = _EXACT.get(key)
    if exact is not None:
        return exact
    if key.startswith("RELEASE_"):
        return Phase.GONE
    if key.endswith("_FAILED"):
        return Phase.FAILED
    return Phase.OTHER


def is_startable(status: str | None) -> bool:
    """True when batch-starting may start a task in this status (``CONFIGURATION``)."""
    return phase_of(status) is Phase.STARTABLE


def is_settled(status: str | None) -> bool:
    """True when the task will not change because of our start: waiting, running, failed, gone.

    The follow-up may stop polling a job once this holds.
    """
    return phase_of(status) in _SETTLED


def failed_after_start(job: RequestJob) -> bool:
    """True when DRS accepted the job's start and its task then failed (its error code is the
    task's failed status, e.g. ``START_JOB_FAILED``), as opposed to a start DRS refused."""
    return job.outcome is Outcome.FAILED and phase_of(job.error_code) is Phase.FAILED


def is_retryable(job: RequestJob) -> bool:
    """True when sending this job to batch-starting again is safe and may succeed.

    That is: it failed with a code in :data:`RETRYABLE_CODES`, or its outcome was unknown and a
    later status check saw it still ``CONFIGURATION`` (so it did not start). A job whose latest
    seen status says it is no longer startable is never retryable, whatever its error code.
    """
    if job.drs_status is not None and not is_startable(job.drs_status):
        return False
    if job.outcome is Outcome.FAILED:
        return job.error_code is not None and job.error_code.strip() in RETRYABLE_CODES
    if job.outcome is Outcome.UNKNOWN:
        return is_startable(job.drs_status)
    return False

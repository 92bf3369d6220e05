from __future__ import annotations

import pytest

from bot.core.model import Outcome
from bot.core.request import RequestJob
from bot.core.status import (
    KNOWN_STATUSES,
    RETRYABLE_CODES,
    Phase,
    is_retryable,
    is_settled,
    is_startable,
    phase_of,
)

JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"

EXPECTED = {
    "CREATING": Phase.OTHER,
    "CREATE_FAILED": Phase.FAILED,
    "CONFIGURATION": Phase.STARTABLE,
    "STARTJOBING": Phase.STARTING,
    "WAITING_FOR_START": Phase.WAITING,
    "START_JOB_FAILED": Phase.FAILED,
    "FULL_TRANSFER_STARTED": Phase.TRANSFERRING,
    "FULL_TRANSFER_FAILED": Phase.FAILED,
    "FULL_TRANSFER_COMPLETE": Phase.TRANSFERRING,
    "INCRE_TRANSFER_STARTED": Phase.TRANSFERRING,
    "INCRE_TRANSFER_COMPLETE": Phase.TRANSFERRING,
    "INCRE_TRANSFER_FAILED": Phase.FAILED,
    "RELEASE_RESOURCE_STARTED": Phase.GONE,
    "RELEASE_RESOURCE_FAILED": Phase.GONE,
    "RELEASE_RESOURCE_COMPLETE": Phase.GONE,
    "PAUSING": Phase.TRANSFERRING,
    "DELETED": Phase.GONE,
    "REBUILD_NODE_STARTED": Phase.TRANSFERRING,
    "REBUILD_NODE_FAILED": Phase.FAILED,
    "CHANGE_JOB_STARTED": Phase.TRANSFERRING,
    "CHANGE_JOB_FAILED": Phase.FAILED,
    "CHILD_TRANSFER_STARTING": Phase.TRANSFERRING,
    "CHILD_TRANSFER_STARTED": Phase.TRANSFERRING,
    "CHILD_TRANSFER_COMPLETE": Phase.TRANSFERRING,
    "CHILD_TRANSFER_FAILED": Phase.FAILED,
    "RELEASE_CHILD_TRANSFER_STARTED": Phase.GONE,
    "RELEASE_CHILD_TRANSFER_COMPLETE": Phase.GONE,
    "NODE_UPGRADE_START": Phase.TRANSFERRING,
    "NODE_UPGRADE_COMPLETE": Phase.TRANSFERRING,
    "NODE_UPGRADE_FAILED": Phase.FAILED,
}


def test_every_known_status_has_an_expected_phase() -> None:
    assert set(EXPECTED) == KNOWN_STATUSES


@pytest.mark.parametrize(("status", "phase"), sorted(EXPECTED.items()))
def test_phase_of_known_statuses(status: str, phase: Phase) -> None:
    assert phase_of(status) is phase


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        (None, Phase.UNKNOWN),
        ("", Phase.UNKNOWN),
        ("   ", Phase.UNKNOWN),
        (" configuration ", Phase.STARTABLE),
        ("startJobing", Phase.STARTING),
        ("SOMETHING_NEW", Phase.OTHER),
        ("SOMETHING_NEW_FAILED", Phase.FAILED),
        ("RELEASE_SOMETHING", Phase.GONE),
        ("FAILED", Phase.OTHER),
        ("CONFIGURATION_X", Phase.OTHER),
    ],
)
def test_phase_of_tolerates_case_blanks_and_unknown_values(
    status: str | None, phase: Phase
) -> None:
    assert phase_of(status) is phase


def test_only_configuration_is_startable() -> None:
    startable = {s for s in KNOWN_STATUSES if is_startable(s)}
    assert startable == {"CONFIGURATION"}
    assert not is_startable(None)


def test_settled_means_waiting_transferring_failed_or_gone() -> None:
    for status, phase in EXPECTED.items():
        settled = phase in {Phase.WAITING, Phase.TRANSFERRING, Phase.FAILED, Phase.GONE}
        assert is_settled(status) is settled, status
    assert not is_settled(None)
    assert not is_settled("CONFIGURATION")
    assert not is_settled("STARTJOBING")
    assert not is_settled("CREATING")


def test_retryable_codes() -> None:
    # DRS's passing refusals, and a job the bot held back until its precheck passes.
    assert {"DRS.M01504", "DRS.M01503", "APIGW.0308", "PRECHECK_NOT_PASSED"} == RETRYABLE_CODES


@pytest.mark.parametrize(
    ("job", "retryable"),
    [
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code="DRS.M01504"), True),
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code="DRS.M01503"), True),
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code="APIGW.0308"), True),
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code=" APIGW.0308 "), True),
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code="PRECHECK_NOT_PASSED"), True),
        # Already started, or a hard failure: sending again cannot help.
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code="DRS.M00304"), False),
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code="DRS.M05003"), False),
        (RequestJob(JOB, outcome=Outcome.FAILED, error_code=None), False),
        # A retryable code, but the follow-up saw it running: never send it again.
        (
            RequestJob(
                JOB,
                outcome=Outcome.FAILED,
                error_code="DRS.M01504",
                drs_status="FULL_TRANSFER_STARTED",
            ),
            False,
        ),
        (
            RequestJob(
                JOB, outcome=Outcome.FAILED, error_code="DRS.M01504", drs_status="CONFIGURATION"
            ),
            True,
        ),
        # Unknown outcome: only when a later look saw it still unstarted.
        (RequestJob(JOB, outcome=Outcome.UNKNOWN), False),
        (RequestJob(JOB, outcome=Outcome.UNKNOWN, drs_status="CONFIGURATION"), True),
        (RequestJob(JOB, outcome=Outcome.UNKNOWN, drs_status="STARTJOBING"), False),
        (RequestJob(JOB, outcome=Outcome.UNKNOWN, drs_status="WAITING_FOR_START"), False),
        (RequestJob(JOB, outcome=Outcome.SUCCESS), False),
        (RequestJob(JOB, outcome=Outcome.SUCCESS, drs_status="CONFIGURATION"), False),
        (RequestJob(JOB, outcome=None, drs_status="CONFIGURATION"), False),
    ],
)
def test_is_retryable(job: RequestJob, retryable: bool) -> None:
    assert is_retryable(job) is retryable

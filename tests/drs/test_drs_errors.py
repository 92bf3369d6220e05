"""DrsError messages say what happened and what to do, and map onto CallFailure."""

from __future__ import annotations

import pytest

from bot.core.model import CallFailureKind
from bot.drs.errors import (
    DrsAuthError,
    DrsBadRequestError,
    DrsError,
    DrsProtocolError,
    DrsServerError,
    DrsThrottledError,
    DrsTimeoutError,
    DrsTransportError,
)


def test_every_error_is_a_drs_error_with_its_kind() -> None:
    kinds = {
        DrsAuthError: CallFailureKind.AUTH,
        DrsThrottledError: CallFailureKind.THROTTLED,
        DrsBadRequestError: CallFailureKind.BAD_REQUEST,
        DrsServerError: CallFailureKind.SERVER,
        DrsTimeoutError: CallFailureKind.TIMEOUT,
        DrsTransportError: CallFailureKind.TRANSPORT,
        DrsProtocolError: CallFailureKind.PROTOCOL,
    }
    for cls, kind in kinds.items():
        error = cls("x")
        assert isinstance(error, DrsError)
        assert error.failure.kind is kind


def test_failure_carries_what_drs_said() -> None:
    error = DrsServerError(
        "batch-starting failed",
        http_status=502,
        error_code="APIGW.0201",
        error_msg="backend  unavailable\n",
        request_id="abc123",
        maybe_processed=True,
    )
    failure = error.failure
    assert (failure.http_status, failure.error_code, failure.request_id) == (
        502,
        "APIGW.0201",
        "abc123",
    )
    assert failure.maybe_processed is True
    assert failure.message == str(error)
    text = str(error)
    assert "HTTP 502 APIGW.0201 'backend unavailable'" in text
    assert "request id abc123" in text
    assert "outcome is unknown" in text
    assert "Check their status" in text


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (DrsAuthError("x", http_status=403), "cloud account's policy"),
        (DrsAuthError("x", http_status=401), "AK/SK"),
        (DrsThrottledError("x"), "Try again later"),
        (DrsBadRequestError("x"), "nothing was done"),
        (DrsTransportError("x"), "Nothing was sent"),
        (DrsTransportError("x", maybe_processed=True), "outcome is unknown"),
        (DrsTimeoutError("x", maybe_processed=True), "outcome is unknown"),
        (DrsServerError("x", maybe_processed=True, advice="Repeat it."), "Repeat it."),
    ],
)
def test_messages_say_what_to_do(error: DrsError, advice: str) -> None:
    assert advice in str(error)


def test_transport_sent_mirrors_maybe_processed() -> None:
    assert DrsTransportError("x").sent is False
    assert DrsTransportError("x", maybe_processed=True).sent is True


def test_long_server_text_is_clipped_and_repr_is_compact() -> None:
    error = DrsBadRequestError("x", error_msg="y" * 5000, error_code="DRS.M00007")
    assert error.error_msg is not None
    assert len(error.error_msg) <= 300
    assert repr(error).startswith("DrsBadRequestError(kind='bad_request'")
    assert "y" * 50 not in repr(error)

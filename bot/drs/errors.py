"""Typed failures of a whole DRS (or IAM) call.

::

    DrsError                  kind            raised for
    ├── DrsAuthError          AUTH            401/403, IAM token fetch failed
    ├── DrsThrottledError     THROTTLED       429 after the bounded retries
    ├── DrsBadRequestError    BAD_REQUEST     400 and other 4xx
    ├── DrsServerError        SERVER          5xx: the outcome is unknown
    ├── DrsTimeoutError       TIMEOUT         no answer in time after the body left
    ├── DrsTransportError     TRANSPORT       the connection failed (``maybe_processed`` says
    │                                         whether the body may have left)
    └── DrsProtocolError      PROTOCOL        an answer we could not parse

Every error carries what DRS said (``http_status``, ``error_code``, ``error_msg``,
``request_id`` from ``X-Request-Id``) and whether the request may have been processed.
``str(error)`` says what happened and what to do; it never holds credentials, tokens or
signatures. ``error.failure`` is the same information as a :class:`bot.core.model.CallFailure`.
No ``httpx`` exception leaves :mod:`bot.drs`: each one is wrapped, with the original kept as
``__cause__``.
"""

from __future__ import annotations

from typing import ClassVar

from bot.core.model import CallFailure, CallFailureKind, DrsCallError

_MAX_SERVER_TEXT = 300

UNKNOWN_OUTCOME_ADVICE = (
    "If this call was starting jobs, their outcome is unknown: some may have started. "
    "Check their status before starting them again."
)


class DrsError(DrsCallError):
    """A DRS or IAM call failed as a whole."""

    kind: ClassVar[CallFailureKind] = CallFailureKind.PROTOCOL

    def __init__(
        self,
        summary: str,
        *,
        http_status: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
        request_id: str | None = None,
        maybe_processed: bool = False,
        advice: str | None = None,
    ) -> None:
        self.summary = summary
        self.http_status = http_status
        self.error_code = error_code
        self.error_msg = _clip(error_msg)
        self.request_id = request_id
        self.maybe_processed = maybe_processed
        # A start and a status query call for different advice after the same failure, so
        # the raiser may override the class's default.
        self.advice = advice if advice is not None else self.default_advice()
        super().__init__(self._message())

    def default_advice(self) -> str:
        """What to do about this kind of failure; the end of ``str(error)``."""
        return UNKNOWN_OUTCOME_ADVICE if self.maybe_processed else ""

    def _message(self) -> str:
        parts = [self.summary]
        said = " ".join(
            p
            for p in (
                f"HTTP {self.http_status}" if self.http_status is not None else "",
                self.error_code or "",
                f"{self.error_msg!r}" if self.error_msg else "",
            )
            if p
        )
        if said:
            parts.append(f"DRS said: {said}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        text = "; ".join(parts)
        return f"{text}. {self.advice}" if self.advice else text

    @property
    def failure(self) -> CallFailure:
        """This error as the domain's :class:`CallFailure`."""
        return CallFailure(
            kind=self.kind,
            message=str(self),
            http_status=self.http_status,
            error_code=self.error_code,
            request_id=self.request_id,
            maybe_processed=self.maybe_processed,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind.value!r}, http_status={self.http_status!r}, "
            f"error_code={self.error_code!r}, request_id={self.request_id!r}, "
            f"maybe_processed={self.maybe_processed!r})"
        )


class DrsAuthError(DrsError):
    kind = CallFailureKind.AUTH

    def default_advice(self) -> str:
        return (
            "Check the AK/SK, or the IAM user's password, and the user's DRS permissions; "
            "this is the cloud account's policy, not the bot's."
        )


class DrsThrottledError(DrsError):
    kind = CallFailureKind.THROTTLED

    def default_advice(self) -> str:
        return "The API gateway is rate-limiting this account; nothing was done. Try again later."


class DrsBadRequestError(DrsError):
    kind = CallFailureKind.BAD_REQUEST

    def default_advice(self) -> str:
        return "DRS refused the request as a whole; nothing was done. Check the job IDs."


class DrsServerError(DrsError):
    kind = CallFailureKind.SERVER


class DrsTimeoutError(DrsError):
    kind = CallFailureKind.TIMEOUT


class DrsTransportError(DrsError):
    kind = CallFailureKind.TRANSPORT

    @property
    def sent(self) -> bool:
        """Whether the request body may have reached DRS (same as ``maybe_processed``)."""
        return self.maybe_processed

    def default_advice(self) -> str:
        if self.maybe_processed:
            return UNKNOWN_OUTCOME_ADVICE
        return "Nothing was sent; check the network path to the endpoint."


class DrsProtocolError(DrsError):
    kind = CallFailureKind.PROTOCOL


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    if len(text) > _MAX_SERVER_TEXT:
        return text[: _MAX_SERVER_TEXT - 1] + "…"
    return text

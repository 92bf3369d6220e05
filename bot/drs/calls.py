"""One logical DRS call: the POST, its few retries, and how it ended (:class:`Answer`).

Retries are deliberately narrow, because starting jobs is not idempotent:

* a 429 (the gateway's ``APIGW.0308``: the call was not processed) is retried after
  ``Retry-After`` (default 2 s, capped at ``max_retry_after``), at most
  ``max_throttle_retries`` times;
* a 401 that the authenticator recognises as an expired token is sent again once with a new
  one, by the authenticator's ``httpx.Auth`` flow (at most once per logical call);
* nothing else is ever re-sent: not a 5xx, not a timeout, not a signature failure.

A failed call ends as a :class:`~bot.drs.errors.DrsError` in its answer, never as an ``httpx``
exception: a connect or pool timeout means the body never left, a read or write timeout that it
may have been processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.core.model import CallRecord
from bot.drs import wire
from bot.drs.auth import Authenticator
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
from bot.service import logcontext
from bot.service.metrics import Metrics, NoMetrics, drs_code_label

log = logging.getLogger(__name__)

DEFAULT_THROTTLE_PAUSE = 2.0  # Huawei advises 2–5 s after APIGW.0308
_READ_ADVICE = "This query changed nothing and can be repeated."


@dataclass
class Answer:
    """How one logical call ended, after any retries."""

    retried: list[CallRecord] = field(default_factory=list)  # exchanges that were retried
    sent: bool = False  # whether the final attempt reached the wire
    status: int | None = None
    request_id: str | None = None
    body: dict[str, Any] | None = None
    error: DrsError | None = None


class Caller:
    """Sends the calls of one DRS project (``base`` ends in ``/v3/{project_id}``)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base: str,
        auth: Authenticator,
        max_throttle_retries: int,
        max_retry_after: float,
        sleep: Callable[[float], Awaitable[None]],
        in_flight: InFlight | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._http = http
        self._metrics = metrics or NoMetrics()
        self._in_flight = in_flight
        self._base = base
        self._auth = auth
        self._max_throttle_retries = max_throttle_retries
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    async def call(
        self,
        operation: str,
        path: str,
        body: bytes,
        job_count: int,
        language: str,
        *,
        starting: bool,
    ) -> Answer:
        """POST ``body``, retrying only throttling and an expired token; never raises DrsError."""
        answer = Answer()
        throttled = 0
        auth = _OneRenewal(self._auth)
        while True:
            request = self._http.build_request(
                "POST",
                self._base + path,
                content=body,
                headers={"Content-Type": "application/json", "X-Language": language},
            )
            try:
                if self._in_flight is None:
                    response = await self._http.send(request, auth=auth)
                else:
                    async with self._in_flight.slot():
                        response = await self._http.send(request, auth=auth)
            except DrsError as exc:  # the authenticator could not obtain a credential
                self._note_renewals(operation, job_count, auth, answer, self._metrics)
                answer.sent, answer.error = False, exc
                return answer
            except httpx.HTTPError as exc:
                self._note_renewals(operation, job_count, auth, answer, self._metrics)
                answer.error = _transport_error(operation, exc, starting)
                answer.error.__cause__ = exc  # kept for tracebacks; callers see only DrsError
                answer.sent = answer.error.maybe_processed
                # no answer to this attempt: not the status of a throttled one before it
                answer.status = answer.request_id = None
                _log_call(
                    self._metrics,
                    operation,
                    job_count,
                    None,
                    None,
                    auth.sent_at,
                    type(exc).__name__,
                )
                return answer
            self._note_renewals(operation, job_count, auth, answer, self._metrics)
            started = auth.sent_at
            status = response.status_code
            request_id = response.headers.get("X-Request-Id")
            answer.sent, answer.status, answer.request_id = True, status, request_id
            if 200 <= status < 300:
                _log_call(self._metrics, operation, job_count, status, request_id, started, None)
                try:
                    answer.body = wire.decode_object(response.content)
                except wire.WireError as exc:
                    answer.error = unreadable(operation, answer, exc, starting)
                return answer
            code, msg = wire.error_fields(response.content)
            _log_call(self._metrics, operation, job_count, status, request_id, started, code)
            if status == 429 and throttled < self._max_throttle_retries:
                throttled += 1
                pause = self._retry_after(response)
                answer.retried.append(CallRecord(operation, job_count, status, request_id))
                log.warning(
                    "drs %s throttled (%s), retry %d/%d in %.1fs",
                    operation,
                    code,
                    throttled,
                    self._max_throttle_retries,
                    pause,
                )
                await self._sleep(pause)
                continue
            answer.error = _status_error(operation, status, code, msg, request_id, starting)
            return answer

    @staticmethod
    def _note_renewals(
        operation: str, job_count: int, auth: _OneRenewal, answer: Answer, metrics: Metrics
    ) -> None:
        """Record (and log) each exchange the auth flow answered by sending the call again."""
        for response, sent_at in auth.take_renewed():
            status, request_id = response.status_code, response.headers.get("X-Request-Id")
            try:
                code, _ = wire.error_fields(response.content)
            except httpx.ResponseNotRead:  # the attempt failed before its body was read
                code = None
            _log_call(metrics, operation, job_count, status, request_id, sent_at, code)
            answer.retried.append(CallRecord(operation, job_count, status, request_id))

    def _retry_after(self, response: httpx.Response) -> float:
        raw = response.headers.get("Retry-After")
        pause = DEFAULT_THROTTLE_PAUSE
        if raw:
            try:
                pause = float(raw)
            except ValueError:
                try:
                    moment = parsedate_to_datetime(raw)
                    if moment.tzinfo is None:
                        moment = moment.replace(tzinfo=UTC)
                    pause = (moment - datetime.now(UTC)).total_seconds()
                except (TypeError, ValueError):
                    pause = DEFAULT_THROTTLE_PAUSE
        if pause != pause:  # NaN
            pause = DEFAULT_THROTTLE_PAUSE
        return min(max(pause, 0.0), self._max_retry_after)


def unreadable(
    operation: str, answer: Answer, exc: wire.WireError, starting: bool
) -> DrsProtocolError:
    """The error for a 2xx answer whose body is not what DRS promises."""
    return DrsProtocolError(
        f"{operation}: DRS answered HTTP {answer.status} but {exc}",
        request_id=answer.request_id,
        maybe_processed=True,
        advice=None if starting else _READ_ADVICE,
    )


class _OneRenewal(httpx.Auth):
    """Runs ``auth``'s flow for each attempt of one logical call, letting it send the call
    again (an expired token renewed) at most once over all the attempts, and noting each
    answer it sent again after, with when that exchange began, whatever ends the attempt."""

    def __init__(self, auth: httpx.Auth) -> None:
        self._auth = auth
        self._renewals = 0
        self._renewed: list[tuple[httpx.Response, float]] = []
        self.sent_at = time.monotonic()  # when the latest exchange began

    def take_renewed(self) -> list[tuple[httpx.Response, float]]:
        taken, self._renewed = self._renewed, []
        return taken

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._auth.async_auth_flow(request)
        try:
            request = await flow.__anext__()
            while True:
                self.sent_at = time.monotonic()
                response = yield request
                if self._renewals:
                    return
                sent_at = self.sent_at
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    return
                except DrsError:  # no new credential: the call is not sent again
                    self._renewed.append((response, sent_at))
                    raise
                self._renewals += 1
                self._renewed.append((response, sent_at))
        finally:
            await flow.aclose()


def _status_error(
    operation: str,
    status: int,
    code: str | None,
    msg: str | None,
    request_id: str | None,
    starting: bool,
) -> DrsError:
    cls: type[DrsError]
    processed = False
    if status in (401, 403):
        cls, summary = DrsAuthError, "refused: not authenticated or not permitted"
    elif status == 429:
        cls, summary = DrsThrottledError, "throttled, retries exhausted"
    elif 400 <= status < 500:
        cls, summary = DrsBadRequestError, "refused as a bad request"
    elif status >= 500:
        cls, summary, processed = DrsServerError, "DRS failed with a server error", True
    else:
        cls, summary, processed = DrsProtocolError, "unexpected HTTP status", True
    return cls(
        f"{operation} {summary}",
        http_status=status,
        error_code=code,
        error_msg=msg,
        request_id=request_id,
        maybe_processed=processed,
        advice=_READ_ADVICE if processed and not starting else None,
    )


class InFlight:
    """At most ``limit`` DRS calls handed to the HTTP client at once, process-wide; the others
    wait here (at most ``wait`` seconds, then fail as "never sent", like a pool timeout).

    httpx's connection pool looks over every queued request each time a connection frees up,
    so hundreds of queued calls (a burst of approvals, their follow-ups) cost the event loop
    time that Slack's answers need; with this bound the pool's queue stays empty. The figure
    is in bench/README.md (ack latency at 50 senders).
    """

    def __init__(self, limit: int, *, wait: float = 60.0) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._wait = wait

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no free slot for a DRS call") from exc
        try:
            yield
        finally:
            self._slots.release()


def _transport_error(operation: str, exc: httpx.HTTPError, starting: bool) -> DrsError:
    name = type(exc).__name__
    advice = None if starting else _READ_ADVICE
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return DrsTransportError(f"{operation}: could not connect to DRS in time ({name})")
    if isinstance(exc, httpx.TimeoutException):
        return DrsTimeoutError(
            f"{operation}: no answer from DRS in time after sending ({name})",
            maybe_processed=True,
            advice=advice,
        )
    if isinstance(exc, httpx.ConnectError):
        # The socket layer's text ("Connection refused", a DNS failure) holds no request data.
        return DrsTransportError(f"{operation}: could not connect to DRS ({name}: {exc})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.ProxyError):
        return DrsTransportError(f"{operation}: the request could not be sent ({name})")
    if isinstance(exc, httpx.TransportError):
        return DrsTransportError(
            f"{operation}: the connection to DRS failed after the request was sent ({name})",
            maybe_processed=True,
            advice=advice,
        )
    return DrsProtocolError(
        f"{operation}: DRS's answer could not be read ({name})", maybe_processed=True, advice=advice
    )


def _log_call(
    metrics: Metrics,
    operation: str,
    job_count: int,
    status: int | None,
    request_id: str | None,
    started: float,
    error: str | None,
) -> None:
    """Log one exchange and count it (with its latency); the log lines after it in this task
    name DRS's request ID."""
    metrics.drs_call(
        operation,
        _outcome_class(status, error),
        drs_code_label(error if status is not None else None),
        time.monotonic() - started,
    )
    logcontext.bind(drs_request_id=request_id)
    log.info(
        "drs %s jobs=%d status=%s request_id=%s duration=%.3fs%s",
        operation,
        job_count,
        status if status is not None else "-",
        request_id or "-",
        time.monotonic() - started,
        f" error={error}" if error else "",
    )


def _outcome_class(status: int | None, error: str | None) -> str:
    """How an exchange ended, as the calls counter labels it."""
    if status is None:
        return "timeout" if error and "Timeout" in error else "transport"
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "throttled"
    if 400 <= status < 500:
        return "client_error"
    return "server_error" if status >= 500 else "other"

"""The DRS v3 client: batch start, status, detail and the job list.

Expected HTTP client: the process-wide one from :func:`bot.drs.new_http_client` (httpx's own
transport, explicit timeouts, a bound on connections, no redirects, nothing re-sent). A connect
or pool timeout means the body never left (safe to report as not started); a read or write
timeout means it may have, so the outcome of a start is unknown.

Retries are deliberately narrow, because starting jobs is not idempotent:

* a 429 (the gateway's ``APIGW.0308``: the call was not processed) is retried after
  ``Retry-After`` (default 2 s, capped at ``max_retry_after``), at most
  ``max_throttle_retries`` times;
* a 401 that the authenticator recognises as an expired token is sent again once with a new
  one, by the authenticator's ``httpx.Auth`` flow (at most once per logical call);
* nothing else is ever re-sent: not a 5xx, not a timeout, not a signature failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from bot.core.model import (
    CallFailure,
    CallFailureKind,
    CallRecord,
    JobInfo,
    JobResult,
    Outcome,
    StartReport,
)
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

log = logging.getLogger(__name__)

OP_START = "batch-starting"
OP_STATUS = "batch-status"
OP_DETAIL = "batch-detail"
OP_LIST = "list-jobs"

DEFAULT_THROTTLE_PAUSE = 2.0  # Huawei advises 2–5 s after APIGW.0308
_READ_ADVICE = "This query changed nothing and can be repeated."
_T = TypeVar("_T")


@dataclass
class _Answer:
    """How one logical call ended, after any retries."""

    retried: list[CallRecord] = field(default_factory=list)  # exchanges that were retried
    sent: bool = False  # whether the final attempt reached the wire
    status: int | None = None
    request_id: str | None = None
    body: dict[str, Any] | None = None
    error: DrsError | None = None


class DrsClient:
    """Talks to one DRS project. Safe to share between concurrent tasks on one loop."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        endpoint: str,
        project_id: str,
        auth: Authenticator,
        chunk_size: int = 100,
        concurrency: int = 4,
        max_throttle_retries: int = 3,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        url = httpx.URL(endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"DRS endpoint must be an http(s) URL, got {endpoint!r}")
        if not project_id or any(c in project_id for c in "/?#% "):
            raise ValueError(f"invalid project id {project_id!r}")
        if chunk_size < 1 or concurrency < 1 or max_throttle_retries < 0 or max_retry_after < 0:
            raise ValueError("chunk_size and concurrency must be >= 1, retry limits >= 0")
        self._http = http
        self._base = f"{endpoint.rstrip('/')}/v3/{project_id}"
        self._auth = auth
        self._chunk_size = chunk_size
        self._concurrency = concurrency
        self._max_throttle_retries = max_throttle_retries
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    # -- batch start ---------------------------------------------------------------------

    async def batch_start(
        self,
        job_ids: Sequence[str],
        *,
        start_time_ms: int | None = None,
        language: str = "en-us",
        job_start_times_ms: Mapping[str, int] | None = None,
    ) -> StartReport:
        """Start ``job_ids`` (now, or at ``start_time_ms`` epoch ms) and report every outcome.

        ``job_start_times_ms`` gives individual jobs their own start time, overriding
        ``start_time_ms`` for those jobs (DRS accepts a start time per job).

        Never raises for a failed call: the report says, per job in input order, SUCCESS or
        FAILED as DRS answered, FAILED when the call was refused or never sent, and UNKNOWN
        when it may have been processed without a readable answer (5xx, timeout after
        sending, unreadable 2xx, a job missing from the answer). Chunks of ``chunk_size``
        go out with at most ``concurrency`` in flight. ``calls`` holds one CallRecord per
        HTTP exchange; its ``failure`` is set on the exchange that decided the chunk's
        outcome (retried 429s and expired-token 401s carry their status and no failure).
        After an AUTH refusal the chunks not yet sent are not sent (repeated signature
        failures lock the AK); they are FAILED, recorded with ``http_status`` None.

        Raises ValueError, before sending anything, for empty or duplicate ids or a negative
        start time.
        """
        ids = list(job_ids)
        if any(not isinstance(j, str) or not j for j in ids):
            raise ValueError("job ids must be non-empty strings")
        if len(set(ids)) != len(ids):
            raise ValueError("job ids must be unique within a batch start")
        times: dict[str, int | None] = dict.fromkeys(ids, start_time_ms)
        times.update(job_start_times_ms or {})
        if any(t is not None and t < 0 for t in times.values()):
            raise ValueError("start_time_ms must be epoch milliseconds >= 0")
        if job_start_times_ms and not set(job_start_times_ms) <= set(ids):
            raise ValueError("job_start_times_ms names jobs that are not in job_ids")
        chunks = [ids[i : i + self._chunk_size] for i in range(0, len(ids), self._chunk_size)]
        refused: list[DrsAuthError] = []
        gate = asyncio.Semaphore(self._concurrency)

        async def run(chunk: list[str]) -> tuple[list[JobResult], list[CallRecord]]:
            async with gate:
                if refused:
                    return _not_sent(chunk, refused[0])
                try:
                    return await self._start_chunk(chunk, times, language, refused)
                except Exception:
                    # A bug must not lose what the other chunks learned, nor claim this one
                    # failed: it may have been sent.
                    log.exception("batch-starting chunk of %d jobs: unexpected error", len(chunk))
                    return _unexpected(chunk)

        done = await asyncio.gather(*(run(c) for c in chunks))
        results = tuple(r for chunk_results, _ in done for r in chunk_results)
        calls = tuple(c for _, chunk_calls in done for c in chunk_calls)
        return StartReport(results=results, calls=calls)

    async def _start_chunk(
        self,
        chunk: list[str],
        times: Mapping[str, int | None],
        language: str,
        refused: list[DrsAuthError],
    ) -> tuple[list[JobResult], list[CallRecord]]:
        body = wire.encode(wire.start_body(chunk, times))
        answer = await self._exchange(
            OP_START, "/jobs/batch-starting", body, len(chunk), language, starting=True
        )
        records = answer.retried
        error = answer.error
        if error is None:
            assert answer.body is not None
            try:
                results = wire.start_results(answer.body, chunk)
            except wire.WireError as exc:
                error = self._unreadable(OP_START, answer, exc, starting=True)
            else:
                records.append(CallRecord(OP_START, len(chunk), answer.status, answer.request_id))
                return results, records
        if isinstance(error, DrsAuthError):
            refused.append(error)
        records.append(
            CallRecord(
                OP_START,
                len(chunk),
                answer.status if answer.sent else None,
                answer.request_id,
                error.failure,
            )
        )
        outcome = Outcome.UNKNOWN if error.maybe_processed else Outcome.FAILED
        msg = error.error_msg or error.summary
        code = error.error_code
        results = [JobResult(j, outcome, error_code=code, error_msg=msg) for j in chunk]
        return results, records

    # -- queries -------------------------------------------------------------------------

    async def batch_status(self, job_ids: Sequence[str]) -> list[JobInfo]:
        """Each job's status, in input order (one entry per input id, duplicates included).

        A job DRS does not know comes back with ``status`` None and DRS's error code and
        message; one its answer leaves out has ``status`` None and ``extra["answer"] ==
        "missing"``. Raises a :class:`DrsError` subclass when a call fails as a whole.
        """
        return await self._query(OP_STATUS, "/jobs/batch-status", job_ids, wire.status_infos)

    async def batch_detail(self, job_ids: Sequence[str]) -> list[JobInfo]:
        """Like :meth:`batch_status`, with name, prepaid, engine type and use type filled in."""
        return await self._query(OP_DETAIL, "/jobs/batch-detail", job_ids, wire.detail_infos)

    async def list_jobs(
        self,
        *,
        db_use_type: str = "migration",
        name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[JobInfo]:
        """The project's jobs of one use type, optionally filtered, paging until all (or
        ``limit``) are read. Raises a :class:`DrsError` subclass when a call fails."""
        if limit is not None and limit <= 0:
            return []
        jobs: list[JobInfo] = []
        page = 1
        while True:
            body = wire.encode(wire.list_body(page, db_use_type, name, status))
            answer = await self._exchange(OP_LIST, "/jobs", body, 0, "en-us", starting=False)
            total, infos = self._parse(OP_LIST, answer, wire.list_page)
            jobs.extend(infos)
            if limit is not None and len(jobs) >= limit:
                return jobs[:limit]
            if not infos or len(jobs) >= total:
                return jobs
            page += 1

    async def _query(
        self,
        operation: str,
        path: str,
        job_ids: Sequence[str],
        parse: Callable[[dict[str, Any], Sequence[str]], list[JobInfo]],
    ) -> list[JobInfo]:
        ids = list(job_ids)
        unique = list(dict.fromkeys(ids))
        size = wire.PAGE_SIZE
        chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
        gate = asyncio.Semaphore(self._concurrency)

        async def run(chunk: list[str]) -> list[JobInfo]:
            async with gate:
                body = wire.encode(wire.query_body(chunk))
                answer = await self._exchange(
                    operation, path, body, len(chunk), "en-us", starting=False
                )
                return self._parse(operation, answer, lambda b: parse(b, chunk))

        done = await asyncio.gather(*(run(c) for c in chunks), return_exceptions=True)
        by_id: dict[str, JobInfo] = {}
        for item in done:
            if isinstance(item, BaseException):
                raise item
            by_id.update((info.job_id, info) for info in item)
        return [by_id[j] for j in ids]

    def _parse(self, operation: str, answer: _Answer, parse: Callable[[dict[str, Any]], _T]) -> _T:
        if answer.error is not None:
            raise answer.error
        assert answer.body is not None
        try:
            return parse(answer.body)
        except wire.WireError as exc:
            raise self._unreadable(operation, answer, exc, starting=False) from exc

    # -- one logical call ----------------------------------------------------------------

    async def _exchange(
        self,
        operation: str,
        path: str,
        body: bytes,
        job_count: int,
        language: str,
        *,
        starting: bool,
    ) -> _Answer:
        """POST ``body``, retrying only throttling and an expired token; never raises DrsError."""
        answer = _Answer()
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
                response = await self._http.send(request, auth=auth)
            except DrsError as exc:  # the authenticator could not obtain a credential
                self._note_renewals(operation, job_count, auth, answer)
                answer.sent, answer.error = False, exc
                return answer
            except httpx.HTTPError as exc:
                self._note_renewals(operation, job_count, auth, answer)
                answer.error = _transport_error(operation, exc, starting)
                answer.error.__cause__ = exc  # kept for tracebacks; callers see only DrsError
                answer.sent = answer.error.maybe_processed
                # no answer to this attempt: not the status of a throttled one before it
                answer.status = answer.request_id = None
                _log_call(operation, job_count, None, None, auth.sent_at, type(exc).__name__)
                return answer
            self._note_renewals(operation, job_count, auth, answer)
            started = auth.sent_at
            status = response.status_code
            request_id = response.headers.get("X-Request-Id")
            answer.sent, answer.status, answer.request_id = True, status, request_id
            if 200 <= status < 300:
                _log_call(operation, job_count, status, request_id, started, None)
                try:
                    answer.body = wire.decode_object(response.content)
                except wire.WireError as exc:
                    answer.error = self._unreadable(operation, answer, exc, starting)
                return answer
            code, msg = wire.error_fields(response.content)
            _log_call(operation, job_count, status, request_id, started, code)
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
    def _note_renewals(operation: str, job_count: int, auth: _OneRenewal, answer: _Answer) -> None:
        """Record (and log) each exchange the auth flow answered by sending the call again."""
        for response, sent_at in auth.take_renewed():
            status, request_id = response.status_code, response.headers.get("X-Request-Id")
            try:
                code, _ = wire.error_fields(response.content)
            except httpx.ResponseNotRead:  # the attempt failed before its body was read
                code = None
            _log_call(operation, job_count, status, request_id, sent_at, code)
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

    @staticmethod
    def _unreadable(
        operation: str, answer: _Answer, exc: wire.WireError, starting: bool
    ) -> DrsProtocolError:
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
    operation: str,
    job_count: int,
    status: int | None,
    request_id: str | None,
    started: float,
    error: str | None,
) -> None:
    log.info(
        "drs %s jobs=%d status=%s request_id=%s duration=%.3fs%s",
        operation,
        job_count,
        status if status is not None else "-",
        request_id or "-",
        time.monotonic() - started,
        f" error={error}" if error else "",
    )


def _not_sent(chunk: list[str], cause: DrsAuthError) -> tuple[list[JobResult], list[CallRecord]]:
    failure = CallFailure(
        kind=CallFailureKind.AUTH,
        message=f"not sent: an earlier batch-starting call was refused. {cause}",
        error_code=cause.error_code,
        request_id=cause.request_id,
    )
    msg = cause.error_msg or cause.summary
    code = cause.error_code
    results = [JobResult(j, Outcome.FAILED, error_code=code, error_msg=msg) for j in chunk]
    return results, [CallRecord(OP_START, len(chunk), None, None, failure)]


def _unexpected(chunk: list[str]) -> tuple[list[JobResult], list[CallRecord]]:
    failure = CallFailure(
        kind=CallFailureKind.PROTOCOL,
        message="unexpected error while starting these jobs; their outcome is unknown",
        maybe_processed=True,
    )
    results = [
        JobResult(j, Outcome.UNKNOWN, error_msg="unexpected error; check the job's status")
        for j in chunk
    ]
    return results, [CallRecord(OP_START, len(chunk), None, None, failure)]

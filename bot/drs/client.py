"""The DRS v3 client: batch start, status, detail and the job list of one project.

Expected HTTP client: the process-wide one from :func:`bot.drs.new_http_client` (httpx's own
transport, explicit timeouts, a bound on connections, no redirects, nothing re-sent). Each call
goes through :class:`bot.drs.calls.Caller`, which retries only throttling and an expired token;
starting is :func:`bot.drs.starting.start_batch`, the queries are here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from bot.core.model import JobInfo, StartReport
from bot.core.precheck import JobPrecheck, PrecheckMode
from bot.drs import precheck, wire
from bot.drs.auth import Authenticator
from bot.drs.calls import Answer, Caller, InFlight, unreadable
from bot.drs.chunks import in_chunks
from bot.drs.starting import start_batch
from bot.service.metrics import Metrics

OP_STATUS = "batch-status"
OP_DETAIL = "batch-detail"
OP_LIST = "list-jobs"

_T = TypeVar("_T")


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
        in_flight: InFlight | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        url = httpx.URL(endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"DRS endpoint must be an http(s) URL, got {endpoint!r}")
        if not project_id or any(c in project_id for c in "/?#% "):
            raise ValueError(f"invalid project id {project_id!r}")
        if chunk_size < 1 or concurrency < 1 or max_throttle_retries < 0 or max_retry_after < 0:
            raise ValueError("chunk_size and concurrency must be >= 1, retry limits >= 0")
        self._caller = Caller(
            http=http,
            base=f"{endpoint.rstrip('/')}/v3/{project_id}",
            auth=auth,
            max_throttle_retries=max_throttle_retries,
            max_retry_after=max_retry_after,
            sleep=sleep,
            in_flight=in_flight,
            metrics=metrics,
        )
        self._chunk_size = chunk_size
        self._concurrency = concurrency

    async def batch_start(
        self,
        job_ids: Sequence[str],
        *,
        start_time_ms: int | None = None,
        language: str = "en-us",
        job_start_times_ms: Mapping[str, int] | None = None,
    ) -> StartReport:
        """Start ``job_ids`` in chunks of ``chunk_size``, at most ``concurrency`` in flight, and
        report every job's outcome: see :func:`bot.drs.starting.start_batch`."""
        return await start_batch(
            self._caller,
            job_ids,
            chunk_size=self._chunk_size,
            concurrency=self._concurrency,
            start_time_ms=start_time_ms,
            language=language,
            job_start_times_ms=job_start_times_ms,
        )

    # -- precheck ------------------------------------------------------------------------

    async def precheck_results(self, job_ids: Sequence[str]) -> list[JobPrecheck]:
        """Each job's precheck (batch-precheck-result, 10 jobs a call), in input order; a
        chunk whose call failed is UNREADABLE: see :mod:`bot.drs.precheck`."""
        return await precheck.read_results(
            self._caller, job_ids, concurrency=self._concurrency, now=time.time
        )

    async def run_precheck(self, jobs: Sequence[tuple[str, PrecheckMode]]) -> list[JobPrecheck]:
        """Start a precheck of each ``(job, mode)`` (batch-precheck, 10 jobs a call); each
        job's state after it (RUNNING where DRS accepted it)."""
        return await precheck.run_prechecks(
            self._caller, jobs, concurrency=self._concurrency, now=time.time
        )

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
            answer = await self._caller.call(OP_LIST, "/jobs", body, 0, "en-us", starting=False)
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
        async def one(chunk: list[str]) -> list[JobInfo]:
            body = wire.encode(wire.query_body(chunk))
            answer = await self._caller.call(
                operation, path, body, len(chunk), "en-us", starting=False
            )
            return self._parse(operation, answer, lambda b: parse(b, chunk))

        found = await in_chunks(job_ids, wire.PAGE_SIZE, self._concurrency, one)
        by_id = {info.job_id: info for info in found}
        return [by_id[j] for j in job_ids]

    @staticmethod
    def _parse(operation: str, answer: Answer, parse: Callable[[dict[str, Any]], _T]) -> _T:
        if answer.error is not None:
            raise answer.error
        assert answer.body is not None
        try:
            return parse(answer.body)
        except wire.WireError as exc:
            raise unreadable(operation, answer, exc, starting=False) from exc

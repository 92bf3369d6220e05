"""The simulator's HTTP surface: routing, the API gateway's checks, faults, and the record.

The calls themselves are answered by :class:`bot.devkit.sim.drs_iam.TokenIssuer` (IAM tokens)
and :class:`bot.devkit.sim.drs_process.JobCalls` (the four DRS v3 APIs).

Order of work for every call (so faults and errors compose the way they do on the platform):
latency faults -> gateway (auth, ``token_expiry``, project) -> ``before`` faults (429, an
unprocessed 500 or hang, ...) -> body validation (400) -> processing -> ``after`` faults (a
processed 500 or hang, ``malformed_json``, ``partial``) -> the answer. Every answer carries
``X-Request-Id``; every call except the control API's is recorded as a
:class:`~bot.devkit.sim.drs_model.RecordedCall`.

Gateway checks (before anything else): no ``X-Auth-Token`` and no ``Authorization`` -> 401
``APIGW.0301`` (``x-auth-token not found``); a token not issued here -> 401 ``APIGW.0301``; an
expired or invalidated token -> 401 ``APIGW.0307`` (``token expires``); a bad AK/SK signature,
an unknown AK, or ``X-Sdk-Date`` over 15 minutes from ``clock()`` -> 401 ``APIGW.0301``; five
signature failures in a row lock the AK out for five minutes; a path project other than the
simulator's -> 403 ``DRS.M00261``; a domain-scoped token -> 403 ``APIGW.0306``; an unknown path
or method -> 404 ``APIGW.0101``; a body over 12 MB -> 413 ``APIGW.0201``. Every response has an
``X-Request-Id`` (uuid hex). DRS messages follow ``X-Language`` (``en-us``, ``zh-cn``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from bot.devkit.sim.drs_auth import AkSkVerifier, Denial, TokenBook
from bot.devkit.sim.drs_faults import Fault, FaultBook
from bot.devkit.sim.drs_iam import TokenIssuer
from bot.devkit.sim.drs_jobs import JobBook
from bot.devkit.sim.drs_model import ApiConfig, CallNote, Result
from bot.devkit.sim.drs_precheck import PrecheckBook
from bot.devkit.sim.drs_process import JobCalls
from bot.devkit.sim.drs_wire import JSON_TYPE, drs_message, error_body, json_response, loads_object

MAX_BODY_BYTES = 12 * 1024 * 1024  # the API gateway's limit (HTTP 413 beyond)
CONTROL_PREFIX = "/_sim"

_BAD_IAM = "Incorrect IAM authentication information"
_TOKEN_EXPIRED = "The token must be updated: token expires"  # noqa: S105 (a message)
_SUCCESS_STATUS = {"batch-starting": 202, "tokens": 201}


# The note of the call being served. A context variable rather than request storage: each
# request runs in its own task, and this works with every aiohttp the project allows.
_CALL: contextvars.ContextVar[CallNote] = contextvars.ContextVar("startjobs_sim_call")


class DrsApi:
    """Routes and handlers; the simulator owns the books and hands them in."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        jobs: JobBook,
        faults: FaultBook,
        tokens: TokenBook,
        verifier: AkSkVerifier,
        now: Callable[[], float],
        record: Callable[[CallNote, str, str, int | None], None],
        base_url: Callable[[], str],
        prechecks: PrecheckBook | None = None,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.faults = faults
        self.tokens = tokens
        self.verifier = verifier
        self._now = now
        self._record = record
        self.prechecks = prechecks if prechecks is not None else PrecheckBook(now)
        self._job_calls = JobCalls(jobs, self.prechecks)
        self._issuer = TokenIssuer(config, tokens=tokens, now=now, base_url=base_url)
        self.stopping: asyncio.Event | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v3/auth/tokens", self._tokens),
            web.post("/v3/{project_id}/jobs/batch-starting", self._batch_starting),
            web.post("/v3/{project_id}/jobs/batch-status", self._batch_status),
            web.post("/v3/{project_id}/jobs/batch-detail", self._batch_detail),
            web.post("/v3/{project_id}/jobs/batch-precheck", self._batch_precheck),
            web.post("/v3/{project_id}/jobs/batch-precheck-result", self._precheck_result),
            web.post("/v3/{project_id}/jobs", self._list),
        ]

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
    ) -> web.StreamResponse:
        call = CallNote(request_id=uuid.uuid4().hex)
        _CALL.set(call)
        status: int | None = None
        try:
            try:
                response: web.StreamResponse = await handler(request)
            except web.HTTPRequestEntityTooLarge:
                response = self._error(call, 413, "APIGW.0201", "Request entity too large")
            except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
                response = self._error(
                    call,
                    404,
                    "APIGW.0101",
                    "The API does not exist or has not been published in the environment",
                )
            response.headers["X-Request-Id"] = call.request_id
            status = response.status
            return response
        finally:
            if not request.path.startswith(CONTROL_PREFIX):
                self._record(call, request.method, request.path, status)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the simulator is stopping (so stop() never hangs)."""
        if seconds <= 0:
            return
        if self.stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    # -- handlers ---------------------------------------------------------------------------

    async def _tokens(self, request: web.Request) -> web.StreamResponse:
        call = _CALL.get()
        call.endpoint = "tokens"
        body = await request.read()
        await self.sleep(self.config.latency + self.faults.take_latency("tokens"))
        nocatalog = bool(request.query.get("nocatalog"))
        return await self._answer(call, "tokens", lambda: self._issuer.issue(call, body, nocatalog))

    async def _batch_starting(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "batch-starting", self._job_calls.start)

    async def _batch_status(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "batch-status", self._job_calls.status)

    async def _batch_detail(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "batch-detail", self._job_calls.detail)

    async def _batch_precheck(self, request: web.Request) -> web.StreamResponse:
        run = functools.partial(self.prechecks.run, known=self._known)
        return await self._drs(request, "batch-precheck", run)

    async def _precheck_result(self, request: web.Request) -> web.StreamResponse:
        read = functools.partial(self.prechecks.results, known=self._known)
        return await self._drs(request, "batch-precheck-result", read)

    def _known(self, job_id: str) -> bool:
        return self.jobs.get(job_id) is not None

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "list", self._job_calls.list_jobs)

    async def _drs(
        self,
        request: web.Request,
        endpoint: str,
        process: Callable[[CallNote, bytes, str], Result],
    ) -> web.StreamResponse:
        call = _CALL.get()
        call.endpoint = endpoint
        body = await request.read()
        call.job_ids = _peek_job_ids(endpoint, body)
        if endpoint == "batch-starting":
            self.jobs.count_start_call(dict.fromkeys(call.job_ids))
        await self.sleep(self.config.latency + self.faults.take_latency(endpoint))
        language = request.headers.get("X-Language", "en-us")
        denial = self._gateway(request, endpoint, body, call, language)
        if denial is not None:
            return self._error(call, denial.status, denial.code, denial.message)
        return await self._answer(call, endpoint, lambda: process(call, body, language))

    async def _answer(
        self, call: CallNote, endpoint: str, process: Callable[[], Result]
    ) -> web.StreamResponse:
        before = self.faults.take(endpoint, "before")
        if before is not None:
            call.fault = before.kind
            return await self._faulted(before, call, endpoint, None)
        result = process()
        if result.status < 400:
            after = self.faults.take(endpoint, "after")
            if after is not None:
                call.fault = after.kind
                return await self._faulted(after, call, endpoint, result)
        return json_response(result.payload, result.status, result.headers)

    # -- gateway ----------------------------------------------------------------------------

    def _gateway(
        self, request: web.Request, endpoint: str, body: bytes, call: CallNote, language: str
    ) -> Denial | None:
        path_project = request.match_info["project_id"]
        wrong_project = Denial(403, "DRS.M00261", drs_message("DRS.M00261", language))
        token = request.headers.get("X-Auth-Token")
        if token:
            call.auth = "token"
            record = self.tokens.lookup(token)
            if record is None:
                return Denial(401, "APIGW.0301", f"{_BAD_IAM}: decrypt token fail")
            call.principal = record.user
            if record.revoked or self._now() >= record.expires_at:
                return Denial(401, "APIGW.0307", _TOKEN_EXPIRED)
            if self.faults.take(endpoint, "auth") is not None:
                record.revoked = True
                call.fault = "token_expiry"
                return Denial(401, "APIGW.0307", _TOKEN_EXPIRED)
            if path_project != self.config.project_id:
                return wrong_project
            if record.project_id != path_project:
                return Denial(403, "APIGW.0306", "Access denied: the token is not scoped to it")
            return None
        authorization = request.headers.get("Authorization")
        if not authorization:
            return Denial(401, "APIGW.0301", f"{_BAD_IAM}: x-auth-token not found")
        call.auth = "aksk"
        ak, denial = self.verifier.verify(
            authorization=authorization,
            method=request.method,
            path=request.rel_url.raw_path,
            query=request.rel_url.raw_query_string,
            headers=dict(request.headers.items()),
            body=body,
        )
        call.principal = ak
        if denial is not None:
            return denial
        return wrong_project if path_project != self.config.project_id else None

    # -- faults -----------------------------------------------------------------------------

    async def _faulted(
        self, fault: Fault, call: CallNote, endpoint: str, result: Result | None
    ) -> web.StreamResponse:
        kind, params = fault.kind, fault.params
        if kind == "status_429":
            return self._error(
                call,
                429,
                "APIGW.0308",
                "The throttling threshold has been reached: policy user over ratelimit,"
                "limit:20,time:1 minute",
                headers={"Retry-After": str(params["retry_after"])},
            )
        if kind == "status_500":
            status = params["status"]
            code = params.get("error_code") or ("DRS.M00004" if status == 500 else "APIGW.0201")
            return self._error(call, status, code, "Service error. Try again later.")
        if kind == "hang":
            await self.sleep(params["seconds"])
            if result is None:
                return self._error(call, 504, "APIGW.0201", "Backend timeout.")
            return json_response(result.payload, result.status, result.headers)
        if kind == "malformed_json":
            if result is None:
                text, status, headers = '{"results": [', _SUCCESS_STATUS.get(endpoint, 200), {}
            else:
                text, status, headers = json.dumps(result.payload), result.status, result.headers
            return web.Response(
                body=text[: max(1, len(text) // 2)].encode("utf-8"),
                status=status,
                content_type=JSON_TYPE,
                headers=headers,
            )
        assert kind == "partial"
        assert result is not None
        return json_response(_drop_results(result.payload, params), result.status, result.headers)

    # -- processing -------------------------------------------------------------------------

    def _error(
        self,
        call: CallNote,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        call.error_code = code
        return json_response(error_body(code, message), status, headers)


def _peek_job_ids(endpoint: str, body: bytes) -> tuple[str, ...]:
    """The task ids a request names, for the record (best effort: never fails)."""
    if endpoint not in ("batch-starting", "batch-status", "batch-detail"):
        return ()
    data = loads_object(body)
    jobs = data.get("jobs") if data is not None else None
    if not isinstance(jobs, list):
        return ()
    if endpoint == "batch-starting":
        jobs = [j.get("job_id") for j in jobs if isinstance(j, dict)]
    return tuple(j for j in jobs if isinstance(j, str))


def _drop_results(payload: Any, params: Mapping[str, Any]) -> Any:
    """``payload`` with some entries of its result list left out (the ``partial`` fault)."""
    if not isinstance(payload, dict):
        return payload
    key = "results" if "results" in payload else "jobs"
    entries = payload.get(key)
    if not isinstance(entries, list):
        return payload
    dropped_ids = params.get("job_ids")
    if dropped_ids:
        kept = [e for e in entries if not (isinstance(e, dict) and e.get("id") in dropped_ids)]
    else:
        kept = entries[: max(0, len(entries) - params["drop"])]
    answer = {**payload, key: kept}
    if "count" in answer:
        answer["count"] = len(kept)
    return answer

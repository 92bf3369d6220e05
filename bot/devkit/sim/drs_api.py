"""The simulator's public surface: IAM tokens, the gateway checks and the four DRS v3 APIs.

Order of work for every call (so faults and errors compose the way they do on the platform):
latency faults -> gateway (auth, ``token_expiry``, project) -> ``before`` faults (429, an
unprocessed 500 or hang, ...) -> body validation (400) -> processing -> ``after`` faults (a
processed 500 or hang, ``malformed_json``, ``partial``) -> the answer. Every answer carries
``X-Request-Id``; every call except the control API's is recorded as a :class:`RecordedCall`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hmac
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.devkit.sim.drs_auth import (
    AkSkVerifier,
    Denial,
    TokenBook,
    TokenRecord,
    parse_password_auth,
)
from bot.devkit.sim.drs_faults import Fault, FaultBook
from bot.devkit.sim.drs_jobs import (
    DB_USE_TYPES,
    JobBook,
    detail_entry,
    is_job_id,
    list_entry,
    list_matches,
    status_entry,
    unknown_entry,
)
from bot.devkit.sim.drs_wire import (
    JSON_TYPE,
    drs_message,
    error_body,
    iso8601,
    json_response,
    loads_object,
)

MAX_BODY_BYTES = 12 * 1024 * 1024  # the API gateway's limit (HTTP 413 beyond)
CONTROL_PREFIX = "/_sim"

_BAD_IAM = "Incorrect IAM authentication information"
_TOKEN_EXPIRED = "The token must be updated: token expires"  # noqa: S105 (a message)
_SUCCESS_STATUS = {"batch-starting": 202, "tokens": 201}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One call the simulator answered (control API excluded). Holds no secrets.

    ``endpoint`` is None for an unknown path; ``auth`` is ``token``, ``aksk``, ``password``
    (a token request) or ``none``; ``principal`` the IAM user name or the AK; ``status`` None
    if the answer was never formed (the simulator stopped mid-call); ``fault`` the kind of
    fault that shaped the answer.
    """

    seq: int
    at: float
    endpoint: str | None
    method: str
    path: str
    job_ids: tuple[str, ...]
    status: int | None
    auth: str
    principal: str | None
    error_code: str | None
    request_id: str
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "endpoint": self.endpoint,
            "method": self.method,
            "path": self.path,
            "job_ids": list(self.job_ids),
            "status": self.status,
            "auth": self.auth,
            "principal": self.principal,
            "error_code": self.error_code,
            "request_id": self.request_id,
            "fault": self.fault,
        }


@dataclass(slots=True)
class CallNote:
    """What a handler learns about the call it serves, for the record."""

    request_id: str
    endpoint: str | None = None
    auth: str = "none"
    principal: str | None = None
    job_ids: tuple[str, ...] = ()
    error_code: str | None = None
    fault: str | None = None


@dataclass(slots=True)
class _Result:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


# The note of the call being served. A context variable rather than request storage: each
# request runs in its own task, and this works with every aiohttp the project allows.
_CALL: contextvars.ContextVar[CallNote] = contextvars.ContextVar("startjobs_sim_call")


@dataclass(slots=True)
class ApiConfig:
    project_id: str
    project_name: str
    iam_users: Mapping[str, tuple[str, str]]
    token_ttl: float
    latency: float


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
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.faults = faults
        self.tokens = tokens
        self.verifier = verifier
        self._now = now
        self._record = record
        self._base_url = base_url
        self.stopping: asyncio.Event | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v3/auth/tokens", self._tokens),
            web.post("/v3/{project_id}/jobs/batch-starting", self._batch_starting),
            web.post("/v3/{project_id}/jobs/batch-status", self._batch_status),
            web.post("/v3/{project_id}/jobs/batch-detail", self._batch_detail),
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
        return await self._answer(call, "tokens", lambda: self._issue_token(call, body, nocatalog))

    async def _batch_starting(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "batch-starting", self._start)

    async def _batch_status(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "batch-status", self._status)

    async def _batch_detail(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "batch-detail", self._detail)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return await self._drs(request, "list", self._list_jobs)

    async def _drs(
        self,
        request: web.Request,
        endpoint: str,
        process: Callable[[CallNote, bytes, str], _Result],
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
        self, call: CallNote, endpoint: str, process: Callable[[], _Result]
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
        self, fault: Fault, call: CallNote, endpoint: str, result: _Result | None
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

    def _fail(
        self, call: CallNote, status: int, code: str, language: str, arg: str = ""
    ) -> _Result:
        call.error_code = code
        return _Result(status, error_body(code, drs_message(code, language, arg)))

    def _start(self, call: CallNote, body: bytes, language: str) -> _Result:
        data = loads_object(body)
        if data is None:
            return self._fail(call, 400, "DRS.M00200", language)
        jobs = data.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            return self._fail(call, 400, "DRS.M00201", language, "jobs")
        plan: dict[str, float | None] = {}
        for item in jobs:
            if not isinstance(item, dict):
                return self._fail(call, 400, "DRS.M00200", language)
            job_id = item.get("job_id")
            if not isinstance(job_id, str) or not job_id:
                return self._fail(call, 400, "DRS.M00201", language, "job_id")
            if not is_job_id(job_id):
                return self._fail(call, 400, "DRS.M00202", language, "job_id")
            if job_id in plan:
                return self._fail(call, 400, "DRS.M00301", language, job_id)
            start_time = item.get("start_time")
            if start_time is None or start_time == "":
                plan[job_id] = None
            elif isinstance(start_time, str) and start_time.isascii() and start_time.isdigit():
                plan[job_id] = int(start_time) / 1000
            else:
                return self._fail(call, 400, "DRS.M00202", language, "start_time")
        results: list[dict[str, str]] = []
        for job_id, start_at in plan.items():
            outcome = self.jobs.start(job_id, start_at)
            entry = {"id": job_id, "status": "success" if outcome.error_code is None else "failed"}
            if outcome.error_code is not None:
                entry["error_code"] = outcome.error_code
                entry["error_msg"] = drs_message(outcome.error_code, language)
            if outcome.order_id is not None:
                entry["order_id"] = outcome.order_id
            results.append(entry)
        return _Result(202, {"results": results, "count": len(results)})

    def _query(
        self, call: CallNote, body: bytes, language: str, entry: Callable[[str], dict[str, Any]]
    ) -> _Result:
        data = loads_object(body)
        if data is None:
            return self._fail(call, 400, "DRS.M00200", language)
        ids = data.get("jobs")
        if not isinstance(ids, list) or not ids:
            return self._fail(call, 400, "DRS.M00201", language, "jobs")
        if not all(isinstance(i, str) and is_job_id(i) for i in ids):
            return self._fail(call, 400, "DRS.M00202", language, "jobs")
        page = data.get("page_req", {})
        if not isinstance(page, dict):
            return self._fail(call, 400, "DRS.M00202", language, "page_req")
        # DRS's documented defaults when page_req leaves them out: page 1 of 5.
        window = _page_window(page, len(dict.fromkeys(ids)), default_per_page=5, strict=True)
        if isinstance(window, str):
            return self._fail(call, 400, "DRS.M00202", language, window)
        entries = [entry(i) for i in dict.fromkeys(ids)]
        return _Result(200, {"count": len(entries), "results": entries[window[0] : window[1]]})

    def _entry_or_unknown(
        self, language: str, shape: Callable[[Any], dict[str, Any]]
    ) -> Callable[[str], dict[str, Any]]:
        def entry(job_id: str) -> dict[str, Any]:
            job = self.jobs.get(job_id)
            if job is None:
                return unknown_entry(job_id, drs_message("DRS.M05003", language))
            return shape(job)

        return entry

    def _status(self, call: CallNote, body: bytes, language: str) -> _Result:
        return self._query(call, body, language, self._entry_or_unknown(language, status_entry))

    def _detail(self, call: CallNote, body: bytes, language: str) -> _Result:
        return self._query(call, body, language, self._entry_or_unknown(language, detail_entry))

    def _list_jobs(self, call: CallNote, body: bytes, language: str) -> _Result:
        data = loads_object(body) if body.strip() else {}
        if data is None:
            return self._fail(call, 400, "DRS.M00200", language)
        filters: dict[str, str | None] = {}
        for name in ("name", "status", "db_use_type"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                return self._fail(call, 400, "DRS.M00202", language, name)
            filters[name] = value
        if filters["db_use_type"] and filters["db_use_type"] not in DB_USE_TYPES:
            return self._fail(call, 400, "DRS.M00202", language, "db_use_type")
        matching = [
            list_entry(j)
            for j in self.jobs.all()
            if list_matches(j, filters["name"], filters["status"], filters["db_use_type"])
        ]
        window = _page_window(data, len(matching), default_per_page=10, strict=False)
        if isinstance(window, str):
            return self._fail(call, 400, "DRS.M00202", language, window)
        return _Result(
            200, {"total_record": len(matching), "jobs": matching[window[0] : window[1]]}
        )

    def _issue_token(self, call: CallNote, body: bytes, nocatalog: bool) -> _Result:
        data = loads_object(body)
        parsed = parse_password_auth(data) if data is not None else "the body is not JSON"
        if isinstance(parsed, str):
            call.error_code = "400"
            return _iam_error(400, "Bad Request", f"The request is invalid: {parsed}.")
        call.auth, call.principal = "password", parsed.user
        known = self.config.iam_users.get(parsed.user)
        if (
            known is None
            or not hmac.compare_digest(known[0].encode(), parsed.password.encode())
            or known[1] != parsed.domain
        ):
            call.error_code = "401"
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        project_id: str | None = None
        if not parsed.domain_scoped:
            wrong_id = parsed.project_id not in (None, self.config.project_id)
            if wrong_id or parsed.project_name not in (None, self.config.project_name):
                call.error_code = "401"
                return _iam_error(401, "Unauthorized", "The project does not exist in this domain.")
            project_id = self.config.project_id
        now = self._now()
        record = TokenRecord(
            parsed.user,
            parsed.domain,
            project_id,
            issued_at=now,
            expires_at=now + self.config.token_ttl,
        )
        token = self.tokens.issue(record)
        return _Result(
            201,
            self._token_body(record, nocatalog),
            headers={"X-Subject-Token": token.reveal()},  # the token's only way out: the wire
        )

    def _token_body(self, record: TokenRecord, nocatalog: bool) -> dict[str, Any]:
        domain = {"id": _stable_id("domain", record.domain), "name": record.domain}
        token: dict[str, Any] = {
            "methods": ["password"],
            "expires_at": iso8601(record.expires_at),
            "issued_at": iso8601(record.issued_at),
            "user": {
                "id": _stable_id("user", record.user),
                "name": record.user,
                "domain": domain,
                "password_expires_at": "",
            },
            "roles": [{"id": _stable_id("role", "drs"), "name": "drs_adm"}],
        }
        if record.project_id is not None:
            token["project"] = {
                "id": record.project_id,
                "name": self.config.project_name,
                "domain": domain,
            }
        else:
            token["domain"] = domain
        if not nocatalog:
            token["catalog"] = [
                {
                    "id": _stable_id("service", "drs"),
                    "name": "drs",
                    "type": "drs",
                    "endpoints": [
                        {
                            "id": _stable_id("endpoint", "drs"),
                            "interface": "public",
                            "region": self.config.project_name,
                            "region_id": self.config.project_name,
                            "url": self._base_url(),
                        }
                    ],
                }
            ]
        return {"token": token}

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


def _iam_error(status: int, title: str, message: str) -> _Result:
    return _Result(status, {"error": {"code": status, "title": title, "message": message}})


def _stable_id(kind: str, name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"startjobs-sim:{kind}:{name}").hex


def _page_window(
    page: Mapping[str, Any], total: int, *, default_per_page: int, strict: bool
) -> tuple[int, int] | str:
    """Slice bounds for ``cur_page``/``per_page``, or the name of the invalid parameter.

    ``per_page`` 0 means all (``cur_page`` must then be 0 or 1). With ``strict`` (the batch
    queries) a page past the last one is refused, as DRS does; the list just comes back empty.
    """
    cur, per = page.get("cur_page", 1), page.get("per_page", default_per_page)
    for name, value in (("cur_page", cur), ("per_page", per)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return name
    if per > 100:
        return "per_page"
    if per == 0:
        return (0, total) if cur in (0, 1) else "cur_page"
    if cur == 0 or (strict and cur > max(1, math.ceil(total / per))):
        return "cur_page"
    return ((cur - 1) * per, cur * per)


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

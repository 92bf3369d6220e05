"""DrsClient over httpx.MockTransport: wire format, chunking, failure mapping, retries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from drs_client_support import (
    AK_TEXT,
    JOB_A,
    JOB_B,
    PROJECT,
    SK_TEXT,
    Recorder,
    Sleeps,
    aksk,
    body_of,
    drs_client,
    error,
    job_ids,
    sdk_signature_matches,
    sent_ids,
    start_ok,
)

from bot.core.model import CallFailureKind, Outcome
from bot.core.secret import Secret
from bot.drs import (
    DrsAuthError,
    DrsBadRequestError,
    DrsClient,
    DrsError,
    DrsProtocolError,
    DrsServerError,
    DrsThrottledError,
    DrsTimeoutError,
    DrsTransportError,
    IamTokenAuth,
    default_endpoint,
    default_iam_endpoint,
)

START_PATH = f"/v3/{PROJECT}/jobs/batch-starting"


# -- wire format ---------------------------------------------------------------------------


async def test_batch_start_sends_the_documented_request() -> None:
    rec = Recorder(start_ok)
    async with drs_client(rec) as client:
        report = await client.batch_start([JOB_A, JOB_B], language="zh-cn")

    (request,) = rec.requests
    assert request.method == "POST"
    assert str(request.url) == f"https://drs.cn-north-4.myhuaweicloud.com{START_PATH}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Language"] == "zh-cn"
    assert request.headers["X-Project-Id"] == PROJECT
    assert request.headers["Authorization"].startswith("SDK-HMAC-SHA256 Access=")
    assert body_of(request) == {"jobs": [{"job_id": JOB_A}, {"job_id": JOB_B}]}
    assert [(r.job_id, r.outcome) for r in report.results] == [
        (JOB_A, Outcome.SUCCESS),
        (JOB_B, Outcome.SUCCESS),
    ]
    (call,) = report.calls
    assert (call.operation, call.job_count, call.http_status, call.request_id) == (
        "batch-starting",
        2,
        202,
        "req-ok",
    )
    assert call.failure is None
    assert report.failures == ()


async def test_start_time_is_sent_as_a_millisecond_string_on_every_job() -> None:
    rec = Recorder(start_ok)
    async with drs_client(rec) as client:
        await client.batch_start([JOB_A, JOB_B], start_time_ms=1599202771816)
    assert body_of(rec.requests[0]) == {
        "jobs": [
            {"job_id": JOB_A, "start_time": "1599202771816"},
            {"job_id": JOB_B, "start_time": "1599202771816"},
        ]
    }
    assert rec.requests[0].headers["X-Language"] == "en-us"


async def test_invalid_input_raises_before_anything_is_sent() -> None:
    rec = Recorder(start_ok)
    async with drs_client(rec) as client:
        with pytest.raises(ValueError, match="unique"):
            await client.batch_start([JOB_A, JOB_A])
        with pytest.raises(ValueError, match="non-empty"):
            await client.batch_start([JOB_A, ""])
        with pytest.raises(ValueError, match="start_time_ms"):
            await client.batch_start([JOB_A], start_time_ms=-1)
        empty = await client.batch_start([])
    assert rec.requests == []
    assert empty.results == ()
    assert empty.calls == ()


def test_constructor_rejects_bad_settings() -> None:
    http = httpx.AsyncClient()
    with pytest.raises(ValueError, match="endpoint"):
        DrsClient(http=http, endpoint="drs.example.com", project_id=PROJECT, auth=aksk())
    with pytest.raises(ValueError, match="project id"):
        DrsClient(http=http, endpoint="https://x", project_id="a/b", auth=aksk())
    with pytest.raises(ValueError, match="chunk_size"):
        DrsClient(http=http, endpoint="https://x", project_id=PROJECT, auth=aksk(), chunk_size=0)


def test_default_endpoints() -> None:
    assert default_endpoint("cn-north-4") == "https://drs.cn-north-4.myhuaweicloud.com"
    assert default_endpoint("eu-west-101") == "https://drs.eu-west-101.myhuaweicloud.eu"
    assert default_iam_endpoint("ap-southeast-1") == "https://iam.ap-southeast-1.myhuaweicloud.com"
    assert default_iam_endpoint("eu-west-101") == "https://iam.eu-west-101.myhuaweicloud.eu"
    with pytest.raises(ValueError, match="region"):
        default_endpoint("evil.com/x")


# -- chunking, order, concurrency ----------------------------------------------------------


async def test_chunks_merge_in_input_order_with_bounded_concurrency() -> None:
    ids = job_ids(1050)

    async def answer(request: httpx.Request) -> httpx.Response:
        sent = sent_ids(request)
        # answer in reverse order and out of step, to prove the merge does not rely on it
        await asyncio.sleep(0.001 * (len(sent) % 7))
        results = [{"id": i, "status": "success"} for i in reversed(sent)]
        return httpx.Response(202, json={"results": results, "count": len(results)})

    rec = Recorder(answer, hold=0.005)
    async with drs_client(rec, chunk_size=100, concurrency=3) as client:
        report = await client.batch_start(ids)

    assert [r.job_id for r in report.results] == ids
    assert {r.outcome for r in report.results} == {Outcome.SUCCESS}
    assert len(rec.requests) == 11
    assert sorted(len(sent_ids(r)) for r in rec.requests) == [50] + [100] * 10
    assert rec.max_in_flight == 3
    assert [c.job_count for c in report.calls] == [100] * 10 + [50]


async def test_concurrency_one_is_sequential() -> None:
    rec = Recorder(start_ok, hold=0.002)
    async with drs_client(rec, chunk_size=2, concurrency=1) as client:
        await client.batch_start(job_ids(7))
    assert rec.max_in_flight == 1
    assert [sent_ids(r) for r in rec.requests] == [job_ids(7)[i : i + 2] for i in range(0, 7, 2)]


# -- reading the answer --------------------------------------------------------------------


async def test_answer_fields_and_jobs_fallback_key() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            202,
            json={
                "jobs": [
                    {
                        "id": JOB_B,
                        "status": "failed",
                        "error_code": "DRS.M00304",
                        "error_msg": "status does not allow this operation",
                    },
                    {"id": JOB_A, "status": "success", "order_id": "CS2401011234ABCD"},
                ],
                "count": 2,
            },
        )

    async with drs_client(Recorder(answer)) as client:
        report = await client.batch_start([JOB_A, JOB_B])

    a, b = report.results
    assert (a.outcome, a.order_id, a.error_code) == (Outcome.SUCCESS, "CS2401011234ABCD", None)
    assert (b.outcome, b.error_code, b.error_msg) == (
        Outcome.FAILED,
        "DRS.M00304",
        "status does not allow this operation",
    )


async def test_missing_unknown_and_foreign_entries() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            202,
            json={
                "results": [
                    {"id": "not-sent-by-us", "status": "success"},
                    {"id": "j1", "status": "running"},
                    {"id": "j2", "status": "Success"},
                    {"id": "j3", "status": "success"},
                    {"id": "j3", "status": "failed"},
                ]
            },
        )

    async with drs_client(Recorder(answer)) as client:
        report = await client.batch_start(["j0", "j1", "j2", "j3"])

    assert [(r.job_id, r.outcome) for r in report.results] == [
        ("j0", Outcome.UNKNOWN),  # sent, not answered: never success
        ("j1", Outcome.UNKNOWN),  # a status we cannot interpret
        ("j2", Outcome.SUCCESS),
        ("j3", Outcome.UNKNOWN),  # contradicting entries
    ]
    assert "did not mention" in (report.results[0].error_msg or "")
    assert report.calls[0].failure is None


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(202, content=b"<html>gateway</html>"),
        httpx.Response(202, json=["not", "an", "object"]),
        httpx.Response(202, json={"count": 1}),
        httpx.Response(202, json={"results": "nope"}),
        httpx.Response(202, json={"results": [1, 2]}),
    ],
)
async def test_unreadable_2xx_makes_the_chunk_unknown_and_is_not_resent(
    answer: httpx.Response,
) -> None:
    rec = Recorder(lambda request: answer)
    async with drs_client(rec) as client:
        report = await client.batch_start([JOB_A, JOB_B])
    assert len(rec.requests) == 1
    assert {r.outcome for r in report.results} == {Outcome.UNKNOWN}
    (failure,) = report.failures
    assert failure.kind is CallFailureKind.PROTOCOL
    assert failure.maybe_processed is True
    assert report.calls[0].http_status == 202


# -- whole-call failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind", "outcome", "processed"),
    [
        (400, "DRS.M00201", CallFailureKind.BAD_REQUEST, Outcome.FAILED, False),
        (404, "APIGW.0101", CallFailureKind.BAD_REQUEST, Outcome.FAILED, False),
        (413, "APIGW.0201", CallFailureKind.BAD_REQUEST, Outcome.FAILED, False),
        (401, "APIGW.0301", CallFailureKind.AUTH, Outcome.FAILED, False),
        (403, "DRS.M00102", CallFailureKind.AUTH, Outcome.FAILED, False),
        (500, "DRS.M00004", CallFailureKind.SERVER, Outcome.UNKNOWN, True),
        (502, "APIGW.0201", CallFailureKind.SERVER, Outcome.UNKNOWN, True),
        (503, "APIGW.0201", CallFailureKind.SERVER, Outcome.UNKNOWN, True),
    ],
)
async def test_http_failure_mapping(
    status: int, code: str, kind: CallFailureKind, outcome: Outcome, processed: bool
) -> None:
    rec = Recorder(lambda request: error(status, code, "the message"))
    async with drs_client(rec, sleep=Sleeps()) as client:
        report = await client.batch_start([JOB_A, JOB_B])

    assert len(rec.requests) == 1  # none of these is ever re-sent
    for result in report.results:
        assert (result.outcome, result.error_code, result.error_msg) == (
            outcome,
            code,
            "the message",
        )
    (call,) = report.calls
    assert (call.http_status, call.request_id) == (status, f"req-{status}")
    assert call.failure is not None
    assert call.failure.kind is kind
    assert call.failure.maybe_processed is processed
    assert call.failure.error_code == code
    assert f"req-{status}" in call.failure.message


def raising(exc_type: type[httpx.HTTPError]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if issubclass(exc_type, httpx.RequestError):
            raise exc_type("boom", request=request)
        raise exc_type("boom")

    return handler


@pytest.mark.parametrize(
    ("exc_type", "kind", "outcome"),
    [
        (httpx.ConnectError, CallFailureKind.TRANSPORT, Outcome.FAILED),
        (httpx.ConnectTimeout, CallFailureKind.TRANSPORT, Outcome.FAILED),
        (httpx.PoolTimeout, CallFailureKind.TRANSPORT, Outcome.FAILED),
        (httpx.ReadTimeout, CallFailureKind.TIMEOUT, Outcome.UNKNOWN),
        (httpx.WriteTimeout, CallFailureKind.TIMEOUT, Outcome.UNKNOWN),
        (httpx.ReadError, CallFailureKind.TRANSPORT, Outcome.UNKNOWN),
        (httpx.RemoteProtocolError, CallFailureKind.TRANSPORT, Outcome.UNKNOWN),
        (httpx.DecodingError, CallFailureKind.PROTOCOL, Outcome.UNKNOWN),
    ],
)
async def test_transport_failure_mapping(
    exc_type: type[httpx.HTTPError], kind: CallFailureKind, outcome: Outcome
) -> None:
    rec = Recorder(raising(exc_type))
    async with drs_client(rec, sleep=Sleeps()) as client:
        report = await client.batch_start([JOB_A, JOB_B])

    assert len(rec.requests) == 1
    assert {r.outcome for r in report.results} == {outcome}
    (failure,) = report.failures
    assert failure.kind is kind
    assert failure.maybe_processed is (outcome is Outcome.UNKNOWN)
    assert report.calls[0].http_status is None


async def test_an_unexpected_exception_leaves_its_chunk_unknown_and_others_intact() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "boom" in sent_ids(request):
            raise RuntimeError("a bug below us")
        return start_ok(request)

    async with drs_client(Recorder(answer), chunk_size=1) as client:
        report = await client.batch_start(["a", "boom", "c"])
    assert [r.outcome for r in report.results] == [
        Outcome.SUCCESS,
        Outcome.UNKNOWN,
        Outcome.SUCCESS,
    ]
    assert report.failures[0].maybe_processed is True


# -- throttling ----------------------------------------------------------------------------


async def test_throttled_call_is_retried_after_retry_after() -> None:
    answers = iter(
        [
            error(429, "APIGW.0308", "policy user over ratelimit", **{"Retry-After": "3"}),
            error(429, "APIGW.0308", "policy user over ratelimit"),
            error(429, "APIGW.0308", "over", **{"Retry-After": "600"}),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or start_ok(request)

    sleeps = Sleeps()
    rec = Recorder(answer)
    async with drs_client(rec, sleep=sleeps, max_retry_after=10.0) as client:
        report = await client.batch_start([JOB_A])

    assert sleeps.pauses == [3.0, 2.0, 10.0]  # honoured, default, capped
    assert len(rec.requests) == 4
    assert report.results[0].outcome is Outcome.SUCCESS
    assert [c.http_status for c in report.calls] == [429, 429, 429, 202]
    assert report.failures == ()
    # each attempt carries exactly one valid signature
    assert all(len(r.headers.get_list("Authorization")) == 1 for r in rec.requests)
    assert all(sdk_signature_matches(r) for r in rec.requests)


async def test_a_timeout_after_a_throttled_attempt_has_no_status_of_its_own() -> None:
    answers = iter([error(429, "APIGW.0308", "over")])

    def answer(request: httpx.Request) -> httpx.Response:
        if (throttled := next(answers, None)) is not None:
            return throttled
        raise httpx.ReadTimeout("slow", request=request)

    async with drs_client(Recorder(answer), sleep=Sleeps()) as client:
        report = await client.batch_start([JOB_A])
    assert [(c.http_status, c.request_id) for c in report.calls] == [(429, "req-429"), (None, None)]
    assert report.results[0].outcome is Outcome.UNKNOWN
    assert report.failures[0].kind is CallFailureKind.TIMEOUT


async def test_throttling_beyond_the_retry_limit_fails_the_chunk() -> None:
    sleeps = Sleeps()
    rec = Recorder(lambda request: error(429, "APIGW.0308", "over", **{"Retry-After": "1.5"}))
    async with drs_client(rec, sleep=sleeps, max_throttle_retries=2) as client:
        report = await client.batch_start([JOB_A, JOB_B])

    assert sleeps.pauses == [1.5, 1.5]
    assert len(rec.requests) == 3
    assert {r.outcome for r in report.results} == {Outcome.FAILED}
    assert report.results[0].error_code == "APIGW.0308"
    (failure,) = report.failures
    assert failure.kind is CallFailureKind.THROTTLED
    assert failure.maybe_processed is False


async def test_http_date_retry_after_and_garbage_fall_back_sensibly() -> None:
    answers = iter(
        [
            error(429, "APIGW.0308", "x", **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            error(429, "APIGW.0308", "x", **{"Retry-After": "soon"}),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or start_ok(request)

    sleeps = Sleeps()
    async with drs_client(Recorder(answer), sleep=sleeps) as client:
        await client.batch_start([JOB_A])
    assert sleeps.pauses == [0.0, 2.0]  # a date in the past: no wait; unparseable: default


# -- authentication failures ---------------------------------------------------------------


async def test_signature_failure_is_not_retried_and_stops_further_chunks() -> None:
    rec = Recorder(lambda request: error(401, "APIGW.0301", "verify aksk signature fail"))
    async with drs_client(rec, chunk_size=1, concurrency=1, sleep=Sleeps()) as client:
        report = await client.batch_start(["a", "b", "c"])

    assert len(rec.requests) == 1
    assert {r.outcome for r in report.results} == {Outcome.FAILED}
    assert {r.error_code for r in report.results} == {"APIGW.0301"}
    first, *skipped = report.calls
    assert first.http_status == 401
    assert len(skipped) == 2
    for call in skipped:
        assert call.http_status is None
        assert call.failure is not None
        assert call.failure.kind is CallFailureKind.AUTH
        assert call.failure.message.startswith("not sent")
    assert "AK/SK" in report.failures[0].message


class TokenIam:
    def __init__(self) -> None:
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(
            201,
            json={"token": {"expires_at": "2999-01-01T00:00:00Z"}},
            headers={"X-Subject-Token": f"token-{self.fetches}"},
        )


def iam_auth(http: httpx.AsyncClient) -> IamTokenAuth:
    return IamTokenAuth(
        http=http,
        iam_endpoint="https://iam.example",
        user="u",
        password=Secret("pw-secret-xyz"),
        domain="d",
        project_id=PROJECT,
    )


async def test_expired_token_is_renewed_once_and_the_call_retried() -> None:
    iam = TokenIam()
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            return iam(request)
        token = request.headers["X-Auth-Token"]
        seen.append(token)
        if token == "token-1":
            return error(401, "APIGW.0307", "The token must be updated.")
        return start_ok(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DrsClient(
            http=http, endpoint="https://drs.example", project_id=PROJECT, auth=iam_auth(http)
        )
        report = await client.batch_start([JOB_A])

    assert seen == ["token-1", "token-2"]
    assert iam.fetches == 2
    assert report.results[0].outcome is Outcome.SUCCESS
    assert [c.http_status for c in report.calls] == [401, 202]
    assert report.failures == ()


async def test_a_token_refused_again_after_renewal_is_not_retried_twice() -> None:
    iam = TokenIam()
    drs_posts: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            return iam(request)
        drs_posts.append(request)
        return error(401, "APIGW.0301", "Incorrect IAM authentication information: token expires")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DrsClient(
            http=http, endpoint="https://drs.example", project_id=PROJECT, auth=iam_auth(http)
        )
        report = await client.batch_start([JOB_A])
        with pytest.raises(DrsAuthError):
            await client.batch_status([JOB_A])

    assert len(drs_posts) == 2 + 2
    assert report.results[0].outcome is Outcome.FAILED
    assert report.failures[0].kind is CallFailureKind.AUTH


async def test_a_token_that_cannot_be_renewed_fails_the_chunk_and_keeps_the_401() -> None:
    iam = TokenIam()
    drs_posts: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            if iam.fetches:
                return httpx.Response(401, json={"error": {"code": 401, "message": "locked"}})
            return iam(request)
        drs_posts.append(request)
        return error(401, "APIGW.0307", "The token must be updated.")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DrsClient(
            http=http, endpoint="https://drs.example", project_id=PROJECT, auth=iam_auth(http)
        )
        report = await client.batch_start([JOB_A])

    assert len(drs_posts) == 1
    assert report.results[0].outcome is Outcome.FAILED
    assert [c.http_status for c in report.calls] == [401, None]
    assert report.calls[0].failure is None
    (failure,) = report.failures
    assert failure.kind is CallFailureKind.AUTH
    assert "IAM refused" in failure.message


async def test_a_timeout_after_renewal_is_unknown_and_keeps_the_401() -> None:
    iam = TokenIam()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            return iam(request)
        if request.headers["X-Auth-Token"] == "token-1":
            return error(401, "APIGW.0307", "The token must be updated.")
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DrsClient(
            http=http, endpoint="https://drs.example", project_id=PROJECT, auth=iam_auth(http)
        )
        report = await client.batch_start([JOB_A])

    assert report.results[0].outcome is Outcome.UNKNOWN
    assert [c.http_status for c in report.calls] == [401, None]
    assert report.failures[0].kind is CallFailureKind.TIMEOUT


async def test_a_token_is_renewed_at_most_once_per_call_even_across_throttling() -> None:
    iam = TokenIam()
    answers = iter(
        [
            error(401, "APIGW.0307", "The token must be updated."),
            error(429, "APIGW.0308", "over", **{"Retry-After": "0"}),
            error(401, "APIGW.0307", "The token must be updated."),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            return iam(request)
        return next(answers, None) or start_ok(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DrsClient(
            http=http,
            endpoint="https://drs.example",
            project_id=PROJECT,
            auth=iam_auth(http),
            sleep=Sleeps(),
        )
        report = await client.batch_start([JOB_A])
        assert [c.http_status for c in report.calls] == [401, 429, 401]
        assert report.results[0].outcome is Outcome.FAILED
        assert report.failures[0].kind is CallFailureKind.AUTH
        assert iam.fetches == 2
        # the next call may renew again
        assert (await client.batch_start([JOB_B])).results[0].outcome is Outcome.SUCCESS


async def test_iam_failure_fails_the_batch_without_sending_it() -> None:
    drs_posts: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            return httpx.Response(401, json={"error": {"code": 401, "message": "wrong password"}})
        drs_posts.append(request)
        return start_ok(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = DrsClient(
            http=http,
            endpoint="https://drs.example",
            project_id=PROJECT,
            auth=iam_auth(http),
            chunk_size=1,
        )
        report = await client.batch_start(["a", "b", "c"])
    assert drs_posts == []
    assert {r.outcome for r in report.results} == {Outcome.FAILED}
    assert all(c.http_status is None for c in report.calls)
    assert "IAM refused" in report.failures[0].message


# -- queries -------------------------------------------------------------------------------


def status_answer(request: httpx.Request) -> httpx.Response:
    results = []
    for job_id in body_of(request)["jobs"]:
        if job_id.startswith("gone"):
            results.append(
                {"id": job_id, "error_code": "DRS.M05003", "error_message": "task not found"}
            )
        else:
            results.append({"id": job_id, "status": "CONFIGURATION"})
    return httpx.Response(200, json={"results": results, "count": len(results)})


async def test_batch_status_wire_format_order_and_unknown_jobs() -> None:
    rec = Recorder(status_answer)
    ids = [*job_ids(150), "gone-1", "job-00003"]
    async with drs_client(rec) as client:
        infos = await client.batch_status(ids)

    assert [i.job_id for i in infos] == ids
    assert len(rec.requests) == 2  # 151 distinct ids, 100 per page
    first = body_of(rec.requests[0])
    assert first["page_req"] == {"cur_page": 1, "per_page": 100}
    assert len(first["jobs"]) == 100
    assert all(r.url.path == f"/v3/{PROJECT}/jobs/batch-status" for r in rec.requests)
    gone = infos[150]
    assert (gone.status, gone.error_code, gone.error_msg) == (None, "DRS.M05003", "task not found")
    assert infos[0].status == "CONFIGURATION"


async def test_batch_status_marks_jobs_missing_from_the_answer() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"results": [{"id": "x", "status": "STARTJOBING"}]})

    async with drs_client(Recorder(answer)) as client:
        x, y = await client.batch_status(["x", "y"])
    assert x.status == "STARTJOBING"
    assert (y.status, y.extra) == (None, {"answer": "missing"})


async def test_batch_detail_maps_name_prepaid_engine_and_use_type() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "count": 3,
                "results": [
                    {
                        "id": "p",
                        "name": "orders-sync",
                        "status": "CONFIGURATION",
                        "db_use_type": "sync",
                        "source_endpoint": {"db_type": "mysql"},
                        "period_order": {"order_id": "CS123", "charging_mode": 1},
                        "create_time": "1700000000000",
                    },
                    {
                        "id": "o",
                        "name": "on-demand",
                        "status": "FULL_TRANSFER_STARTED",
                        "period_order": {},
                        "engine_type": "postgresql",
                    },
                    {"id": "g", "error_code": "DRS.10000010", "error_message": "job not exist"},
                ],
            },
        )

    rec = Recorder(answer)
    async with drs_client(rec) as client:
        p, o, g = await client.batch_detail(["p", "o", "g"])
    assert rec.requests[0].url.path == f"/v3/{PROJECT}/jobs/batch-detail"
    assert (p.name, p.status, p.prepaid, p.engine_type, p.db_use_type) == (
        "orders-sync",
        "CONFIGURATION",
        True,
        "mysql",
        "sync",
    )
    assert p.extra["create_time"] == "1700000000000"
    assert (o.prepaid, o.engine_type) == (False, "postgresql")
    assert (g.status, g.error_code, g.error_msg) == (None, "DRS.10000010", "job not exist")


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [
        (lambda r: error(500, "DRS.M00004", "service error"), DrsServerError),
        (lambda r: error(400, "DRS.M00007", "bad"), DrsBadRequestError),
        (lambda r: error(403, "APIGW.0302", "not authorized"), DrsAuthError),
        (lambda r: error(429, "APIGW.0308", "over"), DrsThrottledError),
        (lambda r: httpx.Response(200, content=b"{"), DrsProtocolError),
        (lambda r: httpx.Response(200, json={"count": 0}), DrsProtocolError),
        (lambda r: httpx.Response(302, headers={"Location": "/x"}), DrsProtocolError),
        (raising(httpx.ReadTimeout), DrsTimeoutError),
        (raising(httpx.ConnectError), DrsTransportError),
    ],
)
async def test_queries_raise_typed_errors(handler: Any, error_type: type[DrsError]) -> None:
    async with drs_client(Recorder(handler), sleep=Sleeps(), max_throttle_retries=1) as client:
        with pytest.raises(error_type) as caught:
            await client.batch_status(["x"])
        with pytest.raises(error_type):
            await client.batch_detail(["x"])
        with pytest.raises(error_type):
            await client.list_jobs()
    assert not isinstance(caught.value, httpx.HTTPError)
    assert caught.value.failure.kind is error_type.kind
    if error_type in (DrsTimeoutError, DrsTransportError):
        assert isinstance(caught.value.__cause__, httpx.TransportError)


def list_answer(total: int) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        start = (body["cur_page"] - 1) * body["per_page"]
        jobs = [
            {
                "id": f"L{i:04d}",
                "name": f"n{i}",
                "status": "CONFIGURATION",
                "engine_type": "mysql",
                "db_use_type": body["db_use_type"],
            }
            for i in range(start, min(start + body["per_page"], total))
        ]
        return httpx.Response(200, json={"total_record": total, "jobs": jobs})

    return answer


async def test_list_jobs_pages_until_total_record() -> None:
    rec = Recorder(list_answer(250))
    async with drs_client(rec) as client:
        jobs = await client.list_jobs(db_use_type="sync", name="orders", status="CONFIGURATION")

    assert [j.job_id for j in jobs] == [f"L{i:04d}" for i in range(250)]
    assert [body_of(r)["cur_page"] for r in rec.requests] == [1, 2, 3]
    assert body_of(rec.requests[0]) == {
        "cur_page": 1,
        "per_page": 100,
        "db_use_type": "sync",
        "name": "orders",
        "status": "CONFIGURATION",
    }
    assert rec.requests[0].url.path == f"/v3/{PROJECT}/jobs"
    assert (jobs[0].name, jobs[0].engine_type, jobs[0].db_use_type) == ("n0", "mysql", "sync")


async def test_list_jobs_stops_at_limit_and_on_an_empty_page() -> None:
    rec = Recorder(list_answer(250))
    async with drs_client(rec) as client:
        assert len(await client.list_jobs(limit=120)) == 120
        assert await client.list_jobs(limit=0) == []
    assert len(rec.requests) == 2
    assert "name" not in body_of(rec.requests[0])

    # a total that overstates what DRS actually returns must not loop forever
    liar = Recorder(lambda r: httpx.Response(200, json={"total_record": 999, "jobs": []}))
    async with drs_client(liar) as client:
        assert await client.list_jobs() == []
    assert len(liar.requests) == 1


async def test_one_log_line_per_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.drs")
    answers = iter([error(429, "APIGW.0308", "over")])

    def answer(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or start_ok(request)

    async with drs_client(Recorder(answer), sleep=Sleeps()) as client:
        await client.batch_start([JOB_A, JOB_B])
    calls = [r.getMessage() for r in caplog.records if r.getMessage().startswith("drs ")]
    calls = [m for m in calls if "jobs=" in m]
    assert len(calls) == 2
    assert "batch-starting jobs=2 status=429 request_id=req-429" in calls[0]
    assert "error=APIGW.0308" in calls[0]
    assert "batch-starting jobs=2 status=202 request_id=req-ok duration=" in calls[1]


# -- secrets -------------------------------------------------------------------------------


async def test_no_secret_in_errors_reports_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [AK_TEXT, SK_TEXT, "pw-secret-xyz", "token-1"]
    texts: list[str] = []

    failing = [
        lambda r: error(401, "APIGW.0301", "verify aksk signature fail"),
        lambda r: error(500, "DRS.M00004", "service error"),
        raising(httpx.ReadTimeout),
        raising(httpx.ConnectError),
        lambda r: httpx.Response(202, content=b"garbage"),
    ]
    for handler in failing:
        async with drs_client(Recorder(handler), sleep=Sleeps()) as client:
            report = await client.batch_start([JOB_A])
            texts += [repr(report), str(report)]
            with pytest.raises(DrsError) as caught:
                await client.batch_status([JOB_A])
            texts += [str(caught.value), repr(caught.value), repr(caught.value.failure)]

    def with_iam(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            return TokenIam()(request)
        return error(401, "APIGW.0307", "The token must be updated.")

    async with httpx.AsyncClient(transport=httpx.MockTransport(with_iam)) as http:
        auth = iam_auth(http)
        client = DrsClient(http=http, endpoint="https://drs.example", project_id=PROJECT, auth=auth)
        report = await client.batch_start([JOB_A])
        texts += [repr(report), repr(auth), repr(client)]

    texts.append(caplog.text)
    texts += [str(record.__dict__) for record in caplog.records]
    assert caplog.records, "the client logs its calls"
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_concurrent_chunks_share_one_token_fetch() -> None:
    iam = TokenIam()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "iam.example":
            await asyncio.sleep(0.01)  # keep the fetch in flight while the chunks pile up
            return iam(request)
        assert request.headers["X-Auth-Token"] == "token-1"
        assert "Authorization" not in request.headers
        return start_ok(request)

    rec = Recorder(answer)
    async with httpx.AsyncClient(transport=httpx.MockTransport(rec)) as http:
        client = DrsClient(
            http=http,
            endpoint="https://drs.example",
            project_id=PROJECT,
            auth=iam_auth(http),
            chunk_size=10,
            concurrency=4,
        )
        report = await client.batch_start(job_ids(80))
    assert iam.fetches == 1
    assert {r.outcome for r in report.results} == {Outcome.SUCCESS}

"""AK/SK signing of outgoing requests and the cached, shared IAM token, as httpx.Auth flows
driven by an httpx client over MockTransport."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from drs_client_support import AK_TEXT, PROJECT, SK_TEXT, aksk, sdk_signature_matches

from bot.core.model import CallFailureKind
from bot.core.secret import Secret
from bot.drs.auth import TOKEN_HEADER, IamTokenAuth
from bot.drs.errors import DrsAuthError

IAM = "https://iam.cn-north-4.myhuaweicloud.com"
PASSWORD_TEXT = "pw-Very-Secret-123!"
TOKEN_TEXT = "MIIEXAMPLETOKEN-abcdefghijklmnopqrstuvwxyz"


class Seen:
    """MockTransport handler: keeps each request as it arrived, answers from a list."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else httpx.Response(200, json={})


async def test_aksk_flow_adds_project_and_signature_the_sdk_accepts() -> None:
    seen = Seen()
    async with httpx.AsyncClient(transport=httpx.MockTransport(seen)) as http:
        request = http.build_request(
            "POST",
            "https://drs.cn-north-4.myhuaweicloud.com/v3/p/jobs/batch-starting",
            content=b'{"jobs":[]}',
            headers={"Content-Type": "application/json", "X-Language": "en-us"},
        )
        await http.send(request, auth=aksk())
        # the same request sent again is signed afresh: its auth headers replaced, not stacked
        await http.send(request, auth=aksk())

    assert len(seen.requests) == 2
    sent = seen.requests[1]
    assert sent.headers["X-Project-Id"] == PROJECT
    assert sent.headers["X-Sdk-Date"] == "20240506T070809Z"
    assert len(sent.headers.get_list("Authorization")) == 1
    assert len(sent.headers.get_list("X-Sdk-Date")) == 1
    auth = sent.headers["Authorization"]
    assert "SignedHeaders=content-type;host;x-language;x-project-id;x-sdk-date," in auth
    assert sdk_signature_matches(sent)


def test_aksk_signs_for_a_sync_client_too() -> None:
    seen = Seen()
    with httpx.Client(transport=httpx.MockTransport(seen)) as http:
        http.post("https://drs.example/v3/p/jobs", content=b"{}", auth=aksk())
    assert sdk_signature_matches(seen.requests[0])


def test_aksk_refuses_empty_credentials_and_hides_them_in_repr() -> None:
    with pytest.raises(ValueError, match="AK and SK"):
        type(aksk())(Secret(""), Secret("x"), PROJECT)
    text = repr(aksk())
    assert AK_TEXT not in text
    assert SK_TEXT not in text


async def test_aksk_sends_once_whatever_the_answer() -> None:
    refused = httpx.Response(401, json={"error_code": "APIGW.0301", "error_msg": "token expires"})
    seen = Seen(refused)
    async with httpx.AsyncClient(transport=httpx.MockTransport(seen)) as http:
        answer = await http.post("https://drs.example/x", content=b"{}", auth=aksk())
    assert answer.status_code == 401
    assert answer.history == []
    assert len(seen.requests) == 1


class Iam:
    """A loopback-free IAM: answers token requests from a MockTransport."""

    def __init__(self, *, lifetime: float = 86400.0, now: float = 1_000_000.0) -> None:
        self.now = now
        self.lifetime = lifetime
        self.calls: list[httpx.Request] = []
        self.gate: asyncio.Event | None = None
        self.answer: httpx.Response | None = None

    def clock(self) -> float:
        return self.now

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.gate is not None:
            await self.gate.wait()
        if self.answer is not None:
            return self.answer
        expires = datetime.fromtimestamp(self.now + self.lifetime, UTC)
        return httpx.Response(
            201,
            json={"token": {"expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}},
            headers={"X-Subject-Token": f"{TOKEN_TEXT}-{len(self.calls)}"},
        )

    def auth(self, http: httpx.AsyncClient, **kwargs: float) -> IamTokenAuth:
        return IamTokenAuth(
            http=http,
            iam_endpoint=IAM + "/",
            user="ops-bot",
            password=Secret(PASSWORD_TEXT),
            domain="acme",
            project_id=PROJECT,
            clock=self.clock,
            **kwargs,
        )


async def test_token_request_is_the_scoped_password_call() -> None:
    iam = Iam()
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        token = await iam.auth(http).token()

    assert token.reveal() == f"{TOKEN_TEXT}-1"
    (call,) = iam.calls
    assert call.method == "POST"
    assert str(call.url) == IAM + "/v3/auth/tokens?nocatalog=true"
    assert call.headers["Content-Type"] == "application/json"
    assert json.loads(call.content) == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "ops-bot",
                        "password": PASSWORD_TEXT,
                        "domain": {"name": "acme"},
                    }
                },
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }


async def test_token_is_cached_then_refreshed_margin_seconds_before_expiry() -> None:
    iam = Iam(lifetime=3600)
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        auth = iam.auth(http, refresh_margin=600)
        flow = auth.async_auth_flow(http.build_request("POST", "https://drs.example/x"))
        sent = await flow.__anext__()
        await flow.aclose()
        assert sent.headers["X-Auth-Token"] == f"{TOKEN_TEXT}-1"
        iam.now += 2999  # 601 s before expiry: still cached
        assert (await auth.token()).reveal() == f"{TOKEN_TEXT}-1"
        iam.now += 2  # 599 s before expiry: refreshed
        assert (await auth.token()).reveal() == f"{TOKEN_TEXT}-2"
    assert len(iam.calls) == 2


async def test_short_lived_token_is_kept_for_half_its_life() -> None:
    iam = Iam(lifetime=100)
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        auth = iam.auth(http, refresh_margin=600)
        await auth.token()
        iam.now += 49
        await auth.token()
        assert len(iam.calls) == 1
        iam.now += 2
        await auth.token()
    assert len(iam.calls) == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    iam = Iam()
    iam.gate = asyncio.Event()
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        auth = iam.auth(http)
        waiters = [asyncio.create_task(auth.token()) for _ in range(20)]
        await asyncio.sleep(0.01)
        iam.gate.set()
        tokens = await asyncio.gather(*waiters)
    assert len(iam.calls) == 1
    assert {t.reveal() for t in tokens} == {f"{TOKEN_TEXT}-1"}


async def test_concurrent_callers_share_one_failure_and_a_later_call_retries() -> None:
    iam = Iam()
    iam.gate = asyncio.Event()
    iam.answer = httpx.Response(
        401, json={"error": {"code": 401, "message": "The username or password is wrong."}}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        auth = iam.auth(http)
        waiters = [asyncio.create_task(auth.token()) for _ in range(5)]
        await asyncio.sleep(0.01)
        iam.gate.set()
        outcomes = await asyncio.gather(*waiters, return_exceptions=True)
        assert len(iam.calls) == 1
        assert all(isinstance(o, DrsAuthError) for o in outcomes)
        iam.answer = None
        assert (await auth.token()).reveal() == f"{TOKEN_TEXT}-2"


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    iam = Iam()
    iam.gate = asyncio.Event()
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        auth = iam.auth(http)
        quitter = asyncio.create_task(auth.token())
        stayer = asyncio.create_task(auth.token())
        await asyncio.sleep(0.01)
        quitter.cancel()
        iam.gate.set()
        assert (await stayer).reveal() == f"{TOKEN_TEXT}-1"
    assert len(iam.calls) == 1


async def test_invalidate_forces_a_new_token() -> None:
    iam = Iam()
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        auth = iam.auth(http)
        await auth.token()
        await auth.invalidate()
        assert (await auth.token()).reveal() == f"{TOKEN_TEXT}-2"


EXPIRED = {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}


class Drs:
    """A MockTransport handler for DRS behind ``iam``: answers each call from ``answers``."""

    def __init__(self, iam: Iam, *answers: httpx.Response) -> None:
        self.iam = iam
        self.answers = list(answers)
        self.tokens: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/auth/tokens":
            return await self.iam(request)
        self.tokens.append(request.headers[TOKEN_HEADER])
        return self.answers.pop(0) if self.answers else httpx.Response(200, json={"ok": True})


async def test_token_flow_sends_again_once_with_a_new_token_after_an_expiry() -> None:
    iam = Iam()
    drs = Drs(iam, httpx.Response(401, json=EXPIRED, headers={"X-Request-Id": "r-401"}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(drs)) as http:
        answer = await http.post(IAM + "/v3/p/jobs", content=b"{}", auth=iam.auth(http))
    assert answer.status_code == 200
    assert drs.tokens == [f"{TOKEN_TEXT}-1", f"{TOKEN_TEXT}-2"]
    # the exchange sent again is kept where httpx keeps it, read
    (first,) = answer.history
    assert (first.status_code, first.headers["X-Request-Id"]) == (401, "r-401")
    assert first.json() == EXPIRED


async def test_token_flow_renews_only_once_and_not_for_other_refusals() -> None:
    iam = Iam()
    twice = [httpx.Response(401, json=EXPIRED) for _ in range(3)]
    drs = Drs(iam, *twice)
    async with httpx.AsyncClient(transport=httpx.MockTransport(drs)) as http:
        answer = await http.post(IAM + "/v3/p/jobs", content=b"{}", auth=iam.auth(http))
    assert answer.status_code == 401
    assert len(drs.tokens) == 2
    assert len(iam.calls) == 2

    iam = Iam()
    signature = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"}
    drs = Drs(iam, httpx.Response(401, json=signature), httpx.Response(403, json=EXPIRED))
    async with httpx.AsyncClient(transport=httpx.MockTransport(drs)) as http:
        auth = iam.auth(http)
        for status in (401, 403):
            answer = await http.post(IAM + "/v3/p/jobs", content=b"{}", auth=auth)
            assert (answer.status_code, answer.history) == (status, [])
    assert len(drs.tokens) == 2
    assert len(iam.calls) == 1


async def test_a_token_that_cannot_be_renewed_is_an_auth_error_and_nothing_is_resent() -> None:
    iam = Iam()
    drs = Drs(iam, httpx.Response(401, json=EXPIRED))
    async with httpx.AsyncClient(transport=httpx.MockTransport(drs)) as http:
        auth = iam.auth(http)
        await auth.token()
        iam.answer = httpx.Response(401, json={"error": {"code": 401, "message": "wrong"}})
        with pytest.raises(DrsAuthError, match="IAM refused"):
            await http.post(IAM + "/v3/p/jobs", content=b"{}", auth=auth)
    assert drs.tokens == [f"{TOKEN_TEXT}-1"]


def test_token_flow_needs_an_async_client() -> None:
    iam = Iam()
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as http,
        pytest.raises(TypeError, match="AsyncClient"),
    ):
        http.post(IAM + "/x", auth=iam.auth(httpx.AsyncClient()))


@pytest.mark.parametrize(
    ("status", "body", "expiry"),
    [
        (401, {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}, True),
        (
            401,
            {
                "error_code": "APIGW.0301",
                "error_msg": "Incorrect IAM authentication information: Token expires.",
            },
            True,
        ),
        (401, {"error_code": "APIGW.0301", "error_msg": "verify aksk signature fail"}, False),
        (403, {"error_code": "APIGW.0307", "error_msg": "x"}, False),
        (401, {"error_code": "DRS.M00103", "error_msg": "no permission"}, False),
    ],
)
def test_token_expiry_recognition(status: int, body: dict[str, str], expiry: bool) -> None:
    iam = Iam()
    auth = iam.auth(httpx.AsyncClient())
    assert auth.is_token_expiry(httpx.Response(status, json=body)) is expiry


async def test_iam_refusal_is_an_auth_error_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    iam = Iam()
    iam.answer = httpx.Response(
        401,
        json={"error": {"code": 401, "message": f"bad password {PASSWORD_TEXT}"}},
        headers={"X-Request-Id": "iam-req-1"},
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        with pytest.raises(DrsAuthError) as caught:
            await iam.auth(http).token()
    error = caught.value
    assert error.kind is CallFailureKind.AUTH
    assert error.http_status == 401
    assert error.request_id == "iam-req-1"
    assert "acme" in str(error)
    assert "password" in str(error).lower()
    for text in (str(error), repr(error), error.failure.message, caplog.text):
        assert PASSWORD_TEXT not in text


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, json={"token": {"expires_at": "2030-01-01T00:00:00Z"}}),
        httpx.Response(201, json={"token": {}}, headers={"X-Subject-Token": "t"}),
        httpx.Response(201, content=b"<html>", headers={"X-Subject-Token": "t"}),
    ],
)
async def test_iam_answer_without_token_or_expiry_is_an_auth_error(answer: httpx.Response) -> None:
    iam = Iam()
    iam.answer = answer
    async with httpx.AsyncClient(transport=httpx.MockTransport(iam)) as http:
        with pytest.raises(DrsAuthError, match="without a token"):
            await iam.auth(http).token()


async def test_unreachable_iam_is_an_auth_error_not_an_httpx_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    iam = Iam()
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(DrsAuthError, match="could not reach IAM") as caught:
            await iam.auth(http).token()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_iam_auth_repr_hides_password_and_token() -> None:
    text = repr(Iam().auth(httpx.AsyncClient()))
    assert PASSWORD_TEXT not in text
    assert "ops-bot" in text

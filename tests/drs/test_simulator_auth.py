"""Gateway and IAM behaviour: AK/SK signatures (signed by Huawei's SDK), tokens, projects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from drs_sim_support import (
    JOB_A,
    PID,
    T0,
    FakeClock,
    path,
    query_body,
    running,
    sdk_signed_headers,
    signed_post,
    start_body,
)

from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_SK, DrsSimulator

BODY = json.dumps(start_body(JOB_A)).encode()


def _password_body(
    user: str = "sim-user",
    password: str = "sim-password",  # noqa: S107 (the demo user)
    domain: str = "sim-domain",
    scope: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "password": password, "domain": {"name": domain}}
                },
            },
            "scope": scope if scope is not None else {"project": {"id": PID}},
        }
    }


@pytest.fixture
async def live() -> AsyncIterator[tuple[DrsSimulator, httpx.AsyncClient]]:
    sim = DrsSimulator()  # real clock: the SDK signer stamps real time
    sim.add_job(JOB_A, name="mig-orders")
    async with running(sim) as client:
        yield sim, client


async def test_a_request_signed_by_huaweis_sdk_is_accepted(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    answer = await signed_post(client, path("batch-starting"), BODY)
    assert answer.status_code == 202
    assert answer.json()["results"][0]["status"] == "success"
    call = sim.calls[-1]
    assert (call.auth, call.principal) == ("aksk", DEFAULT_AK)


async def test_a_signed_query_string_is_covered(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    body = json.dumps(query_body(JOB_A)).encode()
    url = f"{sim.url}{path('batch-status')}?lang=en&a=1"
    headers = sdk_signed_headers("POST", url, body)
    ok = await client.post(f"{path('batch-status')}?lang=en&a=1", content=body, headers=headers)
    assert ok.status_code == 200
    changed = await client.post(
        f"{path('batch-status')}?lang=en&a=2", content=body, headers=headers
    )
    assert changed.status_code == 401


@pytest.mark.parametrize(
    ("mangle", "fragment"),
    [
        ("body", "verify aksk signature fail"),
        ("sk", "verify aksk signature fail"),
        ("ak", "ak not found"),
        ("garbage", "verify aksk signature fail"),
        ("unsigned-date", "verify aksk signature fail"),
    ],
)
async def test_bad_signatures_are_refused_and_nothing_happens(
    live: tuple[DrsSimulator, httpx.AsyncClient], mangle: str, fragment: str
) -> None:
    sim, client = live
    url = f"{sim.url}{path('batch-starting')}"
    headers = sdk_signed_headers(
        "POST",
        url,
        BODY,
        sk="wrong" if mangle == "sk" else DEFAULT_SK,
        ak="SOMEONEELSE000000000" if mangle == "ak" else DEFAULT_AK,
    )
    body = BODY
    if mangle == "body":
        body = json.dumps(start_body(JOB_A, start_time="1")).encode()
    if mangle == "garbage":
        headers["Authorization"] = "Bearer abc"
    if mangle == "unsigned-date":
        headers["Authorization"] = headers["Authorization"].replace("x-sdk-date", "x-project-id")
    answer = await client.post(path("batch-starting"), content=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "APIGW.0301"
    assert fragment in answer.json()["error_msg"]
    assert sim.job(JOB_A).status == "CONFIGURATION"
    assert DEFAULT_SK not in answer.text


@pytest.mark.parametrize(("minutes", "status"), [(-20, 401), (-10, 202), (16, 401)])
async def test_sdk_date_skew_over_15_minutes_is_refused(
    live: tuple[DrsSimulator, httpx.AsyncClient], minutes: int, status: int
) -> None:
    _, client = live
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    answer = await signed_post(client, path("batch-starting"), BODY, when=when)
    assert answer.status_code == status


async def test_five_signature_failures_lock_the_ak_for_five_minutes(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    for _ in range(5):
        bad = await signed_post(client, path("batch-starting"), BODY, sk="wrong")
        assert bad.status_code == 401
    locked = await signed_post(client, path("batch-starting"), BODY)
    assert locked.status_code == 401
    assert "reach the limit" in locked.json()["error_msg"]
    sim.advance(301)  # the lock-out follows the advanced clock; X-Sdk-Date does not
    assert (await signed_post(client, path("batch-starting"), BODY)).status_code == 202


async def test_four_failures_then_a_success_reset_the_count(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    _, client = live
    for _ in range(4):
        await signed_post(client, path("batch-status"), BODY, sk="wrong")
    ok_body = json.dumps(query_body(JOB_A)).encode()
    assert (await signed_post(client, path("batch-status"), ok_body)).status_code == 200
    for _ in range(4):
        await signed_post(client, path("batch-status"), BODY, sk="wrong")
    assert (await signed_post(client, path("batch-status"), ok_body)).status_code == 200


async def test_no_credentials_at_all(live: tuple[DrsSimulator, httpx.AsyncClient]) -> None:
    _, client = live
    answer = await client.post(path("batch-starting"), content=BODY)
    assert answer.status_code == 401
    assert answer.json() == {
        "error_code": "APIGW.0301",
        "error_msg": "Incorrect IAM authentication information: x-auth-token not found",
    }


async def test_wrong_project_in_the_path_is_403(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    other = "ffffffffffffffffffffffffffffffff"
    signed = await signed_post(client, path("batch-starting", other), BODY, project_id=other)
    assert signed.status_code == 403
    assert signed.json()["error_code"] == "DRS.M00261"
    token = sim.issue_token().reveal()
    by_token = await client.post(
        path("batch-starting", other), content=BODY, headers={"X-Auth-Token": token}
    )
    assert by_token.status_code == 403
    assert by_token.json()["error_code"] == "DRS.M00261"
    assert sim.job(JOB_A).status == "CONFIGURATION"


async def test_token_issue_and_use() -> None:
    clock = FakeClock()
    sim = DrsSimulator(clock=clock, token_ttl=3600)
    sim.add_job(JOB_A, name="mig-orders")
    async with running(sim) as client:
        issued = await client.post("/v3/auth/tokens", json=_password_body())
        assert issued.status_code == 201
        token = issued.headers["X-Subject-Token"]
        body = issued.json()["token"]
        assert body["issued_at"] == "2023-11-14T22:13:20.000000Z"
        assert body["expires_at"] == "2023-11-14T23:13:20.000000Z"
        assert body["project"]["id"] == PID
        assert body["catalog"][0]["endpoints"][0]["url"] == sim.url
        assert token not in issued.text
        used = await client.post(
            path("batch-starting"), content=BODY, headers={"X-Auth-Token": token}
        )
        assert used.status_code == 202
        clock.t = T0 + 3600
        expired = await client.post(
            path("batch-status"),
            json=query_body(JOB_A),
            headers={"X-Auth-Token": token},
        )
        assert expired.status_code == 401
        assert expired.json()["error_code"] == "APIGW.0307"
        assert "token expires" in expired.json()["error_msg"]
        assert token not in repr(sim.calls)


async def test_token_scoped_by_project_name_without_catalog(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    _, client = live
    issued = await client.post(
        "/v3/auth/tokens",
        params={"nocatalog": "true"},
        json=_password_body(scope={"project": {"name": "cn-north-4"}}),
    )
    assert issued.status_code == 201
    assert "catalog" not in issued.json()["token"]
    assert issued.json()["token"]["project"]["id"] == PID


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_password_body(password="guess"), 401),
        (_password_body(user="mallory"), 401),
        (_password_body(domain="elsewhere"), 401),
        (_password_body(scope={"project": {"id": "ffffffffffffffffffffffffffffffff"}}), 401),
        (_password_body(scope={}), 400),
        ({"auth": {"identity": {"methods": ["token"]}}}, 400),
        ([], 400),
    ],
)
async def test_token_refusals_use_the_iam_error_shape(
    live: tuple[DrsSimulator, httpx.AsyncClient], body: Any, status: int
) -> None:
    _, client = live
    answer = await client.post("/v3/auth/tokens", json=body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == status
    assert error["message"]
    assert "X-Subject-Token" not in answer.headers
    assert "guess" not in answer.text


async def test_wrong_password_message(live: tuple[DrsSimulator, httpx.AsyncClient]) -> None:
    _, client = live
    answer = await client.post("/v3/auth/tokens", json=_password_body(password="guess"))
    assert answer.json()["error"]["message"] == "The username or password is wrong."


async def test_foreign_revoked_and_domain_scoped_tokens(
    live: tuple[DrsSimulator, httpx.AsyncClient],
) -> None:
    sim, client = live
    foreign = await client.post(
        path("batch-starting"), content=BODY, headers={"X-Auth-Token": "MIIforgedtoken"}
    )
    assert (foreign.status_code, foreign.json()["error_code"]) == (401, "APIGW.0301")
    domain = await client.post("/v3/auth/tokens", json=_password_body(scope={"domain": {}}))
    domain_token = domain.headers["X-Subject-Token"]
    denied = await client.post(
        path("batch-starting"), content=BODY, headers={"X-Auth-Token": domain_token}
    )
    assert (denied.status_code, denied.json()["error_code"]) == (403, "APIGW.0306")
    token = sim.issue_token().reveal()
    sim.revoke_tokens()
    revoked = await client.post(
        path("batch-starting"), content=BODY, headers={"X-Auth-Token": token}
    )
    assert (revoked.status_code, revoked.json()["error_code"]) == (401, "APIGW.0307")
    assert sim.job(JOB_A).status == "CONFIGURATION"


def test_secrets_stay_out_of_reprs() -> None:
    sim = DrsSimulator(sk="very-secret-key")
    token = sim.issue_token()
    assert str(token) == "***"
    assert "very-secret-key" not in repr(sim) + repr(vars(sim._api.verifier))
    assert token.reveal() not in repr(sim) + repr(sim._tokens)

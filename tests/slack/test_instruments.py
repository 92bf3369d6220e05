"""Label values stay bounded whatever Slack or DRS sends, and each ack is timed once."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.service.metrics import drs_code_label
from bot.slack.instruments import SlackCalls, TimedAck, request_kind
from bot.slack.metrics import PromMetrics

API = "http://127.0.0.1:9/api/"


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_drs_codes_keep_drs_shape_only() -> None:
    assert drs_code_label("DRS.M00001") == "DRS.M00001"
    assert drs_code_label("APIGW.0308") == "APIGW.0308"
    assert drs_code_label(None) == ""
    assert drs_code_label("x" * 500) == "other"
    assert drs_code_label("DRS.M0001<script>") == "other"


def test_request_kinds_are_a_fixed_set() -> None:
    assert request_kind({"command": "/startjobs"}) == "slash_command"
    assert request_kind({"type": "block_actions"}) == "block_actions"
    assert request_kind({"type": "view_submission"}) == "view_submission"
    assert request_kind({"type": "anything-a-sender-invents"}) == "other"
    assert request_kind("not a payload") == "other"


async def test_slack_calls_are_counted_by_method_with_bounded_errors() -> None:
    metrics = PromMetrics()
    calls = SlackCalls(metrics, API)
    state = RetryState()

    async def exchange(url: str, body: dict[str, object] | None, error: Exception | None) -> bool:
        request = HttpRequest(method="POST", url=url, headers={})
        response = None if body is None else HttpResponse(status_code=200, headers={}, body=body)
        return await calls.can_retry_async(
            state=state, request=request, response=response, error=error
        )

    assert not await exchange(API + "chat.postMessage", {"ok": True}, None)
    assert not await exchange(API + "chat.postMessage", {"ok": False, "error": "ratelimited"}, None)
    assert not await exchange(API + "views.open", None, TimeoutError())
    assert not await exchange(API + "chat.update", {"ok": False, "error": "Bad Error!" * 20}, None)
    assert not await exchange(API + "../../etc/passwd", {"ok": True}, None)
    assert not await exchange("https://files.example/upload/v1/abc", {"ok": True}, None)
    got = samples(await metrics.render())
    assert (
        got[("startjobs_slack_api_calls_total", frozenset({("method", "chat.postMessage")}))] == 2
    )
    errors = {
        dict(labels)["method"]: dict(labels)["error"]
        for (name, labels), _ in got.items()
        if name == "startjobs_slack_api_errors_total"
    }
    assert errors == {
        "chat.postMessage": "ratelimited",
        "views.open": "timeout",
        "chat.update": "other",
    }
    methods = {
        dict(labels)["method"]
        for (name, labels) in got
        if name == "startjobs_slack_api_calls_total"
    }
    assert methods == {"chat.postMessage", "views.open", "chat.update", "other", "upload"}


async def test_an_ack_is_timed_once() -> None:
    metrics = PromMetrics()
    ack = TimedAck(metrics, "block_actions", since=0.0)
    await ack()
    await ack()  # Bolt may call it again: one request, one observation
    assert ack.response is not None and ack.response.status == 200
    got = samples(await metrics.render())
    key = ("startjobs_ack_duration_seconds_count", frozenset({("kind", "block_actions")}))
    assert got[key] == 1

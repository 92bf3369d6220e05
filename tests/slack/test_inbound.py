"""Slack's HTTP requests: read exactly as Bolt reads them, and refused unread when unsigned."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.slack import inbound
from bot.slack.ui import blocks
from tests.e2e.harness import ALICE, CHANNEL, SIGNING_SECRET, Harness
from tests.slack.sample_requests import EVIL, NOW, request

FORM = "application/x-www-form-urlencoded"

# Pieces that trip form decoders: escapes cut short or not hex, bytes that are not UTF-8,
# separators escaped and not, '+' both ways, and text outside ASCII.
PIECES = [*"ab=&+%;#?/ 2Fz8C3é\x00", "%2", "%e2%82%ac", "%C3", "%28", "%FF", "%3D", "%26"]
PIECES += ["%2B", "%20", "%23", "%25", "%u2603", "😀", "%F0%9F%98%80", "%zz"]
forms = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def headers(raw: str, *, content_type: str = FORM, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    verifier = SignatureVerifier(SIGNING_SECRET)
    signature = verifier.generate_signature(timestamp=stamp, body=raw)
    assert signature is not None
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def as_bolt_reads_it(request: AsyncBoltRequest) -> dict[str, Any]:
    return {
        "raw_body": request.raw_body,
        "body": request.body,
        "query": request.query,
        "headers": request.headers,
        "content_type": request.content_type,
        "context": dict(request.context),
        "mode": request.mode,
        "lazy_only": request.lazy_only,
        "lazy_function_name": request.lazy_function_name,
    }


def assert_read_as_bolt_reads(raw: str, *, content_type: str = FORM, query: str = "") -> None:
    sent = headers(raw, content_type=content_type)
    try:
        expected: dict[str, Any] | type[Exception] = as_bolt_reads_it(
            AsyncBoltRequest(body=raw, query=query, headers=sent)  # type: ignore[arg-type]
        )
    except Exception as exc:  # not JSON, or JSON that is not an object: both must refuse it
        expected = type(exc)
    if isinstance(expected, type):
        with pytest.raises(expected):
            inbound.bolt_request(raw, query, sent)
    else:
        assert as_bolt_reads_it(inbound.bolt_request(raw, query, sent)) == expected


def payload_form(payload: object) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


@settings(max_examples=400)
@given(forms)
def test_a_form_is_decoded_as_pythons_own_decoder_decodes_it(raw: str) -> None:
    assert inbound.read_form(raw) == dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))


def test_a_repeated_field_keeps_its_last_value_as_bolt_does() -> None:
    assert inbound.read_form("a=1&b=2&a=3") == {"a": "3", "b": "2"}


def test_real_shaped_payloads_are_read_exactly_as_bolt_reads_them() -> None:
    message = blocks.request_message(request(40, reason=EVIL), now=NOW)
    click = {
        "type": "block_actions",
        "team": {"id": "T0TEAM"},
        "user": {"id": ALICE, "team_id": "T0TEAM"},
        "channel": {"id": CHANNEL},
        "message": {"ts": "1.2", "text": message.text, "blocks": message.blocks},
        "actions": [{"action_id": "approve", "value": "SJ-ABCDEFGH"}],
    }
    submission = {
        "type": "view_submission",
        "team": {"id": "T0TEAM"},
        "user": {"id": ALICE},
        "view": {"id": "V1", "state": {"values": {"b": {"a": {"value": EVIL + " ünï 😀 1+1"}}}}},
        "enterprise": {"id": "E0ORG"},
        "is_enterprise_install": "true",
    }
    slash = urllib.parse.urlencode(
        {"command": "/startjobs", "text": f"prod {EVIL} +%", "team_id": "T0TEAM", "user_id": ALICE}
    )
    for raw in (payload_form(click), payload_form(submission), slash, "ssl_check=1&token=x", ""):
        assert_read_as_bolt_reads(raw, query="a=1&a=2")
    assert_read_as_bolt_reads(json.dumps(click), content_type="application/json")
    assert_read_as_bolt_reads("payload=%7Bnot+json")
    assert_read_as_bolt_reads("payload=%5B1%2C2%5D")  # JSON, but not an object
    assert_read_as_bolt_reads("payload")  # the word, and no field of that name


@settings(max_examples=200)
@given(json_values)
def test_any_json_payload_is_read_as_bolt_reads_it(value: object) -> None:
    assert_read_as_bolt_reads(payload_form(value))
    assert_read_as_bolt_reads(json.dumps(value), content_type="application/json")


@settings(max_examples=200)
@given(forms)
def test_any_form_is_read_as_bolt_reads_it(raw: str) -> None:
    assert_read_as_bolt_reads(raw)


def test_only_bodies_signed_by_slack_within_five_minutes_pass() -> None:
    verifier = SignatureVerifier(SIGNING_SECRET)
    raw = "command=%2Fstartjobs"
    assert inbound.signed(verifier, raw, headers(raw))
    assert not inbound.signed(verifier, raw + "&text=x", headers(raw))
    assert not inbound.signed(verifier, raw, headers(raw, ts=int(time.time()) - 600))
    assert not inbound.signed(verifier, raw, {**headers(raw), "X-Slack-Request-Timestamp": "x"})
    assert not inbound.signed(verifier, raw, {"Content-Type": FORM})


async def test_an_unsigned_body_is_refused_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    real_read_body = inbound.read_body

    def spy(raw: str, content_type: str | None) -> dict[str, Any]:
        read.append(raw[:20])
        return real_read_body(raw, content_type)

    monkeypatch.setattr(inbound, "read_body", spy)
    async with Harness(tmp_path) as h:
        # Close to the size limit, and all escapes: the most work a body can ask of a decoder.
        heavy = ("payload=" + "%7B%22a%22%3A" * 70_000).encode()
        forged = await h.d.raw(heavy, content_type=FORM, signature="v0=" + "0" * 64)
        assert forged.status == 401
        posing = await h.d.raw(b"ssl_check=1&" + heavy, content_type=FORM, signature="v0=0")
        assert posing.status == 401  # too large to be Slack's certificate probe
        assert read == []
        # Slack's certificate probe is Bolt's to answer; a signed request is read once.
        probe = await h.d.raw(b"ssl_check=1&token=x", content_type=FORM, signature="v0=0")
        assert probe.status == 200
        help_text = urllib.parse.urlencode(
            {
                "command": "/startjobs",
                "text": "help",
                "user_id": ALICE,
                "channel_id": CHANNEL,
                "team_id": h.slack.team_id,
                "trigger_id": "1.2.3",
            }
        )
        signed = await h.d.raw(help_text.encode(), content_type=FORM)
        assert signed.status == 200
        assert read == ["ssl_check=1&token=x", help_text[:20]]

"""Slack's HTTP requests: the signature checked on the raw body first, and an unsigned body
refused without Bolt reading it."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.slack import server
from tests.e2e.harness import ALICE, CHANNEL, SIGNING_SECRET, Harness

FORM = "application/x-www-form-urlencoded"


def headers(raw: str, *, ts: int | None = None) -> dict[str, str]:
    stamp = str(ts if ts is not None else int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=raw)
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def test_only_bodies_signed_by_slack_within_five_minutes_pass() -> None:
    verifier = SignatureVerifier(SIGNING_SECRET)
    raw = "command=%2Fstartjobs"
    assert server.signed(verifier, raw, headers(raw))
    assert not server.signed(verifier, raw + "&text=x", headers(raw))
    assert not server.signed(verifier, raw, headers(raw, ts=int(time.time()) - 600))
    assert not server.signed(verifier, raw, {**headers(raw), "X-Slack-Request-Timestamp": "x"})
    assert not server.signed(verifier, raw, {"Content-Type": FORM})


def test_only_a_small_body_can_be_slacks_certificate_probe() -> None:
    assert server.ssl_check("ssl_check=1&token=abc")
    assert not server.ssl_check("ssl_check=0&token=abc")
    assert not server.ssl_check("ssl_check=1&" + "x" * server.SSL_CHECK_MAX)


async def test_an_unsigned_body_is_refused_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []

    def spy(*, body: str, **kwargs: Any) -> AsyncBoltRequest:
        read.append(body[:20])
        return AsyncBoltRequest(body=body, **kwargs)

    monkeypatch.setattr(server, "AsyncBoltRequest", spy)
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
        assert len(read) == 2  # the probe and the signed command, each read once

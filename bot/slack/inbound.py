"""Slack's HTTP requests: the signature checked first, then the body read, then Bolt.

Bolt reads a request's body before it checks the signature, so anyone who can reach the
endpoint could have the bot decode up to a megabyte of form data per request. Here the
signature is checked on the raw body first (:func:`signed`, slack_sdk's verifier, which Bolt
itself uses) and a body it does not vouch for is refused unread; Bolt then checks it again.

Slack posts interactive payloads as a form whose one field is JSON, percent-encoded whole: a
start-form submission is about 10 KB with thousands of escapes. Python's ``parse_qsl``, which
Bolt reads forms with, decodes them one by one in Python; yarl (aiohttp's URL library) has a
compiled decoder that gives the same result several times faster (``bench/form_reading.py``).
:func:`read_body` reads a body exactly as Bolt does, with that decoder, and
:func:`bolt_request` hands Bolt the request read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yarl
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier


def signed(verifier: SignatureVerifier, raw: str, headers: Mapping[str, str]) -> bool:
    """True if Slack signed ``raw`` within the last five minutes (what Bolt accepts)."""
    try:
        return verifier.is_valid_request(raw, headers)
    except ValueError:  # a timestamp that is not a number
        return False


SSL_CHECK_MAX = 512  # Slack's probe is ``ssl_check=1&token=...``: a few dozen bytes


def ssl_check(raw: str) -> bool:
    """Slack's certificate probe for slash commands, which Bolt answers without a signature
    (and without running any listener); a body too large to be one is not read to find out."""
    return len(raw) <= SSL_CHECK_MAX and read_form(raw).get("ssl_check") == "1"


def read_form(raw: str) -> dict[str, str]:
    """``dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))``, decoded by yarl."""
    return dict(yarl.URL.build(query_string=raw, encoded=True).query.items())


def read_body(raw: str, content_type: str | None) -> dict[str, Any]:
    """The payload of a request body, read as Bolt reads it (``parse_body``); raises what
    ``json.loads`` raises on a payload that is not JSON."""
    if not raw:
        return {}
    if content_type == "application/json" or raw.startswith("{"):
        return json.loads(raw)  # type: ignore[no-any-return]
    form = read_form(raw)
    if "payload" not in raw:
        return form
    payload = form.get("payload")
    return json.loads(payload) if payload is not None else {}


def bolt_request(raw: str, query: str, headers: Mapping[str, str]) -> AsyncBoltRequest:
    """The request Bolt would build from ``raw``, its body read by :func:`read_body`."""
    request = AsyncBoltRequest(body="", query=query, headers=headers)  # type: ignore[arg-type]
    request.raw_body = raw
    request.body = read_body(raw, request.content_type)
    request.context = build_async_context(AsyncBoltContext({}), request.body)
    return request

"""Interactive payloads are decoded for Bolt exactly as Bolt decodes them itself."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.server import bolt_body

FORM = {"content-type": ["application/x-www-form-urlencoded"]}


def as_bolt_reads(raw: str) -> Any:
    """The body Bolt makes of ``raw`` when it decodes it itself."""
    return AsyncBoltRequest(body=raw, headers=FORM).body  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_a_payload_reads_as_bolt_reads_it(payload: dict[str, Any]) -> None:
    raw = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
    given_to_bolt = bolt_body(raw)
    assert given_to_bolt.startswith("{")  # decoded here: Bolt only parses the JSON
    assert as_bolt_reads(given_to_bolt) == as_bolt_reads(raw) == payload


def test_values_with_form_escapes_survive() -> None:
    payload = {"type": "view_submission", "text": "a+b %20 & c=d ü 100%", "n": 1}
    raw = urlencode({"payload": json.dumps(payload)})
    assert json.loads(bolt_body(raw)) == payload


def test_other_bodies_reach_bolt_as_they_came() -> None:
    command = urlencode({"command": "/startjobs", "text": "help", "user_id": "U1"})
    two_fields = urlencode({"payload": "{}", "other": "1"})
    not_json = urlencode({"payload": "[1, 2]"})
    for raw in (
        command,
        "ssl_check=1&token=x",
        two_fields,
        not_json,
        '{"type": "event_callback"}',
        "",
        "payload=%zz%",
    ):
        assert bolt_body(raw) == raw

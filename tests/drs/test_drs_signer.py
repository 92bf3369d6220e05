"""The SDK-HMAC-SHA256 signer agrees with huaweicloudsdkcore's Signer."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import pytest
from drs_client_support import AK, AK_TEXT, SK, SK_TEXT
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.secret import Secret
from bot.drs.signer import (
    ALGORITHM,
    canonical_query,
    canonical_uri,
    parse_authorization,
    sign_headers,
    signature_for,
)

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def sdk_authorization(
    method: str,
    host: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
) -> str:
    request = SdkRequest(
        method=method,
        schema="https",
        host=host,
        resource_path=path,
        query_params=list(query),
        header_params=dict(headers),
        body=body,
    )
    Signer(BasicCredentials(AK_TEXT, SK_TEXT)).sign(request)
    value: str = request.header_params["Authorization"]
    return value


def test_seed_request_signature_equals_the_sdk_signature() -> None:
    body = b'{"jobs":[{"job_id":"9a470239-2308-4bb5-a6bc-1040402fjb21"}]}'
    headers = {"Content-Type": "application/json", "X-Language": "en-us", "X-Project-Id": "p1"}
    url = "https://drs.cn-north-4.myhuaweicloud.com/v3/p1/jobs/batch-starting"
    added = sign_headers("POST", url, headers, body, AK, SK, now=NOW)

    assert added["X-Sdk-Date"] == "20240102T030405Z"
    assert added["Host"] == "drs.cn-north-4.myhuaweicloud.com"
    expected = sdk_authorization(
        "POST",
        "drs.cn-north-4.myhuaweicloud.com",
        "/v3/p1/jobs/batch-starting",
        [],
        {**headers, "X-Sdk-Date": added["X-Sdk-Date"], "Host": added["Host"]},
        body,
    )
    assert added["Authorization"] == expected
    assert expected.startswith(
        f"{ALGORITHM} Access={AK_TEXT}, "
        "SignedHeaders=content-type;host;x-language;x-project-id;x-sdk-date, Signature="
    )


segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=12
)
printable = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=20
)
header_name = st.from_regex(r"X-[A-Za-z][A-Za-z0-9_-]{0,10}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    segments=st.lists(segment, min_size=1, max_size=4),
    trailing_slash=st.booleans(),
    query=st.lists(st.tuples(printable.filter(bool), printable), max_size=4),
    extra_headers=st.dictionaries(header_name, printable, max_size=4),
    body=st.binary(max_size=64),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_any_request_signature_equals_the_sdk_signature(
    segments: list[str],
    trailing_slash: bool,
    query: list[tuple[str, str]],
    extra_headers: dict[str, str],
    body: bytes,
    method: str,
) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments) + ("/" if trailing_slash else "")
    # one value per key, as on a real URL built from a mapping
    pairs = list(dict(query).items())
    url = f"https://drs.example.com:8443{path}"
    if pairs:
        url += "?" + urlencode(pairs, quote_via=quote)
    # case-insensitive duplicates would make two different header sets; keep one of each
    unique = {k.lower(): (k, v) for k, v in extra_headers.items()}
    headers = {"Content-Type": "application/json", **dict(unique.values())}
    added = sign_headers(method, url, headers, body, AK, SK, now=NOW)

    sent = {**headers, "X-Sdk-Date": added["X-Sdk-Date"], "Host": added["Host"]}
    expected = sdk_authorization(method, "drs.example.com:8443", path, pairs, sent, body)
    assert added["Authorization"] == expected
    parsed = parse_authorization(added["Authorization"])
    assert parsed is not None
    assert all("_" not in name for name in parsed[1])


def test_signature_for_verifies_and_detects_tampering() -> None:
    url = "http://127.0.0.1:9999/v3/p/jobs/batch-status?b=2&a=1"
    headers = {"Content-Type": "application/json", "X-Project-Id": "p"}
    body = b'{"jobs":["x"]}'
    added = sign_headers("POST", url, headers, body, AK, SK, now=NOW)
    parsed = parse_authorization(added["Authorization"])
    assert parsed is not None
    ak, names, signature = parsed
    received = {**headers, **added}
    args = ("POST", "/v3/p/jobs/batch-status", "a=1&b=2", received, names)

    assert ak == AK_TEXT
    assert signature_for(*args, body, SK, added["X-Sdk-Date"]) == signature
    assert signature_for(*args, b'{"jobs":["y"]}', SK, added["X-Sdk-Date"]) != signature
    assert signature_for(*args, body, Secret("other"), added["X-Sdk-Date"]) != signature
    assert signature_for(*args, body, SK, "20240102T030406Z") != signature


def test_underscore_headers_and_authorization_are_not_signed() -> None:
    headers = {"X_Custom_Thing": "1", "Authorization": "old", "X-Ok": "2"}
    added = sign_headers("GET", "https://h/p", headers, b"", AK, SK, now=NOW)
    parsed = parse_authorization(added["Authorization"])
    assert parsed is not None
    assert parsed[1] == ["host", "x-ok", "x-sdk-date"]


def test_existing_date_and_host_are_kept_and_naive_time_is_utc() -> None:
    kept = sign_headers(
        "GET",
        "https://h/p",
        {"X-Sdk-Date": "20200101T000000Z", "Host": "other"},
        b"",
        AK,
        SK,
        now=NOW,
    )
    assert "X-Sdk-Date" not in kept
    assert "Host" not in kept
    naive = sign_headers("GET", "https://h/p", {}, b"", AK, SK, now=datetime(2024, 1, 2, 3, 4, 5))
    assert naive == sign_headers("GET", "https://h/p", {}, b"", AK, SK, now=NOW)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://h.example.com/p", "h.example.com"),
        ("https://h.example.com:443/p", "h.example.com"),
        ("http://127.0.0.1:80/p", "127.0.0.1"),
        ("http://127.0.0.1:8089/p", "127.0.0.1:8089"),
        ("http://[::1]:8089/p", "[::1]:8089"),
    ],
)
def test_host_header_omits_only_the_default_port(url: str, host: str) -> None:
    assert sign_headers("GET", url, {}, b"", AK, SK, now=NOW)["Host"] == host


def test_canonical_forms() -> None:
    assert canonical_uri("/v3/p/jobs") == "/v3/p/jobs/"
    assert canonical_uri("/v3/p/jobs/") == "/v3/p/jobs/"
    assert canonical_uri("/a b/c%2Fd~") == "/a%20b/c/d~/"
    assert canonical_uri("") == "/"
    assert canonical_query("nocatalog=true") == "nocatalog=true"
    assert canonical_query("b=2&a=x y&a=") == "a=&a=x%20y&b=2"
    assert canonical_query("") == ""


def test_empty_body_hashes_as_empty_and_unsigned_payload_header_is_honoured() -> None:
    headers = {"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD", "Content-Type": "text/plain"}
    names = ["content-type", "x-sdk-content-sha256"]
    date = "20240102T030405Z"
    with_body = signature_for("PUT", "/p", "", headers, names, b"abc", SK, date)
    other_body = signature_for("PUT", "/p", "", headers, names, b"xyz", SK, date)
    assert with_body == other_body  # the declared hash stands in for the body
    assert hashlib.sha256(b"").hexdigest() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Basic abc",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
        "SDK-HMAC-SHA256 Access=AK, Signature=ab",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host",
        "SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature=ab",
    ],
)
def test_parse_authorization_rejects_malformed_values(value: str) -> None:
    assert parse_authorization(value) is None


def test_parse_authorization_reads_the_three_parts() -> None:
    parsed = parse_authorization("SDK-HMAC-SHA256 Access=AK1, SignedHeaders=a;b;c, Signature=ff")
    assert parsed == ("AK1", ["a", "b", "c"], "ff")


def test_secret_key_never_appears_in_the_headers() -> None:
    added = sign_headers("GET", "https://h/p", {}, b"", AK, SK, now=NOW)
    assert all(SK_TEXT not in v for v in added.values())

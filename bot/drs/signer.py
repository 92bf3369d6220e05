"""SDK-HMAC-SHA256 request signing, byte-compatible with Huawei Cloud's API gateway.

The algorithm is the one ``huaweicloudsdkcore``'s ``Signer`` implements (and the gateway
verifies):

1. ``X-Sdk-Date: YYYYMMDDTHHMMSSZ`` (UTC) and ``Host`` are added when absent;
2. canonical request = method, canonical URI (each path segment percent-encoded, always ending
   in ``/``), canonical query (sorted, encoded ``k=v`` joined by ``&``), canonical headers
   (``name:trimmed-value`` lines sorted by lower-case name), the signed header names joined by
   ``;``, and the hex SHA-256 of the body — each separated by a newline;
3. string to sign = ``SDK-HMAC-SHA256``, the X-Sdk-Date value and the hex SHA-256 of the
   canonical request, newline-separated;
4. signature = hex HMAC-SHA256(SK, string to sign), sent as
   ``Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, Signature=<hex>``.

Every header handed to :func:`sign_headers` is signed except names containing ``_`` (the
gateway never sees those unchanged) and ``Authorization`` itself. The SDK also sends and signs
``X-Project-Id``; callers that want the same add it to ``headers`` before signing (``AkSkAuth``
in :mod:`bot.drs.auth` does).

The secret key only ever enters :func:`hmac.new`; nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from bot.core.secret import Secret

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# A client may declare its payload unsigned with this header; the verifier then hashes the
# header's value instead of the body (the SDK does so for non-JSON bodies). We always sign the
# body, but honour the header when recomputing a received request's signature.
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"

_DEFAULT_PORTS = {"http": 80, "https": 443}


def sign_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    ak: Secret,
    sk: Secret,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return the headers to ADD to a request so the gateway accepts its signature.

    The result always holds ``Authorization``; it also holds ``X-Sdk-Date`` unless ``headers``
    already had one (whose value is then used), and ``Host`` (from ``url``, default port
    omitted) unless ``headers`` already had one. ``body`` must be the exact bytes sent.
    ``now`` defaults to the current UTC time; a naive datetime is taken as UTC.
    """
    parts = urlsplit(url)
    lowered = {k.lower(): v for k, v in headers.items()}
    added: dict[str, str] = {}
    sdk_date = lowered.get(DATE_HEADER.lower())
    if sdk_date is None:
        moment = now if now is not None else datetime.now(UTC)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        sdk_date = moment.strftime(DATE_FORMAT)
        added[DATE_HEADER] = sdk_date
    if "host" not in lowered:
        added["Host"] = _host_of(parts.scheme, parts.hostname or "", parts.port)
    all_headers = {**headers, **added}
    names = signable_header_names(all_headers)
    signature = signature_for(
        method, parts.path or "/", parts.query, all_headers, names, body, sk, sdk_date
    )
    added["Authorization"] = (
        f"{ALGORITHM} Access={ak.reveal()}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return added


def signable_header_names(headers: Mapping[str, str]) -> list[str]:
    """The lower-case, sorted, de-duplicated names :func:`sign_headers` signs."""
    return sorted({k.lower() for k in headers if "_" not in k and k.lower() != "authorization"})


def signature_for(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
    sk: Secret,
    sdk_date: str,
) -> str:
    """Recompute the hex signature of a request as the gateway does.

    ``path`` is the raw (possibly percent-encoded) request path and ``query`` the raw query
    string without ``?``. ``headers`` is looked up case-insensitively; a signed header that is
    missing counts as empty, so the signature simply will not match. Compare the result with
    :func:`hmac.compare_digest`.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    names = [n.lower() for n in signed_headers]
    canonical_headers = "".join(f"{n}:{lowered.get(n, '').strip()}\n" for n in names)
    canonical = "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            ";".join(names),
            _payload_hash(body, lowered.get(CONTENT_SHA256_HEADER.lower())),
        )
    )
    string_to_sign = "\n".join(
        (ALGORITHM, sdk_date, hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    )
    return hmac.new(
        sk.reveal().encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def parse_authorization(value: str) -> tuple[str, list[str], str] | None:
    """Split ``'SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex'``.

    Returns ``(ak, signed header names, signature)``, or None when the value is not an
    SDK-HMAC-SHA256 authorization or lacks one of the three parts.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            fields[key.strip()] = val.strip()
    ak = fields.get("Access", "")
    names = [n for n in fields.get("SignedHeaders", "").split(";") if n]
    signature = fields.get("Signature", "")
    if not ak or not names or not signature:
        return None
    return ak, names, signature


def canonical_uri(path: str) -> str:
    """Each segment decoded then re-encoded (only ``~`` and unreserved kept); ends with ``/``."""
    encoded = "/".join(quote(segment, safe="~") for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    """Sorted ``k=v`` pairs, each side percent-encoded, joined by ``&`` (empty when no query)."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def _payload_hash(body: bytes, declared: str | None) -> str:
    if body and declared:
        return declared
    return hashlib.sha256(body).hexdigest()


def _host_of(scheme: str, hostname: str, port: int | None) -> str:
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return hostname
    return f"{hostname}:{port}"

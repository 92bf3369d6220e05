"""Lists of job IDs uploaded in the start modal: downloaded from Slack, then read.

A ``file_input`` reports each file with its ``url_private_download``; the bytes come from Slack
with the bot token (scope ``files:read``). The token is only ever sent to Slack's own hosts —
the API host of the configured base URL and its ``files.`` sibling (``slack.com`` and
``files.slack.com``) — over HTTPS (plain HTTP only on loopback, for the local fake), and never
across a redirect. At most ``max_bytes`` are read; what is read goes through
:func:`bot.core.idfile.parse_id_file`, whose messages name the wrong lines.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.idfile import MAX_FILE_BYTES, parse_id_file
from bot.core.secret import Secret
from bot.core.selection import merge_ids
from bot.slack.ui.forms import FileRef

log = logging.getLogger(__name__)

DOWNLOAD_SECONDS = 5.0


class UploadError(Exception):
    """A file that could not be fetched or read; the message is plain text for its uploader."""


@dataclass(frozen=True, slots=True)
class UploadedIds:
    """The IDs read from every attached file (merged, in order), or the problem to show."""

    ids: tuple[str, ...] = ()
    problem: str | None = None
    repeats: int = 0
    names: tuple[str, ...] = ()


class Downloader:
    """Fetches the files people attach to the start modal, from Slack only."""

    def __init__(
        self,
        *,
        token: Secret,
        api_url: str,
        client: AsyncWebClient | None = None,
        max_bytes: int = MAX_FILE_BYTES,
        timeout: float = DOWNLOAD_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``client`` answers ``files.info`` for a file reported without a download URL;
        ``transport`` replaces the network in tests."""
        host = httpx.URL(api_url).host
        self._token = token
        self._hosts = frozenset({host, f"files.{host}"} if host else ())
        self._client = client
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._transport = transport

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def trusted(self, url: str) -> bool:
        """True when ``url`` is one of Slack's file URLs the bot token may be sent to."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            return False
        if parsed.host not in self._hosts or parsed.userinfo:
            return False
        return parsed.scheme == "https" or (parsed.scheme == "http" and _loopback(parsed.host))

    async def fetch(self, ref: FileRef) -> bytes:
        """The file's bytes; raises :class:`UploadError` saying what went wrong."""
        if ref.size is not None and ref.size > self._max_bytes:
            raise UploadError(_too_large(ref.name, ref.size, self._max_bytes))
        url = ref.url or await self._lookup_url(ref)
        if not self.trusted(url):
            log.warning("refused to fetch upload %s from an address that is not Slack's", ref.id)
            raise UploadError(f"{ref.name}: its download address is not Slack's; upload it again.")
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        try:
            async with (
                httpx.AsyncClient(
                    transport=self._transport, timeout=self._timeout, follow_redirects=False
                ) as http,
                http.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise UploadError(_refused(ref.name, response.status_code))
                if response.headers.get("content-type", "").startswith("text/html"):
                    raise UploadError(
                        f"Slack sent a web page instead of {ref.name}: the app probably lacks "
                        "the files:read scope (reinstall it with the manifest)."
                    )
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > self._max_bytes:
                        raise UploadError(_too_large(ref.name, None, self._max_bytes))
                return bytes(data)
        except httpx.TimeoutException as exc:
            raise UploadError(
                f"Downloading {ref.name} from Slack took too long; try again."
            ) from exc
        except httpx.HTTPError as exc:
            log.warning("download of upload %s failed: %s", ref.id, type(exc).__name__)
            raise UploadError(f"Could not download {ref.name} from Slack; try again.") from exc

    async def _lookup_url(self, ref: FileRef) -> str:
        if self._client is None:
            raise UploadError(f"{ref.name}: Slack gave no download address; upload it again.")
        try:
            info = await self._client.files_info(file=ref.id)
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise UploadError(
                f"Slack could not find {ref.name} ({error}); upload it again."
            ) from exc
        file = info.get("file") or {}
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str):
            raise UploadError(f"{ref.name}: Slack gave no download address; upload it again.")
        return url


async def read_uploads(
    downloader: Downloader, refs: Sequence[FileRef], *, max_jobs: int
) -> UploadedIds:
    """Download and read every attached file; the first problem found stops the reading."""
    lists: list[tuple[str, ...]] = []
    repeats = 0
    for ref in refs:
        try:
            data = await downloader.fetch(ref)
        except UploadError as exc:
            return UploadedIds(problem=str(exc))
        parsed = parse_id_file(data, max_jobs=max_jobs, max_bytes=downloader.max_bytes)
        problem = parsed.message(ref.name)
        if problem is not None:
            return UploadedIds(problem=problem)
        lists.append(parsed.ids)
        repeats += parsed.repeats
    ids, across = merge_ids(*lists)
    return UploadedIds(ids, repeats=repeats + across, names=tuple(r.name for r in refs))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _too_large(name: str, size: int | None, limit: int) -> str:
    shown = f" is {size / 1024:,.0f} KiB" if size is not None else " is too large"
    return (
        f"{name}{shown}; at most {limit / 1024:,.0f} KiB is read. Split the list into several "
        "requests."
    )


def _refused(name: str, status: int) -> str:
    if status in (301, 302, 303, 307, 308, 401, 403):
        return (
            f"Slack refused to hand over {name} (HTTP {status}): the app may lack the files:read "
            "scope, or the file was deleted. Upload it again."
        )
    return f"Could not download {name} from Slack (HTTP {status}); try again."

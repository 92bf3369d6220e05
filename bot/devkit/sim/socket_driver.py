"""Slack's side of the conversation over Socket Mode: the same slash commands, clicks and
modal submissions as :class:`~bot.devkit.sim.driver.SlackDriver`, sent as envelopes over the
fake Slack's WebSocket connections (:class:`~bot.devkit.sim.slack_socket.SocketModeHub`)
instead of signed HTTP requests.

The payloads are the ones the HTTP driver builds: a slash command's form fields as one JSON
object (``slash_commands``), an ``interactive`` payload as it is, an Events API callback as it
is (``events_api``). The acknowledgement's
payload plays the part of the HTTP answer's body.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from bot.devkit.sim.driver import DriverResponse, SlackDriver
from bot.devkit.sim.slack import FakeSlack


class SocketModeDriver(SlackDriver):
    """Sends into whichever connection Slack would pick (the next in turn), or always into
    the connection opened with ``app_token`` when one is given."""

    def __init__(
        self, *, fake: FakeSlack, app_token: str | None = None, ack_timeout: float = 10.0
    ) -> None:
        super().__init__(
            events_url="socket-mode:",
            signing_secret="-",  # noqa: S106 - nothing is signed over a WebSocket
            fake=fake,
            ack_timeout=ack_timeout,
        )
        self.app_token = app_token

    async def raw(
        self,
        body: bytes,
        *,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DriverResponse:
        """The body the HTTP driver would post, as one envelope: an Events API callback
        (JSON), an interactive payload or a slash command (form-encoded)."""
        kind, payload = _envelope(body, content_type)
        done = await self.fake.socket.deliver(
            kind, payload, via=self.app_token, within=self.ack_timeout or 10.0
        )
        if not done.acked:
            return DriverResponse(0, None, "", done.elapsed, timed_out=True)
        text = json.dumps(done.payload) if done.payload else ""
        return DriverResponse(200, done.payload or None, text, done.elapsed)


def _envelope(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """The envelope type and payload Slack would send over Socket Mode for ``body``."""
    if content_type == "application/json":
        return "events_api", json.loads(body)
    form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    if set(form) == {"payload"}:
        return "interactive", json.loads(form["payload"])
    return "slash_commands", dict(form)

"""Plays Slack's side of the conversation: signed requests into the bot's ``/slack/events``.

:class:`SlackDriver` sends what Slack sends when a person types a slash command, clicks a
button, submits or closes a modal, or types into an external select, signed exactly as Slack
signs them. It registers the trigger ids and response URLs it hands out with the
:class:`~bot.devkit.sim.slack.FakeSlack`, so the bot's follow-up calls (``views.open``,
``respond()``) work against the fake as they do against Slack, and it applies the bot's
acknowledgement the way Slack's client would (an ephemeral reply, ``response_action``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import httpx

from bot.core.secret import Secret
from bot.devkit.sim.driver_values import action_json, find_element, state_values
from bot.devkit.sim.slack import FakeSlack
from bot.devkit.sim.slack_common import SlackError
from bot.devkit.sim.slack_model import JSON

ACK_DEADLINE = 3.0  # seconds Slack waits for an acknowledgement
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class DriverResponse:
    """The bot's HTTP answer to one request.

    ``json`` is the parsed body when it is a JSON object, else None. ``timed_out`` is true
    when no answer came within the driver's ``ack_timeout`` (status is then 0): Slack would
    have shown the user an error and dropped whatever the bot answered later.
    """

    status: int
    json: JSON | None
    text: str
    elapsed: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.timed_out

    @property
    def late(self) -> bool:
        """Not answered within Slack's 3 s acknowledgement deadline."""
        return self.timed_out or self.elapsed > ACK_DEADLINE


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Slack's request signature: ``v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackDriver:
    """Sends Slack's requests into one bot; use from the loop that runs the fake."""

    def __init__(
        self,
        *,
        events_url: str,
        signing_secret: str | Secret,
        fake: FakeSlack,
        team_id: str | None = None,
        http: httpx.AsyncClient | None = None,
        ack_timeout: float | None = 10.0,
        verification_token: str = "fake-verification-token",  # noqa: S107 - legacy, unused by Bolt
    ) -> None:
        """``ack_timeout`` caps the wait for each answer (None: no cap). It defaults above
        Slack's 3 s so a loaded test machine still sees the answer; ``DriverResponse.late``
        tells whether Slack would have given up."""
        self.events_url = events_url
        self._secret = (
            signing_secret if isinstance(signing_secret, Secret) else Secret(signing_secret)
        )
        self.fake = fake
        self.team_id = team_id or fake.team_id
        self.ack_timeout = ack_timeout
        self._token = verification_token
        self._own_http = http is None
        self._http = http or httpx.AsyncClient()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- sending ---------------------------------------------------------------------------

    async def raw(
        self,
        body: bytes,
        *,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DriverResponse:
        """POST ``body`` as is, signed for ``timestamp`` (default now) unless ``signature``
        is given: for forged, stale or malformed requests."""
        ts = int(time.time()) if timestamp is None else timestamp
        sent_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature or sign(self._secret.reveal(), ts, body),
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        started = time.perf_counter()
        try:
            response = await self._http.post(
                self.events_url, content=body, headers=sent_headers, timeout=self.ack_timeout
            )
        except httpx.TimeoutException:
            return DriverResponse(0, None, "", time.perf_counter() - started, timed_out=True)
        elapsed = time.perf_counter() - started
        text = response.text
        parsed: JSON | None = None
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError:
                loaded = None
            parsed = loaded if isinstance(loaded, dict) else None
        return DriverResponse(response.status_code, parsed, text, elapsed)

    async def _send_payload(self, payload: JSON) -> DriverResponse:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return await self.raw(body, content_type=FORM)

    # ---- who and where ---------------------------------------------------------------------

    def _user(self, user: str) -> JSON:
        known = self.fake.workspace.people.user(user)
        name = known.name if known is not None else user.lower()
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> JSON:
        return {"id": self.team_id, "domain": self.fake.team_domain}

    def _common(self, kind: str, user: str) -> JSON:
        return {
            "type": kind,
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": self.fake.app_id,
            "token": self._token,
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _view_payload(self, view_id: str) -> JSON:
        view = self.fake.view(view_id)
        if view is None:
            raise ValueError(f"the fake has no view {view_id!r}")
        return dict(view.view, hash=view.hash)

    # ---- slash commands --------------------------------------------------------------------

    async def slash(
        self, user: str, channel: str, text: str = "", *, command: str = "/startjobs"
    ) -> DriverResponse:
        """Type ``command text`` in ``channel``. An acknowledgement with a body shows to the
        user (or the channel, with ``response_type: in_channel``) as Slack would show it."""
        ws = self.fake.workspace
        known = ws.people.user(user)
        form = {
            "token": self._token,
            "team_id": self.team_id,
            "team_domain": self.fake.team_domain,
            "channel_id": channel,
            "channel_name": ws.people.channel_name(channel),
            "user_id": user,
            "user_name": known.name if known is not None else user.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.fake.app_id,
            "is_enterprise_install": "false",
            "response_url": ws.chat.issue_response_url(
                channel=channel, user=user, message_ts=None, thread_ts=None
            ),
            "trigger_id": ws.views.issue_trigger_id(user),
        }
        response = await self.raw(urllib.parse.urlencode(form).encode(), content_type=FORM)
        # Slack shows a JSON answer as a message, and a plain-text answer as its text.
        shown = response.json or ({"text": response.text} if response.text else None)
        if response.ok and shown is not None:
            _show(lambda: ws.chat.ack_message(channel=channel, user=user, body=shown))
        return response

    # ---- clicks ----------------------------------------------------------------------------

    async def click(
        self,
        user: str,
        *,
        action_id: str,
        value: str,
        channel: str,
        message_ts: str,
        block_id: str | None = None,
    ) -> DriverResponse:
        """Click the element ``action_id`` on the message ``message_ts`` (a channel message,
        a thread reply or an ephemeral message the fake holds).

        ``value`` is sent as the action's value; Slack sends the element's own value, so a
        different one models a forged click. Raises ValueError when the message has no such
        element.
        """
        ws = self.fake.workspace
        msg = ws.chat.message(channel, message_ts)
        ephemeral = next(
            (e for e in ws.chat.ephemerals if e.ts == message_ts and e.channel == channel), None
        )
        if msg is None and ephemeral is None:
            raise ValueError(f"the fake has no message {message_ts!r} in {channel!r}")
        blocks = msg.blocks if msg is not None else ephemeral.blocks if ephemeral else []
        found_block, element = find_element(blocks, action_id, block_id, value)
        thread_ts = msg.thread_ts if msg is not None else None
        container: JSON = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": msg is None,
        }
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload = self._common("block_actions", user)
        payload.update(
            {
                "container": container,
                "trigger_id": ws.views.issue_trigger_id(user),
                "channel": {"id": channel, "name": ws.people.channel_name(channel)},
                "state": {"values": {}},
                "response_url": ws.chat.issue_response_url(
                    channel=channel,
                    user=user,
                    message_ts=message_ts if msg is not None else None,
                    thread_ts=thread_ts,
                ),
                "actions": [action_json(element, found_block, value)],
            }
        )
        if msg is not None:
            payload["message"] = ws.chat.message_json(msg)
        return await self._send_payload(payload)

    async def view_action(
        self,
        user: str,
        view_id: str,
        *,
        action_id: str,
        value: str,
        block_id: str | None = None,
    ) -> DriverResponse:
        """Click (or pick from) the element ``action_id`` inside an open modal."""
        view = self._view_payload(view_id)
        found_block, element = find_element(view.get("blocks") or [], action_id, block_id, value)
        payload = self._common("block_actions", user)
        payload.update(
            {
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": self.fake.workspace.views.issue_trigger_id(user, view_id=view_id),
                "view": view,
                "actions": [action_json(element, found_block, value)],
            }
        )
        return await self._send_payload(payload)

    # ---- the App Home -----------------------------------------------------------------------

    async def app_home_opened(self, user: str, *, tab: str = "home") -> DriverResponse:
        """``user`` opens the app's Home tab: the Events API's ``app_home_opened``, carrying
        the Home view last published for them (if any). Home buttons are clicked with
        :meth:`view_action` on ``fake.home(user).id``."""
        home = self.fake.home(user)
        event: JSON = {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{user[1:]}",
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        if home is not None:
            event["view"] = dict(home.view, hash=home.hash)
        payload: JSON = {
            "token": self._token,
            "team_id": self.team_id,
            "api_app_id": self.fake.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{self.fake.workspace.team.seq():010d}",
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": self.team_id, "user_id": self.fake.bot_user_id, "is_bot": True}
            ],
        }
        body = json.dumps(payload).encode()
        return await self.raw(body, content_type="application/json")

    # ---- modals ----------------------------------------------------------------------------

    async def submit_view(
        self, user: str, view_id: str, values: Mapping[str, Mapping[str, object]]
    ) -> DriverResponse:
        """Submit the open modal ``view_id`` with ``values`` = {block_id: {action_id: value}}.

        Values are simple: a string for text inputs, an option value (or option dict) for
        selects and radio buttons, a list of those for multi-selects and checkboxes, epoch
        seconds for a datetimepicker, file ids or FakeFiles for a file_input. Inputs left out
        carry their initial value. The bot's acknowledgement is applied to the fake as Slack
        applies it (``response_action`` errors/update/push/clear, or close).
        """
        ws = self.fake.workspace
        stored = self.fake.view(view_id)
        if stored is None or stored.closed:
            raise ValueError(f"the view {view_id!r} is not open")
        if stored.user != user:
            raise ValueError(f"the view {view_id!r} belongs to {stored.user}, not {user}")
        view = self._view_payload(view_id)
        view["state"] = {"values": state_values(view, values, ws.files.file_json)}
        payload = self._common("view_submission", user)
        payload.update(
            {"trigger_id": ws.views.issue_trigger_id(user, view_id=view_id), "view": view}
        )
        payload["response_urls"] = []
        response = await self._send_payload(payload)
        if response.ok:
            _show(lambda: ws.views.apply_ack(view_id, response.json))
        return response

    async def close_view(self, user: str, view_id: str) -> DriverResponse | None:
        """Close the modal with its close button. Slack tells the app (and this returns the
        answer) only when the view was opened with ``notify_on_close``; else returns None."""
        ws = self.fake.workspace
        view = self._view_payload(view_id)
        if view.get("clear_on_close"):
            ws.views.clear(view_id)
        else:
            ws.views.close(view_id)
        if not view.get("notify_on_close"):
            return None
        payload = self._common("view_closed", user)
        payload.update({"view": view, "is_cleared": bool(view.get("clear_on_close"))})
        return await self._send_payload(payload)

    async def options(
        self, user: str, *, action_id: str, block_id: str, value: str, view_id: str
    ) -> DriverResponse:
        """Type ``value`` into the external select ``block_id``/``action_id`` of a modal."""
        payload = self._common("block_suggestion", user)
        payload.update(
            {
                "container": {"type": "view", "view_id": view_id},
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "view": self._view_payload(view_id),
            }
        )
        return await self._send_payload(payload)


def _show(apply: Callable[[], None]) -> None:
    """Apply an acknowledgement to the fake; a body Slack would refuse fails the test."""
    try:
        apply()
    except SlackError as exc:
        raise ValueError(f"Slack would refuse the acknowledgement: {exc.body()}") from exc

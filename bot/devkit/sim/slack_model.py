"""What the fake Slack remembers: workspace fixtures and snapshots of what people would see.

Every value handed out by :class:`bot.devkit.sim.slack.FakeSlack` is one of these frozen
dataclasses; the fake replaces a snapshot when the thing it describes changes (a message is
updated, a view is pushed over), so a value a test holds never changes under it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

#: The bot scopes the fake grants unless told otherwise: what the startjobs manifest asks for,
#: plus the read scopes for conversations.info and files.info.
DEFAULT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "users:read",
    "usergroups:read",
    "files:write",
    "files:read",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
)


@dataclass(frozen=True)
class FakeUser:
    """A member of the fake workspace, as users.info describes them."""

    name: str
    real_name: str = ""
    tz: str = "UTC"
    locale: str = "en-US"
    is_bot: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class FakeChannel:
    """A conversation; the bot may post in it only when its user id is among ``members``."""

    name: str
    members: Collection[str] = ()
    is_private: bool = False
    is_archived: bool = False


@dataclass(frozen=True)
class SlackCall:
    """One request the fake answered.

    ``args`` merges the query string and the body (form fields or JSON), with any ``token``
    removed; ``blocks``/``view`` that arrived as JSON strings are kept as sent. ``at`` is the
    fake's clock when the request arrived. Calls to a ``response_url`` have method
    ``"response_url"``.
    """

    method: str
    args: Mapping[str, Any]
    at: float
    status: int
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class FakeMessage:
    """A message as the channel shows it now (after every chat.update)."""

    channel: str
    ts: str
    text: str
    blocks: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    user: str = ""
    thread_ts: str | None = None
    reply_broadcast: bool = False
    files: tuple[str, ...] = ()
    metadata: JSON | None = None
    edits: int = 0  # how many chat.update / replace_original calls changed it

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass(frozen=True)
class FakeEphemeral:
    """A message only ``user`` saw.

    ``source`` is ``"chat.postEphemeral"``, ``"response_url"`` or ``"ack"`` (the body of a
    slash command's acknowledgement). ``replace_original`` is set when a response_url post
    asked to replace an original the fake does not hold as a channel message.
    """

    channel: str
    user: str
    text: str
    blocks: list[JSON] = field(default_factory=list)
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    ts: str = ""
    replace_original: bool = False


@dataclass(frozen=True)
class FakeView:
    """A modal as the user sees it now.

    ``view`` is the view object Slack would return (id, hash, blocks with filled-in ids,
    private_metadata, ...). ``closed`` turns true when the user closes it, a submission
    closes it, or ``clear`` closes its whole stack. ``errors`` holds the last
    ``response_action: errors`` shown on it.
    """

    id: str
    hash: str
    view: JSON
    user: str
    root_view_id: str
    previous_view_id: str | None = None
    external_id: str | None = None
    closed: bool = False
    errors: Mapping[str, str] | None = None
    updates: int = 0

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata", ""))


@dataclass(frozen=True)
class FakeFile:
    """A file in the workspace: one the bot uploaded, or one a user attached to a form."""

    id: str
    filename: str
    title: str
    content: bytes
    user: str
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    alt_txt: str | None = None
    created: int = 0

"""Messages of the fake workspace: chat.* methods, ephemerals and response_url posts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.devkit.sim.slack_common import SlackError, Team, flag_arg, text_arg
from bot.devkit.sim.slack_model import JSON, FakeEphemeral, FakeMessage
from bot.devkit.sim.slack_people import People
from bot.devkit.sim.slack_validate import (
    MESSAGE_BLOCK_LIMIT,
    ArgumentError,
    blocks_text_length,
    check_blocks,
    fill_ids,
    parse_json_arg,
)

POST_TEXT_LIMIT = 40_000  # chat.postMessage truncates past this
UPDATE_TEXT_LIMIT = 4_000  # chat.update refuses past this
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_USES = 5


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_ts: str | None
    thread_ts: str | None
    issued: float
    uses: int = 0


class Chat:
    """Channel messages, threads and ephemeral messages, as people would see them."""

    def __init__(self, team: Team, people: People, *, blocks_char_limit: int | None) -> None:
        self.team = team
        self.people = people
        self.blocks_char_limit = blocks_char_limit
        self.ephemerals: list[FakeEphemeral] = []
        self.file_json: Callable[[str], JSON] = lambda file_id: {"id": file_id}
        self._msgs: dict[tuple[str, str], FakeMessage] = {}
        self._top: dict[str, list[str]] = {}
        self._replies: dict[tuple[str, str], list[str]] = {}
        self._responses: dict[str, _ResponseTarget] = {}

    # ---- reading ---------------------------------------------------------------------------

    def message(self, channel: str, ts: str) -> FakeMessage | None:
        return self._msgs.get((channel, ts))

    def messages(self, channel: str) -> list[FakeMessage]:
        return [self._msgs[(channel, ts)] for ts in self._top.get(channel, [])]

    def thread(self, channel: str, ts: str) -> list[FakeMessage]:
        return [self._msgs[(channel, r)] for r in self._replies.get((channel, ts), [])]

    def message_json(self, msg: FakeMessage) -> JSON:
        """The message object Slack puts in API answers and interaction payloads."""
        out: JSON = {
            "type": "message",
            "user": msg.user,
            "bot_id": self.team.bot_id,
            "app_id": self.team.app_id,
            "text": msg.text,
            "ts": msg.ts,
            "team": self.team.team_id,
        }
        if msg.blocks:
            out["blocks"] = msg.blocks
        if msg.attachments:
            out["attachments"] = msg.attachments
        if msg.thread_ts:
            out["thread_ts"] = msg.thread_ts
        if msg.files:
            out["files"] = [self.file_json(f) for f in msg.files]
        if msg.metadata:
            out["metadata"] = msg.metadata
        if msg.edits:
            out["edited"] = {"user": msg.user, "ts": msg.ts}
        return out

    # ---- writing ---------------------------------------------------------------------------

    def blocks_arg(self, args: Mapping[str, Any]) -> list[JSON] | None:
        """The validated ``blocks`` of a message with ids filled in; None when absent."""
        raw = args.get("blocks")
        if raw is None or raw == "":
            return None
        try:
            blocks = parse_json_arg(raw, name="blocks")
        except ArgumentError:
            raise SlackError("invalid_blocks_format") from None
        errors = check_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT)
        if errors:
            meta = {"messages": errors}
            raise SlackError("invalid_blocks", errors=errors, response_metadata=meta)
        limit = self.blocks_char_limit
        if limit is not None and blocks_text_length(blocks) > limit:
            raise SlackError("msg_blocks_too_long")
        return fill_ids(blocks, self.team.short_id)

    @staticmethod
    def _attachments_arg(args: Mapping[str, Any]) -> list[JSON] | None:
        raw = args.get("attachments")
        if raw is None or raw == "":
            return None
        try:
            value = parse_json_arg(raw, name="attachments")
        except ArgumentError:
            raise SlackError("invalid_attachments") from None
        if not isinstance(value, list):
            raise SlackError("invalid_attachments")
        return value

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[JSON] | None = None,
        attachments: list[JSON] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        files: tuple[str, ...] = (),
        metadata: JSON | None = None,
    ) -> FakeMessage:
        """Add a message from the bot, as a reply when ``thread_ts`` is given."""
        if thread_ts:
            parent = self._msgs.get((channel, thread_ts))
            if parent is not None and parent.thread_ts:
                thread_ts = parent.thread_ts  # a reply to a reply lands in the same thread
        msg = FakeMessage(
            channel=channel,
            ts=self.team.next_ts(),
            text=text[:POST_TEXT_LIMIT],
            blocks=blocks or [],
            attachments=attachments or [],
            user=self.team.bot_user_id,
            thread_ts=thread_ts or None,
            reply_broadcast=reply_broadcast,
            files=files,
            metadata=metadata,
        )
        self._msgs[(channel, msg.ts)] = msg
        if msg.thread_ts is not None:
            self._replies.setdefault((channel, msg.thread_ts), []).append(msg.ts)
        if msg.thread_ts is None or reply_broadcast:
            self._top.setdefault(channel, []).append(msg.ts)
        return msg

    def _delete(self, msg: FakeMessage) -> None:
        self._msgs.pop((msg.channel, msg.ts), None)
        top = self._top.get(msg.channel, [])
        if msg.ts in top:
            top.remove(msg.ts)
        replies = self._replies.get((msg.channel, msg.thread_ts or ""), [])
        if msg.ts in replies:
            replies.remove(msg.ts)

    def _ephemeral(self, **fields: Any) -> FakeEphemeral:
        e = FakeEphemeral(ts=self.team.next_ts(), **fields)
        self.ephemerals.append(e)
        return e

    # ---- Web API methods -------------------------------------------------------------------

    def chat_postMessage(self, args: Mapping[str, Any]) -> JSON:
        channel = text_arg(args.get("channel"))
        self.people.check_post(channel)
        blocks = self.blocks_arg(args)
        attachments = self._attachments_arg(args)
        text = text_arg(args.get("text"))
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        metadata = args.get("metadata")
        msg = self.post(
            channel,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=text_arg(args.get("thread_ts")) or None,
            reply_broadcast=flag_arg(args.get("reply_broadcast")),
            metadata=parse_json_arg(metadata, name="metadata") if metadata else None,
        )
        return {"channel": channel, "ts": msg.ts, "message": self.message_json(msg)}

    def conversations_history(self, args: Mapping[str, Any]) -> JSON:
        """Top-level messages of a channel, newest first, from ``oldest`` on (exclusive)."""
        channel = self._history_channel(args)
        found = [m for m in self.messages(channel) if _after(m.ts, args.get("oldest"))]
        return self._history_page(list(reversed(found)), args)

    def conversations_replies(self, args: Mapping[str, Any]) -> JSON:
        """A thread: its parent, then its replies oldest first, from ``oldest`` on."""
        channel = self._history_channel(args)
        ts = text_arg(args.get("ts"))
        parent = self._msgs.get((channel, ts))
        if parent is None:
            raise SlackError("thread_not_found")
        replies = [m for m in self.thread(channel, ts) if _after(m.ts, args.get("oldest"))]
        return self._history_page([parent, *replies], args)

    def _history_channel(self, args: Mapping[str, Any]) -> str:
        channel = text_arg(args.get("channel"))
        private = self.people.channels is not None and (
            channel in self.people.channels and self.people.channels[channel].is_private
        )
        self.team.require_scope("groups:history" if private else "channels:history")
        if self.people.channels is not None and channel not in self.people.channels:
            raise SlackError("channel_not_found")
        return channel

    def _history_page(self, found: list[FakeMessage], args: Mapping[str, Any]) -> JSON:
        limit = int(text_arg(args.get("limit")) or 100)
        metadata = flag_arg(args.get("include_all_metadata"))
        out = []
        for msg in found[:limit]:
            item = self.message_json(msg)
            if not metadata:
                item.pop("metadata", None)
            out.append(item)
        return {"messages": out, "has_more": len(found) > limit}

    def chat_update(self, args: Mapping[str, Any]) -> JSON:
        channel, ts = text_arg(args.get("channel")), text_arg(args.get("ts"))
        msg = self._msgs.get((channel, ts))
        if msg is None:
            raise SlackError("message_not_found")
        if msg.user != self.team.bot_user_id:
            raise SlackError("cant_update_message")
        blocks = self.blocks_arg(args)
        attachments = self._attachments_arg(args)
        text = args.get("text")
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        if text is not None and len(text_arg(text)) > UPDATE_TEXT_LIMIT:
            raise SlackError("msg_too_long")
        # Slack keeps the old blocks/attachments when an update leaves them out.
        updated = replace(
            msg,
            text=msg.text if text is None else text_arg(text),
            blocks=msg.blocks if blocks is None else blocks,
            attachments=msg.attachments if attachments is None else attachments,
            edits=msg.edits + 1,
        )
        self._msgs[(channel, ts)] = updated
        message = self.message_json(updated)
        return {"channel": channel, "ts": ts, "text": updated.text, "message": message}

    def chat_postEphemeral(self, args: Mapping[str, Any]) -> JSON:
        channel, user = text_arg(args.get("channel")), text_arg(args.get("user"))
        self.people.check_post(channel)
        self.people.check_member(channel, user)
        blocks = self.blocks_arg(args)
        text = text_arg(args.get("text"))
        if not text and not blocks:
            raise SlackError("no_text")
        e = self._ephemeral(
            channel=channel,
            user=user,
            text=text[:POST_TEXT_LIMIT],
            blocks=blocks or [],
            thread_ts=text_arg(args.get("thread_ts")) or None,
            source="chat.postEphemeral",
        )
        return {"message_ts": e.ts}

    def chat_getPermalink(self, args: Mapping[str, Any]) -> JSON:
        channel, ts = text_arg(args.get("channel")), text_arg(args.get("message_ts"))
        msg = self._msgs.get((channel, ts))
        if msg is None:
            raise SlackError("message_not_found")
        host = f"https://{self.team.team_domain}.slack.com"
        link = f"{host}/archives/{channel}/p{ts.replace('.', '')}"
        if msg.thread_ts is not None:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    # ---- what the user's client sends back -------------------------------------------------

    def ack_message(self, *, channel: str, user: str, body: Mapping[str, Any]) -> None:
        """Show what a slash command's acknowledgement body asked for."""
        if not body.get("text") and not body.get("blocks"):
            return
        blocks = self.blocks_arg(body)
        text = text_arg(body.get("text"))
        if body.get("response_type") == "in_channel":
            self.post(channel, text=text, blocks=blocks)
        else:
            self._ephemeral(
                channel=channel, user=user, text=text, blocks=blocks or [], source="ack"
            )

    def issue_response_url(
        self, *, channel: str, user: str, message_ts: str | None, thread_ts: str | None
    ) -> str:
        rid = f"T{self.team.seq():08d}{self.team.seq():012x}"
        self._responses[rid] = _ResponseTarget(
            channel=channel,
            user=user,
            message_ts=message_ts,
            thread_ts=thread_ts,
            issued=self.team.clock(),
        )
        return f"{self.team.root_url}response/{rid}"

    def respond(self, rid: str, body: Mapping[str, Any]) -> tuple[int, JSON]:
        """Handle a POST to a response_url; returns the HTTP status and the JSON answer."""
        target = self._responses.get(rid)
        if target is None:
            return 404, {"ok": False, "error": "invalid_url"}
        if self.team.clock() - target.issued > RESPONSE_URL_TTL:
            return 404, {"ok": False, "error": "expired_url"}
        if target.uses >= RESPONSE_URL_USES:
            return 404, {"ok": False, "error": "used_url"}
        target.uses += 1
        original = self._msgs.get((target.channel, target.message_ts or ""))
        if flag_arg(body.get("delete_original")):
            if original is not None:
                self._delete(original)
            return 200, {"ok": True}
        try:
            blocks = self.blocks_arg(body)
        except SlackError as exc:
            return 400, exc.body()
        text = text_arg(body.get("text"))
        if not text and not blocks:
            return 400, {"ok": False, "error": "no_text"}
        replace_original = flag_arg(body.get("replace_original"))
        thread_ts = text_arg(body.get("thread_ts")) or None
        if replace_original and original is not None:
            key = (original.channel, original.ts)
            self._msgs[key] = replace(
                original, text=text, blocks=blocks or [], edits=original.edits + 1
            )
        elif body.get("response_type") == "in_channel" and not replace_original:
            self.post(target.channel, text=text, blocks=blocks, thread_ts=thread_ts)
        else:
            self._ephemeral(
                channel=target.channel,
                user=target.user,
                text=text,
                blocks=blocks or [],
                thread_ts=thread_ts or target.thread_ts,
                source="response_url",
                replace_original=replace_original,
            )
        return 200, {"ok": True}


def _after(ts: str, oldest: object) -> bool:
    """Slack's ``oldest`` bound (exclusive), compared as the decimal ts it is."""
    if oldest in (None, ""):
        return True
    return float(ts) > float(str(oldest))

"""Files of the fake workspace: the external upload flow, files.info and url_private."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.devkit.sim.slack_chat import Chat
from bot.devkit.sim.slack_common import SlackError, Team, invalid_arguments, text_arg
from bot.devkit.sim.slack_model import JSON, FakeFile
from bot.devkit.sim.slack_people import People
from bot.devkit.sim.slack_validate import ArgumentError, parse_json_arg


@dataclass
class _PendingUpload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    content: bytes | None = None


class Files:
    """Uploads in progress, completed uploads, and files users attached to forms."""

    def __init__(self, team: Team, people: People, chat: Chat) -> None:
        self.team = team
        self.people = people
        self.chat = chat
        self.completed: list[FakeFile] = []
        self._all: dict[str, FakeFile] = {}
        self._uploads: dict[str, _PendingUpload] = {}

    def file(self, file_id: str) -> FakeFile | None:
        return self._all.get(file_id)

    def file_json(self, file_id: str) -> JSON:
        """The file object Slack returns (files.info, file_input state, message files)."""
        f = self._all[file_id]
        team = self.team
        mimetype = mimetypes.guess_type(f.filename)[0] or "application/octet-stream"
        base = f"{team.root_url}files-pri/{team.team_id}-{f.id}"
        filetype = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else "binary"
        return {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.filename,
            "title": f.title,
            "mimetype": mimetype,
            "filetype": filetype,
            "user": f.user,
            "size": len(f.content),
            "url_private": f"{base}/{f.filename}",
            "url_private_download": f"{base}/download/{f.filename}",
            "permalink": f"https://{team.team_domain}.slack.com/files/{f.user}/{f.id}/{f.filename}",
            "channels": [f.channel] if f.channel else [],
        }

    def add_user_file(self, user: str, filename: str, content: bytes) -> FakeFile:
        """A file a user uploaded in the Slack client (for file_input fields)."""
        f = FakeFile(
            id=self.team.new_id("F"),
            filename=filename,
            title=filename,
            content=content,
            user=user,
            created=int(self.team.clock()),
        )
        self._all[f.id] = f
        return f

    def upload(self, key: str, content: bytes) -> tuple[int, str]:
        """The POST to an upload_url; returns the HTTP status and text, like Slack's."""
        pending = self._uploads.get(key)
        if pending is None:
            return 404, "not_found"
        pending.content = content
        return 200, f"OK - {len(content)}"

    # ---- Web API methods -------------------------------------------------------------------

    def files_getUploadURLExternal(self, args: Mapping[str, Any]) -> JSON:
        filename, length = text_arg(args.get("filename")), text_arg(args.get("length"))
        if not filename or not length.isdigit():
            raise invalid_arguments(["[ERROR] filename and length are required"])
        file_id = self.team.new_id("F")
        key = f"{self.team.seq():04d}{file_id}{self.team.seq():016x}"
        self._uploads[key] = _PendingUpload(
            file_id=file_id,
            filename=filename,
            length=int(length),
            alt_txt=text_arg(args.get("alt_txt")) or None,
        )
        return {"upload_url": f"{self.team.root_url}upload/v1/{key}", "file_id": file_id}

    def files_completeUploadExternal(self, args: Mapping[str, Any]) -> JSON:
        try:
            items = parse_json_arg(args.get("files") or "", name="files")
        except ArgumentError:
            raise invalid_arguments(["[ERROR] files must be a JSON array"]) from None
        if not isinstance(items, list) or not items:
            raise invalid_arguments(["[ERROR] files must be a non-empty array"])
        channel = text_arg(args.get("channel_id")) or text_arg(args.get("channels")).split(",")[0]
        thread_ts = text_arg(args.get("thread_ts")) or None
        comment = text_arg(args.get("initial_comment")) or None
        if channel:
            self.people.check_post(channel)
        by_id = {p.file_id: key for key, p in self._uploads.items()}
        keys: list[tuple[str, str]] = []
        for item in items:
            key = by_id.get(text_arg(item.get("id")) if isinstance(item, dict) else "")
            if key is None or self._uploads[key].content is None:
                raise SlackError("file_not_found")
            keys.append((key, text_arg(item.get("title"))))
        done: list[FakeFile] = []
        for key, title in keys:
            pending = self._uploads.pop(key)
            f = FakeFile(
                id=pending.file_id,
                filename=pending.filename,
                title=title or pending.filename,
                content=pending.content or b"",
                user=self.team.bot_user_id,
                channel=channel or None,
                thread_ts=thread_ts,
                initial_comment=comment,
                alt_txt=pending.alt_txt,
                created=int(self.team.clock()),
            )
            self._all[f.id] = f
            done.append(f)
        self.completed.extend(done)
        if channel:
            # Sharing shows as a message with the files, in the thread when one is given.
            shared = tuple(f.id for f in done)
            self.chat.post(channel, text=comment or "", thread_ts=thread_ts, files=shared)
        return {"files": [{"id": f.id, "title": f.title} for f in done]}

    def files_info(self, args: Mapping[str, Any]) -> JSON:
        file_id = text_arg(args.get("file"))
        if file_id not in self._all:
            raise SlackError("file_not_found")
        return {"file": self.file_json(file_id)}

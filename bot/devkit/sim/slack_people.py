"""Users, user groups and channels of the fake workspace.

Serves users.info, usergroups.users.list and conversations.info, and decides where the bot
may post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.devkit.sim.slack_common import SlackError, Team, flag_arg, text_arg
from bot.devkit.sim.slack_model import JSON, FakeChannel, FakeUser

_DM_PREFIXES = ("D", "U", "W")


class People:
    """Who exists, which groups they form, and which channels the bot may post in."""

    def __init__(
        self,
        team: Team,
        *,
        users: Mapping[str, FakeUser] | None,
        usergroups: Mapping[str, Sequence[str]] | None,
        plan_has_usergroups: bool,
        channels: Mapping[str, FakeChannel] | None,
    ) -> None:
        self.team = team
        self.users = dict(users) if users is not None else None
        self.usergroups = {k: list(v) for k, v in (usergroups or {}).items()}
        self.plan_has_usergroups = plan_has_usergroups
        self.channels = dict(channels) if channels is not None else None

    def user(self, user_id: str) -> FakeUser | None:
        """The user with this id; any id resolves to a plain user when no users were given."""
        if user_id == self.team.bot_user_id:
            return FakeUser(name="startjobs", real_name="startjobs", is_bot=True)
        if self.users is None:
            return FakeUser(name=user_id.lower(), real_name=user_id)
        return self.users.get(user_id)

    def channel_name(self, channel_id: str) -> str:
        if channel_id[:1] in _DM_PREFIXES:
            return "directmessage"
        if self.channels is not None and channel_id in self.channels:
            return self.channels[channel_id].name
        return channel_id.lower()

    def set_channel(self, channel_id: str, channel: FakeChannel) -> None:
        if self.channels is None:
            self.channels = {}
        self.channels[channel_id] = channel

    def set_usergroup(self, group_id: str, members: Sequence[str]) -> None:
        self.usergroups[group_id] = list(members)

    def check_post(self, channel: str) -> None:
        """Raise what Slack answers when the bot may not post in ``channel``."""
        if not channel:
            raise SlackError("channel_not_found")
        if channel[:1] in _DM_PREFIXES or self.channels is None:
            return
        info = self.channels.get(channel)
        if info is None:
            raise SlackError("channel_not_found")
        if info.is_archived:
            raise SlackError("is_archived")
        if self.team.bot_user_id in info.members:
            return
        if info.is_private:
            raise SlackError("channel_not_found")  # a private channel is invisible to outsiders
        if "chat:write.public" in self.team.scopes:
            return
        raise SlackError("not_in_channel")

    def check_member(self, channel: str, user: str) -> None:
        """Raise ``user_not_in_channel`` when ``user`` is known not to be in ``channel``."""
        if self.user(user) is None:
            raise SlackError("user_not_found")
        info = self.channels.get(channel) if self.channels is not None else None
        if info is not None and user not in info.members:
            raise SlackError("user_not_in_channel")

    def users_info(self, args: Mapping[str, Any]) -> JSON:
        user_id = text_arg(args.get("user"))
        user = self.user(user_id)
        if user is None:
            raise SlackError("user_not_found")
        try:
            zone = ZoneInfo(user.tz)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        now = datetime.fromtimestamp(self.team.clock(), UTC).astimezone(zone)
        offset = now.utcoffset()
        real_name = user.real_name or user.name
        out: JSON = {
            "id": user_id,
            "team_id": self.team.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": real_name,
            "tz": user.tz,
            "tz_label": now.tzname() or user.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "is_bot": user.is_bot,
            "is_admin": False,
            "profile": {"real_name": real_name, "display_name": user.name},
        }
        if flag_arg(args.get("include_locale")):
            out["locale"] = user.locale
        return {"user": out}

    def usergroups_users_list(self, args: Mapping[str, Any]) -> JSON:
        if not self.plan_has_usergroups:
            raise SlackError("plan_upgrade_required")
        group = text_arg(args.get("usergroup"))
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def conversations_info(self, args: Mapping[str, Any]) -> JSON:
        channel_id = text_arg(args.get("channel"))
        if channel_id[:1] == "D":
            self.team.require_scope("im:read")
            return {"channel": {"id": channel_id, "is_im": True, "is_member": True}}
        bot = self.team.bot_user_id
        info = (
            FakeChannel(name=channel_id.lower(), members=(bot,))
            if self.channels is None
            else self.channels.get(channel_id)
        )
        private = info is not None and info.is_private
        self.team.require_scope("groups:read" if private else "channels:read")
        if info is None or (info.is_private and bot not in info.members):
            raise SlackError("channel_not_found")
        return {
            "channel": {
                "id": channel_id,
                "name": info.name,
                "is_channel": not info.is_private,
                "is_group": False,
                "is_im": False,
                "is_private": info.is_private,
                "is_archived": info.is_archived,
                "is_member": bot in info.members,
                "num_members": len(info.members),
            }
        }

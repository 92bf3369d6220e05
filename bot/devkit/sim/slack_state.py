"""The fake Slack workspace: what each Web API method does to it, without any HTTP.

:class:`Workspace` answers a method call with the JSON Slack would put next to ``"ok": true``,
or raises :class:`~bot.devkit.sim.slack_common.SlackError` carrying Slack's error code.
:mod:`bot.devkit.sim.slack_http` serves it over HTTP; the driver uses the parts' hooks (trigger ids,
response URLs, view acknowledgements) to play what happens in the user's Slack client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.devkit.sim.slack_chat import Chat
from bot.devkit.sim.slack_common import SlackError, Team
from bot.devkit.sim.slack_files import Files
from bot.devkit.sim.slack_model import JSON, FakeChannel, FakeUser
from bot.devkit.sim.slack_people import People
from bot.devkit.sim.slack_views import Views

__all__ = ["METHOD_SCOPES", "SlackError", "Workspace"]

# The bot scope each method needs; conversations.info depends on the channel and checks itself.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
    "conversations.info": None,
    "conversations.history": None,  # channels:history or groups:history, by channel
    "conversations.replies": None,
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
}


class Workspace:
    """One fake workspace with one installed app (the bot). Use it from one event loop."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        scopes: Sequence[str],
        users: Mapping[str, FakeUser] | None,
        usergroups: Mapping[str, Sequence[str]] | None,
        plan_has_usergroups: bool,
        channels: Mapping[str, FakeChannel] | None,
        clock: Callable[[], float],
        blocks_char_limit: int | None = None,
    ) -> None:
        self.team = Team(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            scopes=scopes,
            clock=clock,
        )
        self.people = People(
            self.team,
            users=users,
            usergroups=usergroups,
            plan_has_usergroups=plan_has_usergroups,
            channels=channels,
        )
        self.chat = Chat(self.team, self.people, blocks_char_limit=blocks_char_limit)
        self.views = Views(self.team)
        self.files = Files(self.team, self.people, self.chat)
        self.chat.file_json = self.files.file_json
        self._methods: dict[str, Callable[[Mapping[str, Any]], JSON]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self.chat.chat_postMessage,
            "chat.update": self.chat.chat_update,
            "chat.postEphemeral": self.chat.chat_postEphemeral,
            "chat.getPermalink": self.chat.chat_getPermalink,
            "views.open": self.views.views_open,
            "views.update": self.views.views_update,
            "views.push": self.views.views_push,
            "views.publish": self.views.views_publish,
            "users.info": self.people.users_info,
            "usergroups.users.list": self.people.usergroups_users_list,
            "conversations.info": self.people.conversations_info,
            "conversations.history": self.chat.conversations_history,
            "conversations.replies": self.chat.conversations_replies,
            "files.getUploadURLExternal": self.files.files_getUploadURLExternal,
            "files.completeUploadExternal": self.files.files_completeUploadExternal,
            "files.info": self.files.files_info,
        }

    def call(self, method: str, args: Mapping[str, Any]) -> JSON:
        """Run ``method``; return the success body without ``ok`` or raise SlackError."""
        needed = METHOD_SCOPES[method]
        if needed is not None:
            self.team.require_scope(needed)
        return self._methods[method](args)

    def _auth_test(self, args: Mapping[str, Any]) -> JSON:
        team = self.team
        return {
            "url": f"https://{team.team_domain}.slack.com/",
            "team": team.team_domain,
            "user": "startjobs",
            "team_id": team.team_id,
            "user_id": team.bot_user_id,
            "bot_id": team.bot_id,
            "is_enterprise_install": False,
        }

"""Pieces every part of the fake workspace shares: its identity, ids, clock and errors."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from bot.devkit.sim.slack_model import JSON


class SlackError(Exception):
    """A Web API error: ``{"ok": false, "error": code, **extra}`` with HTTP ``status``."""

    def __init__(self, code: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra

    def body(self) -> JSON:
        return {"ok": False, "error": self.code, **self.extra}


def invalid_arguments(messages: Sequence[str]) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": list(messages)})


def text_arg(value: object) -> str:
    """A string argument; absent means empty."""
    return "" if value is None else str(value)


def flag_arg(value: object) -> bool:
    """A boolean argument: JSON true, or "true"/"1" from a form."""
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


class Team:
    """The workspace and its one installed app, plus the id and time sources."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        scopes: Sequence[str],
        clock: Callable[[], float],
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id.removeprefix("U")
        self.app_id = "A0STARTJOBS"
        self.scopes = tuple(scopes)
        self.clock = clock
        self.root_url = "http://127.0.0.1/"  # set by the server once it listens
        self._counter = itertools.count(1)
        self._last_us = 0

    def seq(self) -> int:
        return next(self._counter)

    def new_id(self, prefix: str) -> str:
        """An id in Slack's shape: prefix letter, then upper-case alphanumerics."""
        return f"{prefix}0{self.seq():09X}"

    def short_id(self) -> str:
        """A generated block_id / action_id, as Slack fills in where the app gave none."""
        return f"b{self.seq():05x}"

    def next_ts(self) -> str:
        """A message ts: the clock in microseconds, strictly increasing like Slack's."""
        us = max(int(self.clock() * 1_000_000), self._last_us + 100)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(self.scopes))

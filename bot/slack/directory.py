"""Who is who in Slack: user-group members and users' timezone and locale, briefly cached.

Permission checks resolve user groups through ``usergroups.users.list``; a cached member list
is trusted for ``ttl`` seconds (a user removed from a group may keep their rights that long).
Lookups that fail deny: a user whose groups cannot be read gets no rights from groups.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class GroupLookupError(LookupError):
    """A user group's members could not be read; the message says what to do.

    A :class:`LookupError`, so code that knows no Slack can catch it by that name."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    tz: str | None
    locale: str | None
    name: str | None = None

    @property
    def drs_language(self) -> str:
        """DRS's X-Language for this user: ``zh-cn`` for Chinese locales, else ``en-us``."""
        return "zh-cn" if (self.locale or "").lower().startswith("zh") else "en-us"


class Directory:
    """Cached look-ups of group members and user profiles through the Web API."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._users: dict[str, tuple[float, UserInfo]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def groups_of(self, user: str, group_ids: Iterable[str]) -> frozenset[str]:
        """The ids among ``group_ids`` whose members include ``user``.

        Raises GroupLookupError if a group cannot be read (plan without user groups, missing
        scope, unknown group): the caller denies and shows the message.
        """
        ids = sorted(set(group_ids))
        known = [self._cached(g) for g in ids]
        if None in known:
            members = await asyncio.gather(*(self._members(g) for g in ids))
        else:  # all cached: answered in place, without a task per group
            members = [m for m in known if m is not None]
        return frozenset(g for g, m in zip(ids, members, strict=True) if user in m)

    async def users_in(self, group_ids: Iterable[str]) -> frozenset[str]:
        """Every member of the groups ``group_ids`` (cached as :meth:`groups_of`'s look-ups
        are); raises GroupLookupError if one cannot be read."""
        ids = sorted(set(group_ids))
        members = await asyncio.gather(*(self._members(g) for g in ids))
        return frozenset().union(*members)

    def _cached(self, group_id: str) -> frozenset[str] | None:
        cached = self._groups.get(group_id)
        if cached and self._clock() - cached[0] < self._ttl:
            return cached[1]
        return None

    async def _members(self, group_id: str) -> frozenset[str]:
        cached = self._cached(group_id)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(group_id, asyncio.Lock())
        async with lock:  # one look-up per group at a time, the others reuse it
            cached = self._cached(group_id)
            if cached is not None:
                return cached
            try:
                resp = await self._client.usergroups_users_list(usergroup=group_id)
            except SlackApiError as exc:
                raise GroupLookupError(_group_error(group_id, exc)) from exc
            members = frozenset(str(u) for u in resp.get("users") or [])
            self._groups[group_id] = (self._clock(), members)
            return members

    def forget_groups(self) -> None:
        self._groups.clear()

    async def tz_of(self, user: str) -> str | None:
        """The service's :meth:`bot.service.ports.Directory.tz_of`."""
        return (await self.user(user)).tz

    async def user(self, user_id: str) -> UserInfo:
        """Timezone and locale of a user; an empty UserInfo when Slack cannot say."""
        cached = self._users.get(user_id)
        if cached and self._clock() - cached[0] < self._ttl:
            return cached[1]
        try:
            resp = await self._client.users_info(user=user_id, include_locale=True)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return UserInfo(tz=None, locale=None)
        raw = resp.get("user") or {}
        info = UserInfo(tz=raw.get("tz"), locale=raw.get("locale"), name=raw.get("name"))
        self._users[user_id] = (self._clock(), info)
        return info


def _group_error(group_id: str, exc: SlackApiError) -> str:
    error = str(exc.response.get("error", "unknown_error"))
    if error == "plan_upgrade_required":
        return (
            f"the policy names user group {group_id}, but this workspace's Slack plan has no "
            "user groups: list user IDs (U...) in the policy instead"
        )
    if error == "missing_scope":
        return "the bot lacks the usergroups:read scope: add it in the app settings and reinstall"
    if error == "no_such_subteam":
        return f"user group {group_id} does not exist in this workspace: fix the policy"
    return f"could not read user group {group_id} ({error})"

"""Modals of the fake workspace: trigger ids, views.open/push/update and view stacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.devkit.sim.slack_common import SlackError, Team, invalid_arguments, text_arg
from bot.devkit.sim.slack_model import JSON, FakeView
from bot.devkit.sim.slack_validate import (
    ArgumentError,
    check_home,
    check_modal,
    fill_ids,
    parse_json_arg,
    view_too_large,
)

TRIGGER_TTL = 3.0  # seconds a trigger_id stays exchangeable
VIEW_STACK_LIMIT = 3


@dataclass
class _Trigger:
    user: str
    issued: float
    view_id: str | None
    used: bool = False


def view_arg(args: Mapping[str, Any], check: Callable[[object], list[str]] = check_modal) -> JSON:
    """The view in ``args["view"]`` (a JSON string or an object), validated by ``check`` (a
    modal's rules unless told)."""
    if args.get("view") in (None, ""):
        raise invalid_arguments(["[ERROR] missing required field: view"])
    try:
        view = parse_json_arg(args["view"], name="view")
    except ArgumentError:
        raise invalid_arguments(["[ERROR] view is not valid JSON"]) from None
    errors = check(view)
    if errors:
        raise invalid_arguments(errors)
    if view_too_large(view):
        raise SlackError("view_too_large")
    assert isinstance(view, dict)  # both checks refuse anything else
    return view


class Views:
    """Every modal opened in the workspace, and the trigger ids that may open one."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self._views: dict[str, FakeView] = {}
        self._homes: dict[str, FakeView] = {}  # user -> their Home tab as last published
        self._triggers: dict[str, _Trigger] = {}

    # ---- reading ---------------------------------------------------------------------------

    def view(self, view_id: str) -> FakeView | None:
        """A modal, or a Home tab, by its id."""
        found = self._views.get(view_id)
        if found is None:
            found = next((h for h in self._homes.values() if h.id == view_id), None)
        return found

    def home(self, user: str) -> FakeView | None:
        """``user``'s Home tab as last published (None: never)."""
        return self._homes.get(user)

    def all(self) -> list[FakeView]:
        return list(self._views.values())

    def stack(self, root_id: str) -> list[FakeView]:
        """The open views of one modal, bottom first."""
        return [v for v in self._views.values() if v.root_view_id == root_id and not v.closed]

    # ---- triggers --------------------------------------------------------------------------

    def issue_trigger_id(self, user: str, *, view_id: str | None = None) -> str:
        """A fresh trigger_id, exchangeable once within TRIGGER_TTL seconds."""
        now = self.team.clock()
        trigger = f"{self.team.seq()}.{int(now)}.{self.team.seq():032x}"
        self._triggers[trigger] = _Trigger(user=user, issued=now, view_id=view_id)
        return trigger

    def _exchange(self, args: Mapping[str, Any]) -> _Trigger:
        trigger_id = text_arg(args.get("trigger_id") or args.get("interactivity_pointer"))
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.team.clock() - trigger.issued > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    # ---- building views --------------------------------------------------------------------

    def _check_external_id(self, view: JSON, keep: str | None = None) -> None:
        ext = view.get("external_id")
        if ext and any(v.external_id == ext and v.id != keep for v in self._views.values()):
            raise SlackError("duplicate_external_id")

    def _render(self, view: JSON, *, view_id: str, root: str, previous: str | None) -> JSON:
        team = self.team
        return {
            "id": view_id,
            "team_id": team.team_id,
            "type": "modal",
            "title": view["title"],
            "close": view.get("close"),
            "submit": view.get("submit"),
            "blocks": fill_ids(view.get("blocks") or [], team.short_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{team.clock():.6f}.{team.seq():08x}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root,
            "previous_view_id": previous,
            "app_id": team.app_id,
            "app_installed_team_id": team.team_id,
            "bot_id": team.bot_id,
        }

    def _open(self, view: JSON, *, user: str, root: str | None, previous: str | None) -> FakeView:
        view_id = self.team.new_id("V")
        rendered = self._render(view, view_id=view_id, root=root or view_id, previous=previous)
        stored = FakeView(
            id=view_id,
            hash=rendered["hash"],
            view=rendered,
            user=user,
            root_view_id=root or view_id,
            previous_view_id=previous,
            external_id=view.get("external_id") or None,
        )
        self._views[view_id] = stored
        return stored

    def _push(self, base: FakeView, view: JSON) -> FakeView:
        stack = self.stack(base.root_view_id)
        if len(stack) >= VIEW_STACK_LIMIT:
            raise SlackError("push_limit_reached")
        return self._open(view, user=base.user, root=base.root_view_id, previous=stack[-1].id)

    def replace_view(self, view_id: str, view: JSON) -> FakeView:
        """Give an open view new contents and a new hash (views.update, response_action)."""
        current = self._views[view_id]
        rendered = self._render(
            view, view_id=view_id, root=current.root_view_id, previous=current.previous_view_id
        )
        updated = replace(
            current,
            hash=rendered["hash"],
            view=rendered,
            external_id=view.get("external_id") or None,
            errors=None,
            updates=current.updates + 1,
        )
        self._views[view_id] = updated
        return updated

    # ---- Web API methods -------------------------------------------------------------------

    def views_open(self, args: Mapping[str, Any]) -> JSON:
        view = view_arg(args)
        self._check_external_id(view)
        trigger = self._exchange(args)
        return {"view": self._open(view, user=trigger.user, root=None, previous=None).view}

    def views_push(self, args: Mapping[str, Any]) -> JSON:
        view = view_arg(args)
        self._check_external_id(view)
        trigger = self._exchange(args)
        base = self._views.get(trigger.view_id) if trigger.view_id else None
        if base is None:
            mine = [v for v in self._views.values() if v.user == trigger.user and not v.closed]
            base = mine[-1] if mine else None
        if base is None or base.closed:
            raise SlackError("not_found")
        return {"view": self._push(base, view).view}

    def views_update(self, args: Mapping[str, Any]) -> JSON:
        view = view_arg(args)
        view_id, external_id = text_arg(args.get("view_id")), text_arg(args.get("external_id"))
        if not view_id and not external_id:
            raise invalid_arguments(["[ERROR] one of view_id or external_id is required"])
        current = (
            self._views.get(view_id)
            if view_id
            else next((v for v in self._views.values() if v.external_id == external_id), None)
        )
        if current is None or current.closed:
            raise SlackError("not_found")
        wanted_hash = text_arg(args.get("hash"))
        if wanted_hash and wanted_hash != current.hash:
            raise SlackError("hash_conflict")
        self._check_external_id(view, keep=current.id)
        return {"view": self.replace_view(current.id, view).view}

    def views_publish(self, args: Mapping[str, Any]) -> JSON:
        """Publish a user's Home tab: the whole view, replaced (its id stays the same)."""
        user = text_arg(args.get("user_id"))
        if not user:
            raise invalid_arguments(["[ERROR] missing required field: user_id"])
        view = view_arg(args, check_home)
        current = self._homes.get(user)
        wanted_hash = text_arg(args.get("hash"))
        if wanted_hash and current is not None and wanted_hash != current.hash:
            raise SlackError("hash_conflict")
        view_id = current.id if current is not None else self.team.new_id("V")
        team = self.team
        rendered: JSON = {
            "id": view_id,
            "team_id": team.team_id,
            "type": "home",
            "blocks": fill_ids(view.get("blocks") or [], team.short_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{team.clock():.6f}.{team.seq():08x}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": team.app_id,
            "app_installed_team_id": team.team_id,
            "bot_id": team.bot_id,
        }
        self._homes[user] = FakeView(
            id=view_id,
            hash=rendered["hash"],
            view=rendered,
            user=user,
            root_view_id=view_id,
            previous_view_id=None,
            external_id=view.get("external_id") or None,
            updates=current.updates + 1 if current is not None else 0,
        )
        return {"view": rendered}

    # ---- what the user's client does -------------------------------------------------------

    def close(self, view_id: str) -> None:
        """The user closed this view (or a submission did): it leaves its stack."""
        current = self._views.get(view_id)
        if current is not None:
            self._views[view_id] = replace(current, closed=True)

    def clear(self, view_id: str) -> None:
        """Close every open view of the modal ``view_id`` belongs to."""
        current = self._views.get(view_id)
        if current is not None:
            for other in self.stack(current.root_view_id):
                self.close(other.id)

    def apply_ack(self, view_id: str, body: Mapping[str, Any] | None) -> None:
        """What Slack does with the app's answer to a view_submission.

        ``errors`` keeps the view open with the messages; ``update`` replaces it; ``push``
        stacks a new view on it; ``clear`` closes the whole modal; anything else (an empty
        ack) closes just this view. Raises SlackError when the answer holds an invalid view,
        as Slack then shows the user an error instead.
        """
        action = body.get("response_action") if body else None
        current = self._views[view_id]
        if action == "errors" and body is not None:
            self._views[view_id] = replace(current, errors=dict(body.get("errors") or {}))
        elif action == "update" and body is not None:
            self.replace_view(view_id, view_arg(body))
        elif action == "push" and body is not None:
            self._push(current, view_arg(body))
        elif action == "clear":
            self.clear(view_id)
        else:
            self.close(view_id)

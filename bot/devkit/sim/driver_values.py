"""Turns a test's simple answers into what Slack sends: ``view.state.values``, and the
``actions`` entry of a click (:func:`find_element`, :func:`action_json`).

A test says ``{"jobs": {"job_ids": "a b c"}, "when": {"start_at": 1764554400}}``; Slack sends
``{"jobs": {"job_ids": {"type": "plain_text_input", "value": "a b c"}}, ...}``. The element
type comes from the view the bot opened, so a test cannot send a shape the view would not
produce. Elements a test leaves out carry their initial value, as an untouched form does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.devkit.sim.slack_model import JSON, FakeFile
from bot.devkit.sim.slack_validate import STATEFUL_ELEMENTS, interactive_elements

FileLookup = Callable[[str], JSON]

# Element type -> the state key holding its selection, for selections that are plain ids.
_ID_KEYS = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
}
_ID_INITIAL = {
    "users_select": "initial_user",
    "conversations_select": "initial_conversation",
    "channels_select": "initial_channel",
    "multi_users_select": "initial_users",
    "multi_conversations_select": "initial_conversations",
    "multi_channels_select": "initial_channels",
}
_SCALARS = {
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}
_MISSING = object()


def _all_options(element: Mapping[str, Any]) -> list[JSON]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option(element: Mapping[str, Any], value: object) -> JSON:
    """The option a user picked: given as the option itself, or by its value."""
    if isinstance(value, Mapping):
        return dict(value)
    if element["type"] in ("external_select", "multi_external_select"):
        # External options live in the app, not the view: make one that carries the value.
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    for option in _all_options(element):
        if option.get("value") == value:
            return dict(option)
    raise ValueError(f"no option with value {value!r} in element {element.get('action_id')!r}")


def _rich_text(value: object) -> object:
    if isinstance(value, str):
        section = {"type": "rich_text_section", "elements": [{"type": "text", "text": value}]}
        return {"type": "rich_text", "elements": [section]}
    return value


def _element_state(element: Mapping[str, Any], value: object, files: FileLookup) -> JSON:
    """One element's entry in ``state.values``; ``value`` may be omitted (initial value)."""
    kind = str(element["type"])
    out: JSON = {"type": kind}
    untouched = value is _MISSING
    if kind in ("static_select", "external_select", "radio_buttons"):
        picked = element.get("initial_option") if untouched else value
        out["selected_option"] = None if picked is None else _option(element, picked)
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        chosen = _listed(element.get("initial_options") if untouched else value)
        out["selected_options"] = [_option(element, p) for p in chosen]
    elif kind in _ID_KEYS:
        out[_ID_KEYS[kind]] = element.get(_ID_INITIAL[kind]) if untouched else value
    elif kind in _SCALARS:
        key, initial = _SCALARS[kind]
        out[key] = element.get(initial) if untouched else value
    elif kind == "file_input":
        out["files"] = [
            files(item.id if isinstance(item, FakeFile) else str(item))
            for item in _listed(None if untouched else value)
        ]
    elif kind == "rich_text_input":
        out["rich_text_value"] = _rich_text(element.get("initial_value") if untouched else value)
    else:  # text, number, email and url inputs
        picked = element.get("initial_value") if untouched else value
        out["value"] = None if picked is None else str(picked)
    return out


def _listed(value: object) -> Sequence[object]:
    """A multi-value answer: one value, a list of them, or None for nothing chosen."""
    if value is None:
        return []
    if isinstance(value, str | Mapping | FakeFile):
        return [value]
    if isinstance(value, Sequence):
        return value
    raise ValueError(f"expected a value or a list of values, got {value!r}")


def state_values(
    view: Mapping[str, Any],
    values: Mapping[str, Mapping[str, object]],
    files: FileLookup,
) -> dict[str, dict[str, JSON]]:
    """``view.state.values`` for a submission of ``view`` with the answers in ``values``.

    Raises ValueError when ``values`` names a block or action the view does not have, or
    an option value none of the element's options carries.
    """
    known: dict[str, dict[str, Mapping[str, Any]]] = {}
    for block_id, element in interactive_elements(view.get("blocks") or []):
        if element.get("type") in STATEFUL_ELEMENTS:
            known.setdefault(block_id, {})[str(element.get("action_id"))] = element
    for block_id, given in values.items():
        for action_id in given:
            if action_id not in known.get(block_id, {}):
                raise ValueError(f"the view has no input {block_id!r}/{action_id!r}")
    state: dict[str, dict[str, JSON]] = {}
    for block_id, elements in known.items():
        answers = values.get(block_id, {})
        for action_id, known_element in elements.items():
            value = answers.get(action_id, _MISSING)
            entry = _element_state(known_element, value, files)
            state.setdefault(block_id, {})[action_id] = entry
    return state


def find_element(
    blocks: list[Any], action_id: str, block_id: str | None, value: str
) -> tuple[str, JSON]:
    """The element to click; among several with that action_id, the one carrying ``value``."""
    candidates = [
        (bid, element)
        for bid, element in interactive_elements(blocks)
        if element.get("action_id") == action_id and (block_id is None or bid == block_id)
    ]
    if not candidates:
        raise ValueError(f"no element with action_id {action_id!r} (block {block_id!r})")
    for bid, element in candidates:
        if element.get("value") == value:
            return bid, element
    return candidates[0]


def action_json(element: JSON, block_id: str, value: str) -> JSON:
    """The ``actions[0]`` entry Slack sends for an interaction with ``element``."""
    kind = str(element.get("type"))
    action: JSON = {
        "type": kind,
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if kind in ("static_select", "overflow", "radio_buttons", "external_select"):
        options = list(element.get("options") or [])
        picked = next((o for o in options if o.get("value") == value), None)
        action["selected_option"] = picked or {
            "text": {"type": "plain_text", "text": value},
            "value": value,
        }
        return action
    if "text" in element:
        action["text"] = element["text"]
    if "style" in element:
        action["style"] = element["style"]
    action["value"] = value
    return action

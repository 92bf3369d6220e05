"""Simple form answers become Slack's view.state.values shape, typed by the view's elements."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devkit.sim.driver_values import state_values
from bot.devkit.sim.slack_model import FakeFile


def opt(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value.upper()}, "value": value}


def view_with(*elements: dict[str, Any]) -> dict[str, Any]:
    blocks = [
        {
            "type": "input",
            "block_id": f"b{i}",
            "label": {"type": "plain_text", "text": "x"},
            "element": element,
        }
        for i, element in enumerate(elements)
    ]
    return {"type": "modal", "blocks": blocks}


def no_files(file_id: str) -> dict[str, Any]:
    raise AssertionError(f"unexpected file lookup {file_id}")


def test_selects_find_options_by_value_including_option_groups() -> None:
    view = view_with(
        {"type": "static_select", "action_id": "one", "options": [opt("a"), opt("b")]},
        {
            "type": "multi_static_select",
            "action_id": "many",
            "option_groups": [
                {"label": {"type": "plain_text", "text": "g"}, "options": [opt("x"), opt("y")]}
            ],
        },
        {"type": "radio_buttons", "action_id": "radio", "options": [opt("now"), opt("later")]},
        {"type": "checkboxes", "action_id": "checks", "options": [opt("c1"), opt("c2")]},
    )
    state = state_values(
        view,
        {
            "b0": {"one": "b"},
            "b1": {"many": ["y", "x"]},
            "b2": {"radio": "later"},
            "b3": {"checks": "c2"},
        },
        no_files,
    )
    assert state["b0"]["one"] == {"type": "static_select", "selected_option": opt("b")}
    assert state["b1"]["many"]["selected_options"] == [opt("y"), opt("x")]
    assert state["b2"]["radio"]["selected_option"] == opt("later")
    assert state["b3"]["checks"] == {"type": "checkboxes", "selected_options": [opt("c2")]}


def test_untouched_elements_carry_their_initial_values() -> None:
    view = view_with(
        {"type": "plain_text_input", "action_id": "text", "initial_value": "9a47"},
        {
            "type": "static_select",
            "action_id": "sel",
            "options": [opt("a")],
            "initial_option": opt("a"),
        },
        {"type": "checkboxes", "action_id": "cb", "options": [opt("c")], "initial_options": []},
        {"type": "datetimepicker", "action_id": "when", "initial_date_time": 1_700_000_000},
        {"type": "users_select", "action_id": "who", "initial_user": "U1"},
        {"type": "plain_text_input", "action_id": "empty"},
    )
    state = state_values(view, {}, no_files)
    assert state["b0"]["text"]["value"] == "9a47"
    assert state["b1"]["sel"]["selected_option"] == opt("a")
    assert state["b2"]["cb"]["selected_options"] == []
    assert state["b3"]["when"] == {"type": "datetimepicker", "selected_date_time": 1_700_000_000}
    assert state["b4"]["who"] == {"type": "users_select", "selected_user": "U1"}
    assert state["b5"]["empty"] == {"type": "plain_text_input", "value": None}


def test_other_element_types() -> None:
    view = view_with(
        {"type": "number_input", "action_id": "n", "is_decimal_allowed": False},
        {"type": "timepicker", "action_id": "t"},
        {"type": "datepicker", "action_id": "d"},
        {"type": "multi_users_select", "action_id": "mu"},
        {"type": "external_select", "action_id": "ext"},
        {"type": "rich_text_input", "action_id": "rt"},
    )
    state = state_values(
        view,
        {
            "b0": {"n": 42},
            "b1": {"t": "10:30"},
            "b2": {"d": "2026-12-01"},
            "b3": {"mu": ["U1", "U2"]},
            "b4": {"ext": "cn-north-4"},
            "b5": {"rt": "hello"},
        },
        no_files,
    )
    assert state["b0"]["n"] == {"type": "number_input", "value": "42"}
    assert state["b1"]["t"]["selected_time"] == "10:30"
    assert state["b2"]["d"]["selected_date"] == "2026-12-01"
    assert state["b3"]["mu"]["selected_users"] == ["U1", "U2"]
    assert state["b4"]["ext"]["selected_option"]["value"] == "cn-north-4"
    section = state["b5"]["rt"]["rich_text_value"]["elements"][0]
    assert section["elements"][0] == {"type": "text", "text": "hello"}


def test_file_input_accepts_ids_and_fake_files() -> None:
    view = view_with({"type": "file_input", "action_id": "f"})
    attached = FakeFile(id="F1", filename="a.txt", title="a.txt", content=b"x", user="U1")
    looked_up: list[str] = []

    def lookup(file_id: str) -> dict[str, Any]:
        looked_up.append(file_id)
        return {"id": file_id}

    state = state_values(view, {"b0": {"f": [attached, "F2"]}}, lookup)
    assert state["b0"]["f"] == {"type": "file_input", "files": [{"id": "F1"}, {"id": "F2"}]}
    assert looked_up == ["F1", "F2"]


def test_buttons_and_static_text_are_not_state() -> None:
    view = {
        "type": "modal",
        "blocks": [
            {
                "type": "actions",
                "block_id": "act",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "go",
                        "text": {"type": "plain_text", "text": "Go"},
                    },
                    {"type": "datepicker", "action_id": "day"},
                ],
            },
            {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "hi"}},
        ],
    }
    assert state_values(view, {}, no_files) == {
        "act": {"day": {"type": "datepicker", "selected_date": None}}
    }


def test_answers_the_view_cannot_take_are_refused() -> None:
    view = view_with({"type": "static_select", "action_id": "sel", "options": [opt("a")]})
    with pytest.raises(ValueError, match="no input"):
        state_values(view, {"b0": {"other": "a"}}, no_files)
    with pytest.raises(ValueError, match="no input"):
        state_values(view, {"zz": {"sel": "a"}}, no_files)
    with pytest.raises(ValueError, match="no option"):
        state_values(view, {"b0": {"sel": "missing"}}, no_files)

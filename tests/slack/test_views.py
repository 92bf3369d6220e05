"""Modals: within Slack's limits, the right inputs with the right ids, user text escaped."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from blockkit_checks import all_text, check_view, mrkdwn_text
from sample_requests import EVIL, EVIL_RENDERED, NOW, job, job_id, request

from bot.core.request import Approval, RequestState
from bot.slack.ui import decisions, views
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When

PROD = views.ProjectChoice("prod", "ap-southeast-1", Approval.TWO_PERSON)
STAGING = views.ProjectChoice("staging", "eu-west-101", Approval.NONE)


def _start(projects: list[views.ProjectChoice] | None = None, **prefill: Any) -> dict[str, Any]:
    view = views.start_modal(
        projects if projects is not None else [PROD, STAGING],
        views.StartPrefill(**prefill),
        private_metadata='{"channel": "C0OPS"}',
        max_jobs=1000,
    )
    check_view(view)
    return view


def _block(view: dict[str, Any], block_id: BlockId) -> dict[str, Any]:
    found: list[dict[str, Any]] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    assert len(found) == 1
    return found[0]


# --- start modal ---------------------------------------------------------------------------------


def test_start_modal_inputs_ids_and_optionality() -> None:
    view = _start()
    assert view["callback_id"] == CallbackId.START
    assert view["private_metadata"] == '{"channel": "C0OPS"}'
    expected = {
        BlockId.PROJECT: (ActionId.PROJECT, "static_select", False),
        BlockId.JOB_IDS: (ActionId.JOB_IDS, "plain_text_input", True),
        BlockId.WHEN: (ActionId.WHEN, "radio_buttons", False),
        BlockId.START_AT: (ActionId.START_AT, "datetimepicker", True),
        BlockId.REASON: (ActionId.REASON, "plain_text_input", False),
    }
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert set(inputs) == set(expected)
    for block_id, (action_id, kind, optional) in expected.items():
        block = inputs[block_id]
        assert block["element"]["action_id"] == action_id
        assert block["element"]["type"] == kind
        assert block["optional"] is optional
    job_box = inputs[BlockId.JOB_IDS]
    assert job_box["element"]["multiline"] is True
    assert job_box["element"]["max_length"] == 3000
    assert "up to 1,000 jobs per request" in job_box["hint"]["text"]
    assert [o["value"] for o in inputs[BlockId.WHEN]["element"]["options"]] == [When.NOW, When.AT]


def test_project_options_say_region_and_approval() -> None:
    select = _block(_start(), BlockId.PROJECT)["element"]
    options = {o["value"]: o["description"]["text"] for o in select["options"]}
    assert options == {
        "prod": "ap-southeast-1 · needs an approver",
        "staging": "eu-west-101 · starts on submit",
    }
    assert "initial_option" not in select  # two projects, none prefilled: the user chooses


def test_prefilled_project_is_preselected_when_offered() -> None:
    select = _block(_start(project="staging"), BlockId.PROJECT)["element"]
    assert select["initial_option"]["value"] == "staging"
    not_offered = _block(_start(project="secret"), BlockId.PROJECT)["element"]
    assert "initial_option" not in not_offered


def test_single_project_is_preselected() -> None:
    select = _block(_start([PROD]), BlockId.PROJECT)["element"]
    assert select["initial_option"]["value"] == "prod"


def test_no_projects_is_refused() -> None:
    with pytest.raises(ValueError, match="no projects"):
        views.start_modal([], views.StartPrefill(), private_metadata="", max_jobs=10)


def test_many_projects_stay_within_the_option_limit() -> None:
    projects = [views.ProjectChoice(f"p{i:03d}", "cn-north-4", Approval.NONE) for i in range(150)]
    select = _block(_start(projects, project="p149"), BlockId.PROJECT)["element"]
    assert len(select["options"]) == 100


def test_prefill_values_are_in_the_inputs() -> None:
    at = int(NOW + 3600)
    view = _start(job_text=f"{job_id(1)}\n{job_id(2)}", start_at=at, reason="CHG-1")
    assert _block(view, BlockId.JOB_IDS)["element"]["initial_value"] == f"{job_id(1)}\n{job_id(2)}"
    assert _block(view, BlockId.START_AT)["element"]["initial_date_time"] == at
    assert _block(view, BlockId.WHEN)["element"]["initial_option"]["value"] == When.AT
    assert _block(view, BlockId.REASON)["element"]["initial_value"] == "CHG-1"


def test_without_a_time_now_is_chosen() -> None:
    view = _start()
    assert _block(view, BlockId.WHEN)["element"]["initial_option"]["value"] == When.NOW
    assert "initial_date_time" not in _block(view, BlockId.START_AT)["element"]


def test_too_long_job_text_is_cut_at_a_separator_and_said_so() -> None:
    ids = [job_id(i) for i in range(200)]
    view = _start(job_text="\n".join(ids))
    kept = _block(view, BlockId.JOB_IDS)["element"]["initial_value"]
    assert len(kept) <= 3000
    assert all(line in ids for line in kept.split("\n"))  # no id cut in half
    assert "longer than the box holds" in all_text(view["blocks"])


def test_notices_come_first_and_are_escaped() -> None:
    view = _start(notices=("2 duplicate job IDs collapsed.", EVIL))
    assert view["blocks"][0]["type"] == "context"
    assert "duplicate job IDs collapsed" in view["blocks"][0]["elements"][0]["text"]
    assert EVIL_RENDERED in mrkdwn_text(view["blocks"])
    assert "<!channel>" not in mrkdwn_text(view["blocks"])


def test_hostile_prefill_stays_text() -> None:
    view = _start(job_text=EVIL, reason=EVIL, project=EVIL)
    # Input values are shown as typed (Slack does not parse them), and no mrkdwn carries them.
    assert _block(view, BlockId.REASON)["element"]["initial_value"] == EVIL
    assert "<!channel>" not in mrkdwn_text(view["blocks"])


def test_name_search_and_upload_inputs_on_request() -> None:
    view = _start(name_pattern="mig-shop-*", status_filter="CONFIGURATION")
    assert _block(view, BlockId.NAME_PATTERN)["element"]["initial_value"] == "mig-shop-*"
    assert _block(view, BlockId.STATUS_FILTER)["element"]["initial_value"] == "CONFIGURATION"
    plain = _start()
    assert all(b.get("block_id") != BlockId.NAME_PATTERN for b in plain["blocks"])
    with_upload = views.start_modal(
        [PROD], views.StartPrefill(), private_metadata="", max_jobs=5, by_name=True, upload=True
    )
    check_view(with_upload)
    upload = _block(with_upload, BlockId.UPLOAD)
    assert upload["element"]["type"] == "file_input"
    assert upload["optional"] is True
    assert _block(with_upload, BlockId.NAME_PATTERN)["optional"] is True


def test_job_box_hint_says_what_the_box_holds_and_where_more_jobs_go() -> None:
    hint = _block(_start(), BlockId.JOB_IDS)["hint"]["text"]
    assert "3,000 characters, about 80 IDs" in hint
    assert "1,000 jobs" in hint  # no longer promised for the box alone
    full = views.start_modal(
        [PROD],
        views.StartPrefill(),
        private_metadata="",
        max_jobs=1000,
        pick=True,
        by_name=True,
        upload=True,
    )
    check_view(full)
    hint = _block(full, BlockId.JOB_IDS)["hint"]["text"]
    assert "for more (up to 1,000 per request)" in hint
    assert "pick them by name, select them by name pattern or upload a list" in hint
    small = views.start_modal([PROD], views.StartPrefill(), private_metadata="", max_jobs=50)
    assert "up to 50 jobs per request" in _block(small, BlockId.JOB_IDS)["hint"]["text"]


def test_a_start_time_to_change_is_kept_and_flagged_on_its_field() -> None:
    past = int(NOW - 3600)
    view = _start(start_at=past, start_notice="it is in the past")
    assert _block(view, BlockId.WHEN)["element"]["initial_option"]["value"] == When.AT
    field = _block(view, BlockId.START_AT)
    assert field["element"]["initial_date_time"] == past
    assert "it is in the past" in field["hint"]["text"]
    assert "it is in the past" not in _block(_start(), BlockId.START_AT)["hint"]["text"]


def test_private_metadata_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="private_metadata"):
        views.start_modal([PROD], views.StartPrefill(), private_metadata="x" * 3001, max_jobs=5)


# --- approve and reject --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 10, 11, 1000, 5000])
def test_approve_modal_within_limits(size: int) -> None:
    view = decisions.approve_modal(request(size), now=NOW)
    check_view(view)
    assert view["callback_id"] == CallbackId.APPROVE
    assert view["private_metadata"] == "r-7f3a9c"
    assert view["submit"]["text"] == "Approve and start"
    text = all_text(view["blocks"])
    assert f"*{size:,} DRS job" in text
    if size > 10:
        assert f"… and {size - 10:,} more" in text


def test_approve_modal_restates_what_will_happen() -> None:
    req = request(
        3,
        jobs=(job(0, prepaid=True), job(1, status_at_request=None), job(2)),
        start_time_ms=int(NOW + 5400) * 1000,
    )
    view = decisions.approve_modal(req, now=NOW)
    text = all_text(view["blocks"])
    for piece in (
        "<@U01ALICE>",
        "*prod*",
        "`ap-southeast-1`",
        "mig-shop-0000",
        "1 prepaid job",
        "places and pays an order",
        "1 job unknown to DRS",
        "CHG-1234",
        "in 1 h 30 min",
        f"<!date^{int(NOW + 5400)}^",
    ):
        assert piece in text, piece
    comment = _block(view, BlockId.COMMENT)
    assert comment["optional"] is True
    assert comment["element"]["action_id"] == ActionId.COMMENT


def test_approve_modal_warns_when_the_scheduled_time_has_passed() -> None:
    view = decisions.approve_modal(request(2, start_time_ms=int(NOW - 10) * 1000), now=NOW)
    assert "this time has passed" in all_text(view["blocks"])


def test_approve_modal_escapes_request_text() -> None:
    req = dataclasses.replace(
        request(3, jobs=(job(0, name=EVIL, error_msg=EVIL), job(1, status_at_request=EVIL))),
        reason=EVIL,
        project=EVIL,
    )
    view = decisions.approve_modal(req, now=NOW)
    check_view(view)
    assert "<!channel>" not in mrkdwn_text(view["blocks"])
    assert EVIL_RENDERED in mrkdwn_text(view["blocks"])


def test_reject_modal_requires_a_reason() -> None:
    view = decisions.reject_modal(request(3))
    check_view(view)
    assert view["callback_id"] == CallbackId.REJECT
    assert view["private_metadata"] == "r-7f3a9c"
    assert view["submit"]["text"] == "Reject"
    reason = _block(view, BlockId.COMMENT)
    assert reason["optional"] is False
    assert reason["element"]["action_id"] == ActionId.COMMENT
    check_view(decisions.reject_modal(request(5000, state=RequestState.PENDING), now=NOW))


# --- small modals --------------------------------------------------------------------------------


def test_loading_and_notice_modals() -> None:
    loading = views.loading_modal()
    check_view(loading)
    assert "submit" not in loading
    notice = views.notice_modal("Cannot start jobs because of a long title", EVIL)
    check_view(notice)
    assert len(notice["title"]["text"]) <= 24
    assert EVIL_RENDERED in mrkdwn_text(notice["blocks"])

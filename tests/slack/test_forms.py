from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.slack.ui.forms import channel_from_metadata, channel_metadata, read_start_form
from bot.slack.ui.ids import ActionId, BlockId, When

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
JOB = "9a470239-2308-4bb5-a6bc-1040402fjb21"


def values(*, project: object = "prod", jobs: object = JOB, at: object = None) -> dict[str, object]:
    v: dict[str, object] = {
        BlockId.PROJECT.value: {ActionId.PROJECT.value: {"selected_option": {"value": project}}},
        BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: {"value": jobs}},
        BlockId.REASON.value: {ActionId.REASON.value: {"value": "CHG-1"}},
        BlockId.WHEN.value: {
            ActionId.WHEN.value: {"selected_option": {"value": (When.AT if at else When.NOW).value}}
        },
    }
    if at is not None:
        v[BlockId.START_AT.value] = {ActionId.START_AT.value: {"selected_date_time": at}}
    return v


def test_valid_form_gives_values() -> None:
    form = read_start_form(values(), allowed_projects=frozenset({"prod"}), max_jobs=10, now=NOW)
    assert form.ok
    assert form.job_ids == (JOB,)
    assert form.start_time_ms is None


def test_schedule_beyond_the_policy_lead_is_refused() -> None:
    in_3_days = int((NOW + timedelta(days=3)).timestamp())
    ok = read_start_form(
        values(at=in_3_days), allowed_projects=frozenset({"prod"}), max_jobs=10, now=NOW
    )
    assert ok.ok
    assert ok.start_time_ms == in_3_days * 1000
    short = read_start_form(
        values(at=in_3_days),
        allowed_projects=frozenset({"prod"}),
        max_jobs=10,
        now=NOW,
        max_lead=timedelta(days=1),
    )
    assert BlockId.START_AT.value in short.errors
    assert "ahead" in short.errors[BlockId.START_AT.value]


def test_start_time_errors_are_in_the_persons_timezone() -> None:
    an_hour_ago = int((NOW - timedelta(hours=1)).timestamp())
    form = read_start_form(
        values(at=an_hour_ago),
        allowed_projects=frozenset({"prod"}),
        max_jobs=10,
        now=NOW,
        tz="Asia/Shanghai",
    )
    assert form.errors[BlockId.START_AT.value] == (
        "The start time 2026-11-28 19:00 Asia/Shanghai is in the past "
        "(it is now 2026-11-28 20:00 Asia/Shanghai)."
    )
    far = int((NOW + timedelta(days=3)).timestamp())
    form = read_start_form(
        values(at=far),
        allowed_projects=frozenset({"prod"}),
        max_jobs=10,
        now=NOW,
        max_lead=timedelta(days=1),
        tz="America/New_York",
    )
    error = form.errors[BlockId.START_AT.value]
    assert "2026-12-01 07:00 America/New_York" in error
    assert "the latest allowed is 2026-11-29 07:00 America/New_York" in error
    assert "UTC" not in error


def test_garbage_payload_values_become_field_errors() -> None:
    for junk in (None, [], "x", {BlockId.PROJECT.value: 5}, values(project=7, jobs=["a"])):
        form = read_start_form(junk, allowed_projects=frozenset({"prod"}), max_jobs=10, now=NOW)
        assert not form.ok
        assert BlockId.PROJECT.value in form.errors or BlockId.JOB_IDS.value in form.errors


def test_metadata_keeps_only_a_channel() -> None:
    assert channel_from_metadata(channel_metadata("C0OPS")) == "C0OPS"
    assert channel_from_metadata('{"channel": "U123"}') is None
    assert channel_from_metadata("not json") is None
    assert channel_from_metadata(None) is None

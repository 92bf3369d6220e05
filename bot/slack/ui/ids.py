"""Every Block Kit identifier the bot uses, one enum per kind.

Builders, listeners and tests refer to these members and never spell the strings out, so a
renamed id cannot leave a listener waiting for an action that no button sends any more.
Values carry a ``sj_``/``startjobs_`` prefix so they are recognisable in Slack's payloads and
cannot collide with another app's ids in shared logs.

Buttons carry the request id as their ``value`` and nothing else: a listener looks the request
up in the store and re-checks every permission, it never trusts what a button says.
"""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """``action_id`` of interactive elements (buttons, inputs)."""

    APPROVE = "sj_approve"
    REJECT = "sj_reject"
    CANCEL = "sj_cancel"
    RETRY = "sj_retry"
    CONFIRM = "sj_confirm"
    START_NOW = "sj_start_now"
    FREEZE_OVERRIDE = "sj_freeze_override"
    OVERRIDE_REASON = "sj_override_reason"
    PROJECT = "sj_project"
    JOB_IDS = "sj_job_ids"
    WHEN = "sj_when"
    START_AT = "sj_start_at"
    REASON = "sj_reason"
    COMMENT = "sj_comment"
    JOB_PICK = "sj_job_pick"
    NAME_PATTERN = "sj_name_pattern"
    STATUS_FILTER = "sj_status_filter"
    TYPE_FILTER = "sj_type_filter"
    UPLOAD = "sj_upload"
    RUN_PRECHECK = "sj_run_precheck"
    HOME_OLDER = "sj_home_older"  # the App Home: a section's next page
    HOME_NEWEST = "sj_home_newest"  # the App Home: a section back at its newest


class BlockId(StrEnum):
    """``block_id`` of blocks; inputs are read from ``view.state.values[block_id][action_id]``."""

    PROJECT = "sj_project"
    JOB_IDS = "sj_job_ids"
    WHEN = "sj_when"
    START_AT = "sj_start_at"
    REASON = "sj_reason"
    COMMENT = "sj_comment"
    JOB_PICK = "sj_job_pick"
    NAME_PATTERN = "sj_name_pattern"
    STATUS_FILTER = "sj_status_filter"
    TYPE_FILTER = "sj_type_filter"
    UPLOAD = "sj_upload"
    NOTICES = "sj_notices"
    REQUEST_ACTIONS = "sj_request_actions"
    RETRY_ACTIONS = "sj_retry_actions"
    START_NOW = "sj_start_now"
    FREEZE_OVERRIDE = "sj_freeze_override"
    OVERRIDE_REASON = "sj_override_reason"


class CallbackId(StrEnum):
    """``callback_id`` of modals: tells the view-submission listeners apart."""

    START = "startjobs_start"
    APPROVE = "startjobs_approve"
    REJECT = "startjobs_reject"


HINT_VALUE = "sj_hint"
"""``value`` of an option that only says something ("choose a project first"): never a job."""


class When(StrEnum):
    """Values of the start modal's "when" radio buttons."""

    NOW = "now"
    AT = "at"

"""Reading and validating modal submissions (pure: payload dicts in, values or errors out).

Slack's ``view.state.values`` is ``{block_id: {action_id: element_state}}``. Anything may be
missing or of the wrong type in a forged or stale payload; every reader here tolerates that and
reports a problem on the field instead of raising.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.core.jobids import parse_job_ids
from bot.core.times import check_when, to_epoch_ms
from bot.slack.ids import ActionId, BlockId, When

REASON_MAX = 2000
COMMENT_MAX = 2000


@dataclass(frozen=True, slots=True)
class StartForm:
    """The start modal, validated: either ``errors`` (block_id -> message) or usable values."""

    project: str | None
    job_ids: tuple[str, ...]
    start_time_ms: int | None
    reason: str
    errors: dict[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


def _element(values: Any, block: BlockId, action: ActionId) -> Mapping[str, Any]:
    if not isinstance(values, Mapping):
        return {}
    b = values.get(block.value)
    if not isinstance(b, Mapping):
        return {}
    e = b.get(action.value)
    return e if isinstance(e, Mapping) else {}


def text_value(values: Any, block: BlockId, action: ActionId) -> str:
    v = _element(values, block, action).get("value")
    return v.strip() if isinstance(v, str) else ""


def selected_value(values: Any, block: BlockId, action: ActionId) -> str | None:
    opt = _element(values, block, action).get("selected_option")
    if isinstance(opt, Mapping) and isinstance(opt.get("value"), str):
        return str(opt["value"])
    return None


def datetime_value(values: Any, block: BlockId, action: ActionId) -> int | None:
    v = _element(values, block, action).get("selected_date_time")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def read_start_form(
    values: Any,
    *,
    allowed_projects: frozenset[str],
    max_jobs: int,
    now: datetime,
) -> StartForm:
    """Validate the start modal's values; every problem is reported on its own field."""
    errors: dict[str, str] = {}
    notices: list[str] = []

    project = selected_value(values, BlockId.PROJECT, ActionId.PROJECT)
    if project is None:
        errors[BlockId.PROJECT] = "Choose a project."
    elif project not in allowed_projects:
        errors[BlockId.PROJECT] = (
            f"You may not request in {project!r} from this channel. "
            "Ask an admin to add you to its requesters."
        )

    job_text = text_value(values, BlockId.JOB_IDS, ActionId.JOB_IDS)
    parsed = parse_job_ids(job_text, max_jobs=max_jobs)
    if not parsed.ok:
        errors[BlockId.JOB_IDS] = _fit(" ".join(parsed.problems()))
    elif parsed.duplicates:
        notices.append(f"{len(parsed.duplicates)} duplicate job ID(s) were collapsed.")

    start_time_ms: int | None = None
    when = selected_value(values, BlockId.WHEN, ActionId.WHEN) or When.NOW.value
    if when == When.AT.value:
        at = datetime_value(values, BlockId.START_AT, ActionId.START_AT)
        if at is None:
            errors[BlockId.START_AT] = "Pick the date and time to start at, or choose Now."
        else:
            moment = datetime.fromtimestamp(at, UTC)
            problem = check_when(moment, now=now)
            if problem:
                errors[BlockId.START_AT] = _fit(f"The start time {problem}.")
            else:
                start_time_ms = to_epoch_ms(moment)

    reason = text_value(values, BlockId.REASON, ActionId.REASON)
    if not reason:
        errors[BlockId.REASON] = "Give a reason or a change ticket: approvers need it."
    elif len(reason) > REASON_MAX:
        errors[BlockId.REASON] = f"Keep the reason under {REASON_MAX} characters."

    return StartForm(
        project=project,
        job_ids=parsed.ids,
        start_time_ms=start_time_ms,
        reason=reason,
        errors={str(k): v for k, v in errors.items()},
        notices=tuple(notices),
    )


def _fit(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def channel_metadata(channel_id: str) -> str:
    """``private_metadata`` of the start modal: only the channel the command came from."""
    return json.dumps({"channel": channel_id})


def channel_from_metadata(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    channel = data.get("channel") if isinstance(data, dict) else None
    return channel if isinstance(channel, str) and channel[:1] in ("C", "G", "D") else None

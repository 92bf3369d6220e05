"""Reading and validating modal submissions (pure: payload dicts in, values or errors out).

Slack's ``view.state.values`` is ``{block_id: {action_id: element_state}}``. Anything may be
missing or of the wrong type in a forged or stale payload; every reader here tolerates that and
reports a problem on the field instead of raising.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.jobids import JOB_ID_RE, parse_job_ids
from bot.core.selection import Selection, SelectionProblem, merge_ids, read_selection
from bot.core.times import (
    DEFAULT_MAX_LEAD,
    check_when,
    format_in,
    from_epoch_seconds,
    to_epoch_ms,
)
from bot.slack.ui.ids import HINT_VALUE, ActionId, BlockId, When

REASON_MAX = 2000
COMMENT_MAX = 2000


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file attached to the modal's ``file_input``, as Slack describes it in the view state.

    ``url`` is ``url_private_download`` (else ``url_private``): fetched with the bot token.
    ``size`` is Slack's byte count, when given.
    """

    id: str
    name: str
    size: int | None = None
    url: str | None = None
    mimetype: str | None = None


@dataclass(frozen=True, slots=True)
class StartForm:
    """The start modal, validated: either ``errors`` (block_id -> message) or usable values.

    ``job_ids`` are the typed and the picked IDs, merged. ``selection`` (a name pattern) and
    ``files`` still need DRS or Slack to become IDs; :attr:`needs_lookup` says so.
    """

    project: str | None
    job_ids: tuple[str, ...]
    start_time_ms: int | None
    reason: str
    errors: dict[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    selection: Selection | None = None
    files: tuple[FileRef, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def needs_lookup(self) -> bool:
        return self.selection is not None or bool(self.files)


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


def selected_values(values: Any, block: BlockId, action: ActionId) -> list[str]:
    """The values of a multi-select's chosen options (hint options left out)."""
    chosen = _element(values, block, action).get("selected_options")
    if not isinstance(chosen, list):
        return []
    found = [o.get("value") for o in chosen if isinstance(o, Mapping)]
    return [v for v in found if isinstance(v, str) and v != HINT_VALUE]


def files_value(values: Any, block: BlockId, action: ActionId) -> tuple[FileRef, ...]:
    """The files of a ``file_input`` (entries without an id are skipped)."""
    items = _element(values, block, action).get("files")
    if not isinstance(items, list):
        return ()
    refs: list[FileRef] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            continue
        url = item.get("url_private_download") or item.get("url_private")
        size = item.get("size")
        refs.append(
            FileRef(
                id=str(item["id"]),
                name=str(item.get("name") or item.get("title") or item["id"]),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                url=url if isinstance(url, str) else None,
                mimetype=item.get("mimetype") if isinstance(item.get("mimetype"), str) else None,
            )
        )
    return tuple(refs)


def datetime_value(values: Any, block: BlockId, action: ActionId) -> datetime | str | None:
    """A ``datetimepicker``'s moment (aware, UTC); None when nothing was picked; a sentence
    saying what is wrong when the value is not a representable date (see
    :func:`~bot.core.times.from_epoch_seconds`)."""
    element = _element(values, block, action)
    if element.get("selected_date_time") is None:
        return None
    return from_epoch_seconds(element["selected_date_time"])


def read_start_form(
    values: Any,
    *,
    allowed_projects: frozenset[str],
    max_jobs: int,
    now: datetime,
    max_lead: timedelta = DEFAULT_MAX_LEAD,
    tz: str | None = None,
) -> StartForm:
    """Validate the start modal's values; every problem is reported on its own field.

    ``max_lead``: how far ahead a start may be scheduled (the policy's ``max_lead_days``).
    ``tz``: the person's Slack timezone, in which times in messages are written.
    """
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
    if job_text and not parsed.ok:
        errors[BlockId.JOB_IDS] = _fit(" ".join(parsed.problems()))
    elif parsed.duplicates:
        n = len(parsed.duplicates)
        notices.append(f"{n:,} duplicate job ID{' was' if n == 1 else 's were'} collapsed.")

    picked = [v.lower() for v in selected_values(values, BlockId.JOB_PICK, ActionId.JOB_PICK)]
    bad_picks = [v for v in picked if not JOB_ID_RE.match(v)]
    if bad_picks:
        errors[BlockId.JOB_PICK] = _fit(f"Not a job ID: {bad_picks[0][:48]!r}; pick again.")
    job_ids, _ = merge_ids(parsed.ids, picked)
    if len(job_ids) > max_jobs and BlockId.JOB_IDS not in errors:
        errors[BlockId.JOB_IDS] = (
            f"{len(job_ids):,} job IDs typed and picked, at most {max_jobs:,} per request: "
            "split them into several requests."
        )

    selection = read_selection(
        text_value(values, BlockId.NAME_PATTERN, ActionId.NAME_PATTERN),
        text_value(values, BlockId.STATUS_FILTER, ActionId.STATUS_FILTER),
        selected_value(values, BlockId.TYPE_FILTER, ActionId.TYPE_FILTER),
    )
    if isinstance(selection, SelectionProblem):
        errors[_SELECTION_BLOCK[selection.field]] = selection.message
        selection = None
    files = files_value(values, BlockId.UPLOAD, ActionId.UPLOAD)
    given = bool(job_ids) or selection is not None or bool(files)
    marked = any(b in errors for b in (BlockId.JOB_IDS, *_SELECTION_BLOCK.values()))
    if not given and not marked:
        errors[BlockId.JOB_IDS] = _NOTHING_GIVEN

    start_time_ms: int | None = None
    when = selected_value(values, BlockId.WHEN, ActionId.WHEN) or When.NOW.value
    if when == When.AT.value:
        moment = datetime_value(values, BlockId.START_AT, ActionId.START_AT)
        if moment is None:
            errors[BlockId.START_AT] = "Pick the date and time to start at, or choose Now."
        elif isinstance(moment, str):
            errors[BlockId.START_AT] = f"The start time {moment}."
        else:
            problem = check_when(moment, now=now, max_lead=max_lead, tz=tz)
            if problem:
                shown = format_in(moment, tz)
                errors[BlockId.START_AT] = _fit(f"The start time {shown} {problem}.")
            else:
                start_time_ms = to_epoch_ms(moment)

    reason = text_value(values, BlockId.REASON, ActionId.REASON)
    if not reason:
        errors[BlockId.REASON] = "Give a reason or a change ticket: approvers need it."
    elif len(reason) > REASON_MAX:
        errors[BlockId.REASON] = f"Keep the reason under {REASON_MAX} characters."

    return StartForm(
        project=project,
        job_ids=job_ids,
        start_time_ms=start_time_ms,
        reason=reason,
        errors={str(k): v for k, v in errors.items()},
        notices=tuple(notices),
        selection=selection,
        files=files,
    )


_SELECTION_BLOCK = {
    "pattern": BlockId.NAME_PATTERN,
    "status": BlockId.STATUS_FILTER,
    "type": BlockId.TYPE_FILTER,
}
_NOTHING_GIVEN = (
    "no job IDs given: paste one or more here, pick jobs by name, select them with a name "
    "pattern, or upload a list"
)


def _fit(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def channel_metadata(channel_id: str, project: str | None = None) -> str:
    """``private_metadata`` of the start modal: the channel the command came from, and the
    project preselected when the modal opened (for option searches before any change)."""
    data = {"channel": channel_id}
    if project is not None:
        data["project"] = project
    return json.dumps(data)


def _metadata(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str):
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def channel_from_metadata(raw: Any) -> str | None:
    channel = _metadata(raw).get("channel")
    return channel if isinstance(channel, str) and channel[:1] in ("C", "G", "D") else None


def project_of_view(view: Any) -> str | None:
    """The project chosen in an open start modal: its current selection (Slack sends the
    view's state with option searches), else the one preselected when it opened."""
    if not isinstance(view, Mapping):
        return None
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    chosen = selected_value(values, BlockId.PROJECT, ActionId.PROJECT)
    if chosen is not None:
        return chosen
    project = _metadata(view.get("private_metadata")).get("project")
    return project if isinstance(project, str) and project else None

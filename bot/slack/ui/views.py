"""Modals: the request form, and the notices shown while it is looked up or refused (the
decision modals are in :mod:`bot.slack.ui.decisions`). Pure functions returning view dicts,
read back from ``view["state"]["values"][BlockId.X][ActionId.X]``, within Slack's modal limits
(100 blocks; title, submit, close 24 characters; 3,000 characters of ``private_metadata``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.command import DB_USE_TYPES
from bot.core.request import Approval
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId, BlockId, CallbackId, When

JOB_TEXT_MAX = 3000  # Slack's maximum for a plain_text_input
JOB_ID_LENGTH = 36  # 8-4-4-4-12
REASON_MAX = 1000
COMMENT_INPUT_MAX = 1000
PROJECTS_MAX = 100  # options in a static_select
MODAL_JOBS_LISTED = 10
PICK_MIN_QUERY = 2  # characters typed before Slack asks for options
PICK_MAX_SELECTED = 100

_WHEN_LABEL = {When.NOW: "Now", When.AT: "At the time below"}


@dataclass(frozen=True, slots=True)
class ProjectChoice:
    """A project the user may request in, as offered in the start modal."""

    name: str  # also the option value: at most 150 characters
    region: str
    approval: Approval


@dataclass(frozen=True, slots=True)
class StartPrefill:
    """What the start modal opens with (from the slash command's arguments)."""

    project: str | None = None
    job_text: str = ""
    start_at: int | None = None  # epoch seconds
    reason: str = ""
    name_pattern: str | None = None
    notices: tuple[str, ...] = ()  # plain text, shown as context lines (escaped here)
    status_filter: str | None = None
    type_filter: str | None = None  # one of bot.core.command.DB_USE_TYPES
    # Plain text shown on the start time field: why the time given must be changed.
    start_notice: str | None = None


def modal(
    callback_id: CallbackId,
    title: str,
    submit: str,
    close: str,
    blocks: list[kit.Block],
    private_metadata: str,
) -> dict[str, Any]:
    if len(private_metadata) > kit.PRIVATE_METADATA_MAX:
        raise ValueError("private_metadata is longer than Slack allows (3,000 characters)")
    if len(blocks) > kit.VIEW_BLOCKS_MAX:
        raise ValueError("a modal holds at most 100 blocks")
    return {
        "type": "modal",
        "callback_id": callback_id.value,
        "title": kit.plain_text(title, kit.VIEW_TITLE_MAX),
        "submit": kit.plain_text(submit, kit.VIEW_TITLE_MAX),
        "close": kit.plain_text(close, kit.VIEW_TITLE_MAX),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def loading_modal() -> dict[str, Any]:
    """A placeholder opened at once (trigger ids expire in 3 s) and replaced by ``views.update``."""
    return {
        "type": "modal",
        "title": kit.plain_text("Start DRS jobs", kit.VIEW_TITLE_MAX),
        "close": kit.plain_text("Close", kit.VIEW_TITLE_MAX),
        "blocks": [kit.section(":hourglass_flowing_sand: Loading your projects…")],
    }


def notice_modal(title: str, text: str, *, markup: bool = False) -> dict[str, Any]:
    """A modal that only says something and can be closed.

    ``text`` is plain text and escaped here, unless ``markup``: then it is mrkdwn the bot wrote
    (mentions included) whose outside parts its author escaped.
    """
    body = (
        kit.cut_markup(text, kit.SECTION_TEXT_MAX) if markup else m.clip(text, kit.SECTION_TEXT_MAX)
    )
    return {
        "type": "modal",
        "title": kit.plain_text(title, kit.VIEW_TITLE_MAX),
        "close": kit.plain_text("Close", kit.VIEW_TITLE_MAX),
        "blocks": [kit.section(body)],
    }


def input_block(
    block_id: BlockId,
    label: str,
    element: kit.Block,
    *,
    optional: bool,
    hint: str | None = None,
) -> kit.Block:
    block: kit.Block = {
        "type": "input",
        "block_id": block_id.value,
        "label": kit.plain_text(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = kit.plain_text(hint, 2000)
    return block


def text_input(
    action_id: ActionId,
    *,
    multiline: bool,
    max_length: int,
    initial: str = "",
    placeholder: str | None = None,
) -> kit.Block:
    element: kit.Block = {
        "type": "plain_text_input",
        "action_id": action_id.value,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = kit.plain_text(placeholder, 150)
    return element


def _fit_job_text(text: str) -> tuple[str, str | None]:
    """The job text cut at a separator to fit the input box, and a notice when it was cut."""
    if len(text) <= JOB_TEXT_MAX:
        return text, None
    head = text[:JOB_TEXT_MAX]
    cut = max(head.rfind(sep) for sep in ("\n", ",", ";", " ", "\t"))
    kept = head[:cut] if cut > 0 else ""
    kept_count = len(kept.split())
    return kept, (
        f"The list was longer than the box holds ({JOB_TEXT_MAX:,} characters): only the first "
        f"part is in it (about {kept_count:,} lines). For larger batches select jobs by name "
        "(--name) instead."
    )


def _project_option(p: ProjectChoice) -> kit.Block:
    needs = "needs an approver" if p.approval is Approval.TWO_PERSON else "starts on submit"
    return kit.option(p.name, p.name, f"{p.region} · {needs}")


def start_modal(
    projects: Sequence[ProjectChoice],
    prefill: StartPrefill,
    *,
    private_metadata: str,
    max_jobs: int,
    by_name: bool = False,
    upload: bool = False,
    pick: bool = False,
) -> dict[str, Any]:
    """The ``/startjobs`` modal (callback :attr:`CallbackId.START`).

    ``projects`` must not be empty (a :class:`ValueError` otherwise): a user with no project gets
    an error message instead. A single project, or ``prefill.project`` when offered, is
    preselected. ``pick`` adds a search-as-you-type multi-select of the project's jobs (options
    served by the :attr:`ActionId.JOB_PICK` options listener); ``by_name`` (or a prefilled
    ``name_pattern``) adds the name-pattern, status and job-type inputs; ``upload`` adds a file
    input for a list of IDs. Job text too long for the input box is cut at a separator, and a
    notice says so.
    """
    if not projects:
        raise ValueError("no projects to offer")
    offered = sorted(projects, key=lambda p: p.name)[:PROJECTS_MAX]
    options = [_project_option(p) for p in offered]
    select: kit.Block = {
        "type": "static_select",
        "action_id": ActionId.PROJECT.value,
        "placeholder": kit.plain_text("Choose a project", 150),
        "options": options,
    }
    initial = next(
        (o for o, p in zip(options, offered, strict=True) if p.name == prefill.project), None
    )
    if initial is None and len(options) == 1:
        initial = options[0]
    if initial is not None:
        select["initial_option"] = initial

    job_text, cut_notice = _fit_job_text(prefill.job_text)
    notices = [*prefill.notices, *([cut_notice] if cut_notice else [])]

    # Notices first: they say what became of the command's arguments before anything is edited.
    blocks: list[kit.Block] = [
        kit.context(f":information_source: {m.clip(n, 2900)}") for n in notices[:10]
    ]
    blocks.append(input_block(BlockId.PROJECT, "Project", select, optional=False))
    if pick:
        blocks.append(_pick_input())
    blocks += [
        input_block(
            BlockId.JOB_IDS,
            "DRS job IDs",
            text_input(
                ActionId.JOB_IDS,
                multiline=True,
                max_length=JOB_TEXT_MAX,
                initial=job_text,
                placeholder="9a470239-2308-4bb5-a6bc-1040402fjb21",
            ),
            optional=True,
            hint=_job_box_hint(max_jobs, pick=pick, by_name=by_name, upload=upload),
        ),
    ]
    if by_name or prefill.name_pattern is not None:
        blocks += _name_inputs(prefill)
    if upload:
        blocks.append(
            input_block(
                BlockId.UPLOAD,
                "Or upload a list of job IDs",
                {
                    "type": "file_input",
                    "action_id": ActionId.UPLOAD.value,
                    "filetypes": ["csv", "txt"],
                    "max_files": 1,
                },
                optional=True,
                hint="A .txt or .csv file with one job ID per line (a job_id header is fine).",
            )
        )
    blocks += _when_inputs(prefill.start_at, prefill.start_notice)
    blocks.append(
        input_block(
            BlockId.REASON,
            "Reason or change ticket",
            text_input(
                ActionId.REASON,
                multiline=True,
                max_length=REASON_MAX,
                initial=prefill.reason,
                placeholder="e.g. CHG-1234: cut-over of the shop database",
            ),
            optional=False,
            hint="Shown to approvers and kept in the audit trail.",
        )
    )
    return modal(CallbackId.START, "Start DRS jobs", "Submit", "Cancel", blocks, private_metadata)


def _job_box_hint(max_jobs: int, *, pick: bool, by_name: bool, upload: bool) -> str:
    """The job box holds 3,000 characters, about 80 IDs: say so, and where more go."""
    per_box = JOB_TEXT_MAX // (JOB_ID_LENGTH + 1) // 10 * 10
    hint = (
        "One per line, or separated by commas or spaces. The box holds "
        f"{JOB_TEXT_MAX:,} characters, about {per_box} IDs"
    )
    others = [
        way
        for way, offered in (
            ("pick them by name", pick),
            ("select them by name pattern", by_name),
            ("upload a list", upload),
        )
        if offered
    ]
    if max_jobs <= per_box or not others:
        return f"{hint}; up to {max_jobs:,} jobs per request."
    ways = others[0] if len(others) == 1 else ", ".join(others[:-1]) + " or " + others[-1]
    return f"{hint}; for more (up to {max_jobs:,} per request) {ways}."


def _pick_input() -> kit.Block:
    element: kit.Block = {
        "type": "multi_external_select",
        "action_id": ActionId.JOB_PICK.value,
        "placeholder": kit.plain_text("Type part of a job name", 150),
        "min_query_length": PICK_MIN_QUERY,
        "max_selected_items": PICK_MAX_SELECTED,
    }
    return input_block(
        BlockId.JOB_PICK,
        "Pick jobs by name",
        element,
        optional=True,
        hint="Searches the chosen project's DRS jobs as you type; :warning: marks jobs that "
        "cannot be started now. Added to the other job lists.",
    )


def _type_select(initial: str | None) -> kit.Block:
    options = [kit.option(t, t) for t in DB_USE_TYPES]
    select: kit.Block = {
        "type": "static_select",
        "action_id": ActionId.TYPE_FILTER.value,
        "placeholder": kit.plain_text("Any type", 150),
        "options": options,
    }
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen is not None:
        select["initial_option"] = chosen
    return select


def _name_inputs(prefill: StartPrefill) -> list[kit.Block]:
    return [
        input_block(
            BlockId.NAME_PATTERN,
            "Or select jobs by name",
            text_input(
                ActionId.NAME_PATTERN,
                multiline=False,
                max_length=200,
                initial=prefill.name_pattern or "",
                placeholder="mig-shop-*",
            ),
            optional=True,
            hint="DRS job names matching this pattern (* and ? wildcards), added to the IDs above.",
        ),
        input_block(
            BlockId.STATUS_FILTER,
            "Only jobs in status",
            text_input(
                ActionId.STATUS_FILTER,
                multiline=False,
                max_length=40,
                initial=prefill.status_filter or "CONFIGURATION",
            ),
            optional=True,
            hint="Applies to the name pattern; empty for any status. CONFIGURATION is the "
            "status DRS can start.",
        ),
        input_block(
            BlockId.TYPE_FILTER,
            "Only jobs of type",
            _type_select(prefill.type_filter),
            optional=True,
            hint="Applies to the name pattern; none chosen: every type.",
        ),
    ]


def selecting_modal(what: str) -> dict[str, Any]:
    """Shown while the jobs of a submitted form are being looked up (``what``: plain text);
    replaced by :func:`notice_modal` with the result. It has no submit button."""
    return {
        "type": "modal",
        "title": kit.plain_text("Start DRS jobs", kit.VIEW_TITLE_MAX),
        "close": kit.plain_text("Close", kit.VIEW_TITLE_MAX),
        "blocks": [
            kit.section(
                ":hourglass_flowing_sand: Looking up the jobs in DRS: "
                f"{m.clip(what, 1500)}. This takes a moment for large projects."
            ),
            kit.context(
                "This window says what became of it. You may close it: the request is posted "
                "in the channel, or the bot tells you there why not."
            ),
        ],
    }


def _when_inputs(start_at: int | None, notice: str | None = None) -> list[kit.Block]:
    when_options = [kit.option(_WHEN_LABEL[w], w.value) for w in When]
    radio: kit.Block = {
        "type": "radio_buttons",
        "action_id": ActionId.WHEN.value,
        "options": when_options,
        "initial_option": when_options[1 if start_at is not None else 0],
    }
    picker: kit.Block = {"type": "datetimepicker", "action_id": ActionId.START_AT.value}
    if start_at is not None:
        picker["initial_date_time"] = int(start_at)
    return [
        input_block(BlockId.WHEN, "Start", radio, optional=False),
        input_block(
            BlockId.START_AT,
            "Start time",
            picker,
            optional=True,
            hint=f"⚠️ {notice}"
            if notice
            else "In your own timezone. DRS starts the jobs itself at this time.",
        ),
    ]

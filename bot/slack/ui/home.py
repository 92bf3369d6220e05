"""The App Home tab: one person's approvals, requests and follow-ups as a ``home`` view.

:func:`home_view` draws a :class:`bot.service.home.HomeModel`; it stays within Slack's 100
blocks whatever the model holds (the service pages its sections, see
:data:`bot.service.home.PENDING_SHOWN`), and its ``private_metadata`` (at most 3,000
characters) records where each section starts and where its next page starts, which
:func:`page_after` reads back when "Older" or "Newest" is clicked. Approve and Reject carry
the request id and are the channel message's own buttons (same action ids, same listeners).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.core.request import RequestState, StartRequest
from bot.service.home import ID_MAX, HomeModel, HomePage, Section
from bot.slack.ui import describe as d
from bot.slack.ui import kit
from bot.slack.ui import mrkdwn as m
from bot.slack.ui.ids import ActionId

_TITLES = {
    Section.PENDING: ":inbox_tray: Waiting for your approval",
    Section.OWN: ":memo: Your requests",
    Section.FOLLOWING: ":satellite: Batches being followed up",
}
_EMPTY = {
    Section.PENDING: "Nothing is waiting for your approval.",
    Section.OWN: "You have made no requests yet. Type `/startjobs` in a channel to make one.",
    Section.FOLLOWING: "No batch you can see is being followed up right now.",
}


def home_view(model: HomeModel, *, links: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``home`` view of ``model``; ``links`` maps request ids to their messages'
    permalinks (a request without one shows its channel)."""
    links = links or {}
    blocks: list[kit.Block] = [
        kit.context(
            f"Updated {m.slack_date(model.now)}. Approve and Reject here work as in the "
            "channel: the request message there shows the decision too."
        )
    ]
    for problem in model.problems[:3]:
        blocks.append(kit.context(f"{d.WARN} {m.clip(problem, 500)}"))
    sections = (
        (Section.PENDING, [b for r in model.pending for b in _pending(r, model, links)]),
        (Section.OWN, [kit.section(_own_line(r, model.now, links)) for r in model.own]),
        (Section.FOLLOWING, [kit.section(_following_line(r, links)) for r in model.following]),
    )
    for section, items in sections:
        blocks.append(kit.header(_TITLES[section]))
        blocks += items or [kit.context(_EMPTY[section])]
        paging = _paging(section, model)
        if paging is not None:
            blocks.append(paging)
        blocks.append(kit.divider())
    return {
        "type": "home",
        "blocks": blocks[: kit.VIEW_BLOCKS_MAX],
        "private_metadata": _metadata(model),
    }


def _pending(req: StartRequest, model: HomeModel, links: Mapping[str, str]) -> list[kit.Block]:
    jobs = m.count(len(req.jobs), "job")
    lines = [
        f"*{m.inline(req.project, 80)}* · {m.mention(req.requester_id)} asks to start "
        f"*{jobs}* · {m.code(req.id, ID_MAX)} · {_where(req, links)}",
        d.reason_block_text(req.reason),
    ]
    warnings = d.warning_lines(req.jobs, shown=2)
    overlaps = model.overlaps.get(req.id)
    if overlaps:
        others = ", ".join(m.code(rid, ID_MAX) for rid in sorted(overlaps)[:3])
        warnings.append(f"{d.WARN} *Some jobs are also in* {others}")
    lines += warnings
    lines.append(
        f"Requested {m.relative(req.created_at, model.now)} · "
        f"expires {m.slack_date(req.expires_at)} ({m.relative(req.expires_at, model.now)})"
        + (f" · starts {m.slack_date(req.start_time_ms / 1000)}" if req.start_time_ms else "")
    )
    buttons = [
        kit.button("Approve", ActionId.APPROVE, req.id, style="primary"),
        kit.button("Reject", ActionId.REJECT, req.id, style="danger"),
    ]
    return [kit.section("\n".join(lines)), kit.actions(f"sj_home_{req.id}", buttons)]


def _where(req: StartRequest, links: Mapping[str, str]) -> str:
    link = links.get(req.id)
    return f"<{link}|thread> in <#{req.channel_id}>" if link else f"in <#{req.channel_id}>"


def _own_line(req: StartRequest, now: float, links: Mapping[str, str]) -> str:
    state = {
        RequestState.PENDING: "waiting for an approver",
        RequestState.APPROVED: "starting",
        RequestState.UNKNOWN: "outcome unknown",
    }.get(req.state, req.state.value)
    line = (
        f"{d.STATE_ICON[req.state]} *{state}* · *{m.inline(req.project, 80)}* · "
        f"{m.count(len(req.jobs), 'job')} · {m.code(req.id, ID_MAX)} · {_where(req, links)} · "
        f"{m.relative(req.created_at, now)}"
    )
    if req.state.is_final and req.state not in (
        RequestState.REJECTED,
        RequestState.CANCELLED,
        RequestState.EXPIRED,
    ):
        counts = d.phase_counts(j.drs_status for j in req.jobs)
        if counts:
            line += f"\n{counts}"
    elif req.state is RequestState.REJECTED:
        line += f"\nRejected{d.decided(req)}{d.comment_suffix(req.decision_comment)}"
    return line


def _following_line(req: StartRequest, links: Mapping[str, str]) -> str:
    counts = d.phase_counts(j.drs_status for j in req.jobs) or "waiting for DRS's first answer"
    return (
        f"*{m.inline(req.project, 80)}* · {m.mention(req.requester_id)} · "
        f"{m.count(len(req.jobs), 'job')} · {m.code(req.id, ID_MAX)} · {_where(req, links)}\n"
        f"{counts}"
    )


def _paging(section: Section, model: HomeModel) -> kit.Block | None:
    buttons: list[kit.Block] = []
    if model.page.at(section) is not None:
        buttons.append(kit.button("Newest", ActionId.HOME_NEWEST, section.value))
    if section in model.older:
        buttons.append(kit.button("Older", ActionId.HOME_OLDER, section.value))
    return kit.actions(f"sj_home_paging_{section.value}", buttons) if buttons else None


# -- paging state ---------------------------------------------------------------------------


def _metadata(model: HomeModel) -> str:
    older = HomePage(*(model.older.get(s) for s in Section))
    data = {"at": model.page.as_json(), "older": older.as_json()}
    text = json.dumps(data, separators=(",", ":"))
    return text if len(text) <= kit.PRIVATE_METADATA_MAX else ""


def page_after(metadata: object, action: str, section: str) -> HomePage:
    """The page a click on ``action`` (Older or Newest) of ``section`` asks for, from the
    Home view's ``private_metadata``; anything unreadable gives the newest page."""
    try:
        target = Section(section)
    except ValueError:
        return HomePage()
    data: Any = None
    if isinstance(metadata, str) and len(metadata) <= kit.PRIVATE_METADATA_MAX:
        try:
            data = json.loads(metadata)
        except ValueError:
            data = None
    if not isinstance(data, dict):
        return HomePage()
    page = HomePage.of_json(data.get("at"))
    if action == ActionId.HOME_OLDER.value:
        return page.moved(target, HomePage.of_json(data.get("older")).at(target))
    return page.moved(target, None)

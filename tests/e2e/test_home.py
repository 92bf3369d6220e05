"""The App Home end to end: a person's approvals, requests and follow-ups on their Home tab,
published with views.publish into the fake Slack, acted on from there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.core.request import Approval, RequestJob, RequestState, StartRequest
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.devkit.sim.slack_model import FakeView
from bot.slack.ui.ids import ActionId, BlockId
from tests.e2e.harness import ALICE, BOB, CHANNEL, MALLORY, Harness

ORDERS, CUSTOMERS = DEMO_JOBS[0][0], DEMO_JOBS[1][0]


def _starts(h: Harness) -> int:
    return sum(1 for c in h.sim.calls if c.endpoint == "batch-starting")


def _home(h: Harness, user: str) -> FakeView:
    home = h.slack.home(user)
    assert home is not None, f"no Home published for {user}"
    return home


def _text(h: Harness, user: str) -> str:
    home = h.slack.home(user)
    return str(home.view["blocks"]) if home is not None else ""


def _buttons(view: FakeView, action: ActionId) -> list[dict[str, Any]]:
    return [
        el
        for b in view.view["blocks"]
        if b.get("type") == "actions"
        for el in b["elements"]
        if el.get("action_id") == action.value
    ]


async def _open_home(h: Harness, user: str, until: Any) -> FakeView:
    resp = await h.d.app_home_opened(user)
    assert resp.ok and not resp.late, resp
    await h.wait(lambda: until(_text(h, user)))
    return _home(h, user)


async def test_an_approver_approves_from_home_once_and_everyone_sees_it(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS, CUSTOMERS], reason="CHG-77 cut-over")
        rid = h.request_id(msg)
        home = await _open_home(h, BOB, lambda t: rid in t)
        approve = [b for b in _buttons(home, ActionId.APPROVE) if b["value"] == rid]
        assert approve and [b["value"] for b in _buttons(home, ActionId.REJECT)] == [rid]
        assert "CHG-77 cut-over" in _text(h, BOB) and "2 jobs" in _text(h, BOB)
        # Someone who is neither requester nor approver of prod sees none of it.
        await _open_home(h, MALLORY, lambda t: "Nothing is waiting" in t)
        assert rid not in _text(h, MALLORY)
        # The requester sees it among their own requests, without Approve (two-person).
        alice = await _open_home(h, ALICE, lambda t: rid in t)
        assert not _buttons(alice, ActionId.APPROVE)

        # Approve from the Home: the same modal as in the channel, clicked twice.
        views_before = {v.id for v in h.slack.views()}
        for _ in range(2):
            resp = await h.d.view_action(BOB, home.id, action_id=ActionId.APPROVE.value, value=rid)
            assert resp.ok and not resp.late
        await h.wait(lambda: len([v for v in h.slack.views() if v.id not in views_before]) == 2)
        modals = [v for v in h.slack.views() if v.id not in views_before]
        comment = {BlockId.COMMENT.value: {ActionId.COMMENT.value: "go"}}
        answers = await asyncio.gather(*(h.d.submit_view(BOB, v.id, comment) for v in modals))
        assert sum(1 for a in answers if not a.json) == 1  # one approval wins
        assert "already approved" in str([a.json for a in answers if a.json])
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        await h.settle()
        assert _starts(h) == 1 and h.sim.start_calls_for(ORDERS) == 1
        # The channel message shows the decision, without buttons ...
        final = h.slack.message(CHANNEL, msg.ts)
        assert final is not None and not any(b.get("type") == "actions" for b in final.blocks)
        # ... and, without being opened again, BOB's Home no longer asks and ALICE's shows it.
        await h.wait(lambda: rid not in _text(h, BOB) or "Nothing is waiting" in _text(h, BOB))
        assert not [b for b in _buttons(_home(h, BOB), ActionId.APPROVE) if b["value"] == rid]
        await h.wait(lambda: "*done*" in _text(h, ALICE), timeout=15)
        assert f"archives/{CHANNEL}/p{msg.ts.replace('.', '')}" in _text(h, ALICE)  # the thread
        for call in h.slack.calls_to("views.publish"):
            assert call.ok, call


async def test_a_refused_approval_from_home_is_said_in_a_modal(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        home = await _open_home(h, BOB, lambda t: rid in t)
        await h.b.service.commands.cancel(rid, ALICE)
        before = {v.id for v in h.slack.views()}
        await h.d.view_action(BOB, home.id, action_id=ActionId.APPROVE.value, value=rid)
        await h.wait(lambda: any(v.id not in before for v in h.slack.views()))
        said = next(v for v in h.slack.views() if v.id not in before)
        assert "already cancelled" in str(said.view["blocks"])
        assert _starts(h) == 0


def _stored(rid: str, at: float, **changes: Any) -> StartRequest:
    fields: dict[str, Any] = {
        "id": rid,
        "team_id": "T0STARTJOBS",
        "channel_id": CHANNEL,
        "requester_id": ALICE,
        "project": "prod",
        "region": "cn-north-4",
        "approval": Approval.TWO_PERSON,
        "jobs": (RequestJob(job_id=ORDERS, status_at_request="CONFIGURATION"),),
        "start_time_ms": None,
        "reason": f"batch {rid}",
        "language": "en-us",
        "state": RequestState.PENDING,
        "created_at": at,
        "expires_at": at + 86_400,
        "message_ts": f"{int(at)}.000100",  # shown already: recovery leaves them alone
    }
    fields.update(changes)
    return StartRequest(**fields)


async def test_a_home_with_more_than_a_hundred_blocks_of_items_pages(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        now = h.b.service.ctx.clock()
        made = [f"SJ-PAGE{n:04d}" for n in range(60)]  # 2 blocks each: 120 blocks' worth
        for n, rid in enumerate(made):
            h.db.insert_request(_stored(rid, now - 3600 + n), actor=ALICE, detail={})
        newest_first = list(reversed(made))
        home = await _open_home(h, BOB, lambda t: newest_first[0] in t)
        seen: list[str] = []
        for _ in range(10):
            blocks = home.view["blocks"]
            assert len(blocks) <= 100 and len(home.view["private_metadata"]) <= 3000
            shown = [b["value"] for b in _buttons(home, ActionId.APPROVE)]
            assert shown and not set(shown) & set(seen)
            seen += shown
            older = [b for b in _buttons(home, ActionId.HOME_OLDER) if b["value"] == "pending"]
            if not older:
                break
            before = home.hash
            await h.d.view_action(
                BOB, home.id, action_id=ActionId.HOME_OLDER.value, value="pending"
            )
            await h.wait(lambda before=before: _home(h, BOB).hash != before)  # type: ignore[misc]
            home = _home(h, BOB)
        assert seen == newest_first  # every request once, newest first, page after page
        assert _buttons(home, ActionId.HOME_NEWEST)
        await h.d.view_action(BOB, home.id, action_id=ActionId.HOME_NEWEST.value, value="pending")
        await h.wait(lambda: newest_first[0] in _text(h, BOB))


async def test_a_burst_of_changes_is_one_publish_per_person(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        now = h.b.service.ctx.clock()
        made = [f"SJ-BURST{n:03d}" for n in range(20)]
        for n, rid in enumerate(made):
            h.db.insert_request(_stored(rid, now - 60 + n), actor=ALICE, detail={})
        await _open_home(h, BOB, lambda t: made[-1] in t)
        await h.settle()
        # A window wider than the burst takes, even on a slow machine.
        h.b.service.home.updates.window = 3.0
        before = len(h.slack.calls_to("views.publish"))
        # Twenty rejections in one burst: each changes a request BOB and ALICE see.
        replies = await asyncio.gather(
            *(h.b.service.commands.reject(rid, BOB, "not now") for rid in made)
        )
        assert all(r.ok for r in replies)
        await h.wait(lambda: "Nothing is waiting" in _text(h, BOB))
        await h.settle()
        published = [c.args.get("user_id") for c in h.slack.calls_to("views.publish")[before:]]
        # Everyone who sees prod (ALICE, BOB, and the members of its groups) once, not 20
        # times: the twenty changes were gathered into one publish per person.
        assert published.count(BOB) == 1 and published.count(ALICE) == 1
        assert sorted(published) == sorted(set(published))

"""The Slack flow end to end: signed requests in, Web API calls out, DRS simulator behind."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.devkit.sim.driver import SlackDriver
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.slack.ui.ids import ActionId, BlockId
from tests.e2e.harness import (
    ALICE,
    CHANNEL,
    MALLORY,
    OTHER_CHANNEL,
    SIGNING_SECRET,
    Harness,
)
from tests.slack.blockkit_checks import check_message, check_view

ORDERS, CUSTOMERS, BILLING, ARCHIVE = (j[0] for j in DEMO_JOBS[:4])
UNKNOWN_ID = "00000000-0000-4000-8000-00000000zz99"


def _drs_starts(h: Harness) -> int:
    return sum(1 for c in h.sim.calls if c.endpoint == "batch-starting")


async def test_help_is_ephemeral_usage(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        resp = await h.d.slash(ALICE, CHANNEL, "help")
        assert resp.ok and not resp.late
        await h.wait(lambda: bool(h.slack.ephemerals(ALICE)))
        shown = h.slack.ephemerals(ALICE)[-1]
        assert "/startjobs status" in str(shown.blocks)
        assert _drs_starts(h) == 0


async def test_modal_opens_empty_and_prefilled(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        view_id = await h.open_modal(ALICE)
        view = h.slack.view(view_id)
        assert view is not None
        check_view(view.view)
        by_block = {b.get("block_id"): b for b in view.view["blocks"]}
        assert BlockId.JOB_IDS.value in by_block
        job_input = by_block[BlockId.JOB_IDS.value]["element"]
        assert not job_input.get("initial_value")

        text = f"prod {ORDERS} {CUSTOMERS},{ORDERS} at +2h"
        view_id = await h.open_modal(ALICE, text)
        view = h.slack.view(view_id)
        assert view is not None
        by_block = {b.get("block_id"): b for b in view.view["blocks"]}
        assert by_block[BlockId.JOB_IDS.value]["element"]["initial_value"].split() == [
            ORDERS,
            CUSTOMERS,
        ]
        project = by_block[BlockId.PROJECT.value]["element"]["initial_option"]["value"]
        assert project == "prod"
        start_at = by_block[BlockId.START_AT.value]["element"]["initial_date_time"]
        assert abs(start_at - (time.time() + 7200)) < 120
        notices = " ".join(str(b) for b in view.view["blocks"] if b.get("type") == "context")
        assert "duplicate" in notices


async def test_bad_input_is_reported_on_each_field(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        view_id = await h.open_modal(ALICE)
        resp = await h.submit_start(
            ALICE,
            view_id,
            project="prod",
            job_ids=f"{ORDERS} not-a-job 12345",
            reason="   ",
            start_at=int(time.time()) - 3600,
        )
        assert resp.ok
        assert resp.json is not None and resp.json["response_action"] == "errors"
        errors = resp.json["errors"]
        assert "not-a-job" in errors[BlockId.JOB_IDS.value]
        assert "past" in errors[BlockId.START_AT.value]
        assert BlockId.REASON.value in errors
        assert h.db.recent(CHANNEL) == []
        assert _drs_starts(h) == 0


def _no_precheck(data: dict[str, Any]) -> None:
    """DRS's own answer per job is what these tests read: with the default precheck rule the
    bot would hold back the jobs DRS refuses (unknown, failed) before asking DRS to start
    them (tests/e2e/test_precheck.py shows that)."""
    data["projects"]["dev"]["precheck"] = "off"


async def test_mixed_batch_reported_job_by_job(tmp_path: Path) -> None:
    async with Harness(tmp_path, policy_edit=_no_precheck) as h:
        h.sim.seed_demo()
        resp, msg = await h.request(ALICE, "dev", [ORDERS, BILLING, ARCHIVE, UNKNOWN_ID])
        assert resp.ok and not resp.late
        check_message(msg)
        first_post = h.slack.calls_to("chat.postMessage")[0]
        request_text = str(first_post.args["blocks"])
        assert "prepaid" in request_text and "DRS.M05003" in request_text
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        outcome = h.thread(msg)[0]
        check_message(outcome)
        text = str(outcome.blocks)
        assert "2 started" in text and "2 failed" in text
        assert "DRS.M00304" in text and "DRS.M05003" in text
        # Alice's Slack locale is zh-CN, so DRS was asked for Chinese messages (X-Language).
        assert "任务不存在" in text
        assert h.sim.job(BILLING).order_id is not None
        assert str(h.sim.job(BILLING).order_id) in text
        assert h.sim.start_calls_for(ORDERS) == 1


async def test_drs_messages_follow_the_requesters_locale(tmp_path: Path) -> None:
    async with Harness(tmp_path, policy_edit=_no_precheck) as h:
        h.sim.seed_demo()
        _, msg = await h.request("U04DAVE", "dev", [UNKNOWN_ID])
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        text = str(h.thread(msg)[0].blocks)
        assert "The task does not exist." in text
        assert "任务不存在" not in text


async def test_thousand_jobs_fit_in_a_few_messages(tmp_path: Path) -> None:
    async with Harness(tmp_path, settings_changes={"max_jobs": 1000}) as h:
        ids = h.sim.add_generated(1000)
        resp, msg = await h.request(ALICE, "dev", ids)
        assert resp.ok and not resp.late
        check_message(msg)
        await h.wait(lambda: any(f.filename.endswith(".csv") for f in h.slack.files), 20)
        await h.settle()
        outcome = h.thread(msg)[0]
        check_message(outcome)
        assert "1,000 started" in str(outcome.blocks)
        csv_file = next(f for f in h.slack.files if f.filename.endswith(".csv"))
        assert csv_file.content.decode().count("\n") == 1001
        posts = len(h.slack.calls_to("chat.postMessage")) + len(
            h.slack.calls_to("files.completeUploadExternal")
        )
        assert posts <= 5
        assert all(h.sim.start_calls_for(j) == 1 for j in ids)


async def test_refused_user_and_channel_send_nothing(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        await h.d.slash(MALLORY, CHANNEL, "")
        await h.wait(lambda: any(v.user == MALLORY and v.updates for v in h.slack.views()))
        notice = next(v for v in h.slack.views() if v.user == MALLORY)
        assert "may not" in str(notice.view["blocks"])
        await h.d.slash(ALICE, OTHER_CHANNEL, "")
        await h.wait(lambda: any(v.user == ALICE and v.updates for v in h.slack.views()))
        assert "may not" in str(next(v for v in h.slack.views() if v.user == ALICE).view)
        # A submission crafted to claim the refused channel is refused on the project field.
        payload = {
            "type": "view_submission",
            "team": {"id": h.slack.team_id},
            "user": {"id": ALICE, "team_id": h.slack.team_id},
            "view": {
                "id": "V0CRAFTED",
                "type": "modal",
                "callback_id": "startjobs_start",
                "private_metadata": json.dumps({"channel": OTHER_CHANNEL}),
                "state": {
                    "values": {
                        BlockId.PROJECT.value: {
                            ActionId.PROJECT.value: {"selected_option": {"value": "prod"}}
                        },
                        BlockId.JOB_IDS.value: {ActionId.JOB_IDS.value: {"value": ORDERS}},
                        BlockId.REASON.value: {ActionId.REASON.value: {"value": "x"}},
                    }
                },
            },
        }
        resp = await h.d.raw(
            urlencode({"payload": json.dumps(payload)}).encode(),
            content_type="application/x-www-form-urlencoded",
        )
        assert resp.json is not None and BlockId.PROJECT.value in resp.json["errors"]
        assert _drs_starts(h) == 0
        assert h.db.recent(CHANNEL) == [] and h.db.recent(OTHER_CHANNEL) == []


async def test_forged_stale_and_foreign_requests_are_refused(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        body = urlencode(
            {
                "command": "/startjobs",
                "text": f"dev {ORDERS}",
                "user_id": ALICE,
                "channel_id": CHANNEL,
                "team_id": h.slack.team_id,
                "trigger_id": "1.2.3",
            }
        ).encode()
        form = "application/x-www-form-urlencoded"
        forged = await h.d.raw(body, content_type=form, signature="v0=" + "0" * 64)
        assert forged.status == 401
        stale = await h.d.raw(body, content_type=form, timestamp=int(time.time()) - 600)
        assert stale.status == 401
        async with SlackDriver(
            events_url=h.d.events_url,
            signing_secret=SIGNING_SECRET,
            fake=h.slack,
            team_id="T0OTHERTEAM",
        ) as foreign:
            resp = await foreign.slash(ALICE, CHANNEL, "")
            assert resp.status == 403
        assert h.slack.calls_to("views.open") == []
        assert _drs_starts(h) == 0


async def test_acks_stay_fast_while_drs_is_slow(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        h.sim.set_fault("*", "latency", seconds=5)
        # The message waits for the job look-up in DRS: 5 s.
        resp, msg = await h.request(ALICE, "prod", [ORDERS], within=15)
        assert resp.ok and not resp.late, resp
        rid = h.request_id(msg)
        click = await h.d.click(
            "U02BOB",
            action_id=ActionId.APPROVE.value,
            value=rid,
            channel=CHANNEL,
            message_ts=msg.ts,
        )
        assert click.ok and not click.late
        await h.wait(lambda: any(v.user == "U02BOB" for v in h.slack.views()))
        view = next(v for v in h.slack.views() if v.user == "U02BOB")
        submit = await h.d.submit_view("U02BOB", view.id, {})
        assert submit.ok and not submit.late and submit.elapsed < 1.0
        status = await h.d.slash(ALICE, CHANNEL, f"status {ORDERS}")
        assert status.ok and status.elapsed < 1.0
        await h.wait(lambda: len(h.thread(msg)) >= 1, 20)
        assert h.sim.start_calls_for(ORDERS) == 1


async def test_pending_request_survives_restart(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        _, msg = await h.request(ALICE, "prod", [ORDERS])
        rid = h.request_id(msg)
        await h.stop_bot()
        await h.start_bot()
        req = h.db.get(rid)
        assert req is not None and req.message_ts == msg.ts and req.state.value == "pending"
        await h.d.click(
            "U02BOB",
            action_id=ActionId.APPROVE.value,
            value=rid,
            channel=CHANNEL,
            message_ts=msg.ts,
        )
        await h.wait(lambda: any(v.user == "U02BOB" for v in h.slack.views()))
        view = next(v for v in h.slack.views() if v.user == "U02BOB")
        await h.d.submit_view("U02BOB", view.id, {})
        await h.wait(lambda: len(h.thread(msg)) >= 1)
        assert h.sim.start_calls_for(ORDERS) == 1


async def test_a_command_whose_response_url_fails_is_answered_in_an_ephemeral(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.sim.seed_demo()
        for response_url in ("http://127.0.0.1:9/response/closed", "not a url", None):
            fields = {
                "command": "/startjobs",
                "text": "status SJ-NOSUCH1",
                "user_id": ALICE,
                "channel_id": CHANNEL,
                "team_id": h.slack.team_id,
                "trigger_id": h.slack.issue_trigger_id(ALICE),
                **({"response_url": response_url} if response_url is not None else {}),
            }
            before = len(h.slack.ephemerals(ALICE))
            resp = await h.d.raw(
                urlencode(fields).encode(), content_type="application/x-www-form-urlencoded"
            )
            assert resp.status == 200
            await h.wait(lambda n=before: len(h.slack.ephemerals(ALICE)) > n, 10.0)
            shown = h.slack.ephemerals(ALICE)[-1]
            assert shown.source == "chat.postEphemeral" and shown.channel == CHANNEL
            assert "No request `SJ-NOSUCH1` that you can see." in shown.text

"""Slack answering slower than the bot waits, and DRS failing a task after accepting its start.

A post whose answer came too late may have been made: the bot must find it rather than post a
second request message (with live buttons) or a second outcome. A task that fails after DRS
accepted its start must read as failed, with DRS's reason, and the requester must hear of it.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.devkit.sim.drs_jobs import START_JOB_FAILED
from bot.service.model import Tuning
from bot.slack.scopes import BOT_SCOPES
from tests.e2e.harness import ALICE, CHANNEL, Harness
from tests.e2e.process import approve, job_lines, mentions, outcome_replies


def _harness(tmp_path: Path) -> Harness:
    return Harness(
        tmp_path,
        tuning=Tuning(followup_interval=0.2, followup_max=10.0, recovery_grace=0.5),
        settings_changes={"slack_timeout": 1.0},
    )


async def test_a_request_message_whose_answer_was_lost_is_not_posted_twice(
    tmp_path: Path,
) -> None:
    async with _harness(tmp_path) as h:
        job = h.sim.add_job(name="mig-slow-slack")
        # Slack posts the message but answers after the bot stopped waiting (1 s).
        h.slack.answer_late("chat.postMessage", 2.0)
        view = await h.open_modal(ALICE)
        resp = await h.submit_start(ALICE, view, project="prod", job_ids=[job])
        assert resp.ok and resp.json is None, resp
        (request,) = h.db.recent(CHANNEL)
        await h.wait(lambda: h.db.get(request.id).message_ts is not None, 10.0)  # type: ignore[union-attr]
        stored = h.db.get(request.id)
        assert stored is not None
        assert [m.ts for m in h.slack.messages(CHANNEL)] == [stored.message_ts]
        assert h.slack.calls_to("conversations.history"), "it looked before posting again"


async def test_an_outcome_whose_answer_was_lost_is_not_posted_twice(tmp_path: Path) -> None:
    async with _harness(tmp_path) as h:
        jobs = [h.sim.add_job(name=f"mig-slow-outcome-{i}") for i in range(2)]
        _, message = await h.request(ALICE, "prod", jobs)
        rid = h.request_id(message)
        await h.wait(lambda: h.db.get(rid).message_ts == message.ts)  # type: ignore[union-attr]
        h.slack.answer_late("chat.postMessage", 2.0)  # the outcome post's answer is late
        await approve(h, rid, message)
        await h.wait(lambda: (h.db.start(rid, 1) or None) is not None)
        await h.wait(lambda: h.db.start(rid, 1).state == "posted", 15.0)  # type: ignore[union-attr]
        await h.wait(lambda: len(mentions(h, message)) >= 1, 15.0)
        assert len(outcome_replies(h, message)) == 1
        posted = h.db.start(rid, 1)
        assert posted is not None and posted.outcome_ts == outcome_replies(h, message)[0].ts
        assert h.slack.calls_to("conversations.replies")


async def test_a_task_that_fails_after_its_start_reads_as_failed(tmp_path: Path) -> None:
    async with _harness(tmp_path) as h:
        job = h.sim.add_job(name="mig-fails-later", start_fails=True)
        _, message = await h.request(ALICE, "prod", [job])
        rid = h.request_id(message)
        await approve(h, rid, message)
        await h.wait(lambda: h.sim.job(job).status == START_JOB_FAILED, 10.0)
        await h.wait(lambda: h.db.get(rid).state.value == "failed", 10.0)  # type: ignore[union-attr]
        req = h.db.get(rid)
        assert req is not None
        (failed,) = req.jobs
        assert failed.outcome is not None and failed.outcome.value == "failed"
        assert failed.error_code == START_JOB_FAILED
        assert failed.error_msg == "Simulated start failure."  # DRS's own reason
        # The outcome in the thread says so, with the reason, and offers no Retry (starting a
        # failed task again does not help).
        await h.wait(lambda: START_JOB_FAILED in job_lines(outcome_replies(h, message)[0])[job])
        (outcome,) = outcome_replies(h, message)
        line = job_lines(outcome)[job]
        assert START_JOB_FAILED in line and "Simulated start failure." in line
        assert "1 failed" in outcome.text and "started" not in outcome.text.split("1 failed")[0]
        assert "Retry" not in json.dumps(outcome.blocks)
        # The requester is mentioned with the failure and its reason.
        noted = [m for m in mentions(h, message) if "failed after DRS accepted" in m.text]
        assert len(noted) == 1 and "Simulated start failure." in noted[0].text
        # History calls it failed too.
        await h.d.slash(ALICE, CHANNEL, "history")
        await h.wait(lambda: rid in str(h.slack.ephemerals(ALICE)))
        history = str(h.slack.ephemerals(ALICE)[-1].blocks)
        assert "*failed*" in history


async def test_without_the_history_scopes_a_lost_answer_is_posted_again_not_lost(
    tmp_path: Path,
) -> None:
    scopes = [s for s in BOT_SCOPES if not s.endswith(":history")]
    async with Harness(
        tmp_path,
        tuning=Tuning(followup_interval=0.2, followup_max=10.0, recovery_grace=0.5),
        settings_changes={"slack_timeout": 1.0},
        slack_kwargs={"scopes": scopes},
    ) as h:
        job = h.sim.add_job(name="mig-no-history")
        h.slack.answer_late("chat.postMessage", 2.0)
        view = await h.open_modal(ALICE)
        resp = await h.submit_start(ALICE, view, project="prod", job_ids=[job])
        assert resp.ok and resp.json is None, resp
        (request,) = h.db.recent(CHANNEL)
        # The bot could not look for its first post (missing_scope), so it posted again: the
        # request is shown (twice at worst), never lost.
        await h.wait(lambda: h.db.get(request.id).message_ts is not None, 10.0)  # type: ignore[union-attr]
        (looked,) = h.slack.calls_to("conversations.history")
        assert looked.status == 200 and "missing_scope" in str(looked)
        stored = h.db.get(request.id)
        assert stored is not None
        assert stored.message_ts in [m.ts for m in h.slack.messages(CHANNEL)]
        assert len(h.slack.messages(CHANNEL)) == 2

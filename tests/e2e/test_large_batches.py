"""Batches of hundreds the way Slack allows: by name pattern, by upload, by search-as-you-type.

Everything runs over real HTTP on loopback: the DRS simulator, the fake Slack Web API, the bot
and the driver that plays Slack.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

from bot.core.idfile import MAX_FILE_BYTES
from bot.core.jobids import JOB_ID_RE
from bot.core.request import AuditKind
from bot.devkit.sim.driver import DriverResponse
from bot.devkit.sim.slack_model import FakeMessage
from bot.slack.ui.ids import HINT_VALUE, ActionId, BlockId
from tests.e2e.harness import ALICE, BOB, CHANNEL, Harness
from tests.slack.blockkit_checks import check_message

PATTERN = "mig-shop-*"
REASON = "CHG-7: wave 3 of the shop migration"


def _block(view_id: str, h: Harness, block: BlockId) -> dict[str, Any]:
    view = h.slack.view(view_id)
    assert view is not None
    return next(b for b in view.view["blocks"] if b.get("block_id") == block.value)


async def _submit(h: Harness, view_id: str, **answers: object) -> DriverResponse:
    """Submit the start modal with a reason; ``answers`` by block name (``job_ids=...``)."""
    values: dict[str, dict[str, object]] = {
        BlockId.REASON.value: {ActionId.REASON.value: REASON},
    }
    for name, value in answers.items():
        values[BlockId[name.upper()].value] = {ActionId[name.upper()].value: value}
    return await h.d.submit_view(ALICE, view_id, values)


def _sent_to_start(h: Harness) -> list[str]:
    return [j for c in h.sim.calls if c.endpoint == "batch-starting" for j in c.job_ids]


async def _request_message(h: Harness) -> FakeMessage:
    await h.wait(lambda: len(h.slack.messages(CHANNEL)) == 1, 20)
    return h.slack.messages(CHANNEL)[0]


async def _approve(h: Harness, msg: FakeMessage) -> None:
    rid = h.request_id(msg)
    before = {v.id for v in h.slack.views()}
    await h.d.click(
        BOB, action_id=ActionId.APPROVE.value, value=rid, channel=CHANNEL, message_ts=msg.ts
    )
    await h.wait(lambda: any(v.user == BOB and v.id not in before for v in h.slack.views()))
    view = next(v for v in h.slack.views() if v.user == BOB and v.id not in before)
    resp = await h.d.submit_view(BOB, view.id, {})
    assert resp.ok and not resp.late and not resp.json


def _thread_csv(h: Harness, rid: str, msg: FakeMessage) -> list[dict[str, str]]:
    found = [f for f in h.slack.files if f.filename == f"{rid}-requested-jobs.csv"]
    assert len(found) == 1
    assert found[0].channel == CHANNEL and found[0].thread_ts == msg.ts
    return list(csv.DictReader(io.StringIO(found[0].content.decode())))


async def _outcome(h: Harness, msg: FakeMessage) -> None:
    await h.wait(lambda: any("started" in m.text for m in h.thread(msg)), 30)
    await h.settle()


async def test_thousand_jobs_by_name_are_frozen_approved_and_started_exactly(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        ids = h.sim.add_generated(1000, prefix="mig-shop")
        running = h.sim.add_job(name="mig-shop-legacy", status="FULL_TRANSFER_STARTED")
        # DRS's name filter (a substring) finds it; the pattern, anchored at the start, does not.
        decoy = h.sim.add_job(name="old-mig-shop-0001")
        view_id = await h.open_modal(ALICE, f"prod --name '{PATTERN}' --status CONFIGURATION")
        assert _block(view_id, h, BlockId.NAME_PATTERN)["element"]["initial_value"] == PATTERN
        resp = await _submit(h, view_id)
        assert resp.ok and not resp.late, resp
        msg = await _request_message(h)
        check_message(msg)
        rid = h.request_id(msg)
        req = h.db.get(rid)
        assert req is not None and sorted(req.job_ids) == sorted(ids)
        shown = str(msg.blocks)
        assert "1,000 DRS jobs" in shown and "frozen when requested" in shown
        assert "mig-shop-0001" in shown  # a sample of names, not all of them
        requested = next(e for e in h.db.events(rid) if e.kind is AuditKind.REQUESTED)
        assert requested.detail["source"] == f"name {PATTERN} · status CONFIGURATION · any type"
        # The DRS filter was the literal prefix; every type was listed.
        lists = [c for c in h.sim.calls if c.endpoint == "list"]
        assert {c.method for c in lists} == {"POST"} and len(lists) >= 3
        await h.wait(lambda: any(f.filename.endswith("-requested-jobs.csv") for f in h.slack.files))
        rows = _thread_csv(h, rid, msg)
        assert [r["job_id"] for r in rows] == list(req.job_ids)
        assert all(r["status_when_requested"] == "CONFIGURATION" for r in rows)

        late = h.sim.add_generated(1, prefix="mig-shop")[0]  # mig-shop-1001 appears now
        await _approve(h, msg)
        await _outcome(h, msg)
        started = _sent_to_start(h)
        assert sorted(started) == sorted(ids)  # each exactly once, nothing else
        assert h.sim.start_calls_for(late) == 0
        assert h.sim.job(late).status == "CONFIGURATION"
        assert h.sim.start_calls_for(running) == 0 and h.sim.start_calls_for(decoy) == 0


async def test_thousand_jobs_from_an_uploaded_csv(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        ids = h.sim.add_generated(1000, prefix="wave3")
        table = "name,job_id,owner\r\n" + "".join(
            f"wave3-{n:04d},{job_id},dba\r\n" for n, job_id in enumerate(ids, 1)
        )
        upload = h.slack.add_user_file(ALICE, "wave-3.csv", table.encode())
        view_id = await h.open_modal(ALICE, "prod")
        # A typed ID that the file holds too is collapsed into one list.
        resp = await _submit(h, view_id, upload=[upload], job_ids=ids[0].upper())
        assert resp.ok and not resp.late and not resp.json, resp
        msg = await _request_message(h)
        check_message(msg)
        rid = h.request_id(msg)
        req = h.db.get(rid)
        assert req is not None and sorted(req.job_ids) == sorted(ids)
        assert "file wave-3.csv" in str(msg.blocks)
        downloads = [c for c in h.slack.calls if c.method == "file_download"]
        assert [c.status for c in downloads] == [200]
        await h.wait(lambda: any(f.filename.endswith("-requested-jobs.csv") for f in h.slack.files))
        assert len(_thread_csv(h, rid, msg)) == 1000
        await _approve(h, msg)
        await _outcome(h, msg)
        assert sorted(_sent_to_start(h)) == sorted(ids)


async def test_job_search_answers_in_time_with_at_most_100_options(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.add_generated(150, prefix="mig-shop")
        running = h.sim.add_job(name="mig-shop-running", status="FULL_TRANSFER_STARTED")
        h.sim.set_fault("list", "latency", seconds=1.0)
        view_id = await h.open_modal(ALICE, "prod")

        async def search(text: str, view: str = view_id) -> DriverResponse:
            pick = ActionId.JOB_PICK.value
            return await h.d.options(ALICE, action_id=pick, block_id=pick, value=text, view_id=view)

        started = time.perf_counter()
        resp = await search("mig-shop")
        assert resp.ok and not resp.late and resp.elapsed < 3.0, resp
        assert time.perf_counter() - started >= 1.0  # DRS really took its second
        found = (resp.json or {})["options"]
        assert len(found) == 100
        assert all(JOB_ID_RE.match(o["value"]) for o in found)
        assert all("CONFIGURATION" in o["description"]["text"] for o in found)
        marked = (await search("running")).json or {}
        assert [o["value"] for o in marked["options"]] == [running]
        assert "cannot start now" in marked["options"][0]["description"]["text"]

        # Picked options become the request's jobs.
        picked = [o["value"] for o in found[:3]]
        resp = await _submit(h, view_id, job_pick=picked)
        assert resp.ok and not resp.json, resp
        msg = await _request_message(h)
        req = h.db.get(h.request_id(msg))
        assert req is not None and list(req.job_ids) == picked

        # With no project chosen yet there is nothing to search: one hint, no DRS call.
        calls = len(h.sim.calls)
        unchosen = await h.open_modal(ALICE, "")
        resp = await search("mig", unchosen)
        assert resp.ok and not resp.late
        assert [o["value"] for o in (resp.json or {})["options"]] == [HINT_VALUE]
        assert "Choose a project" in str(resp.json)
        assert len(h.sim.calls) == calls


async def test_job_search_gives_a_hint_rather_than_a_late_answer(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.sim.add_generated(5, prefix="mig-shop")
        h.sim.set_fault("list", "latency", seconds=2.6)
        view_id = await h.open_modal(ALICE, "prod")
        block = ActionId.JOB_PICK.value
        resp = await h.d.options(
            ALICE, action_id=block, block_id=block, value="mig", view_id=view_id
        )
        assert resp.ok and not resp.late and resp.elapsed < 3.0
        options = (resp.json or {})["options"]
        assert [o["value"] for o in options] == [HINT_VALUE]
        assert "DRS is slow" in options[0]["text"]["text"]


async def test_bad_uploads_are_refused_on_the_field_and_nothing_reaches_drs(
    tmp_path: Path,
) -> None:
    good = "9a470239-2308-4bb5-a6bc-1040402fjb21"
    cases = {
        "photo.csv": (b"\x89PNG\r\n\x1a\n" + bytes(200), "this is not a text file"),
        "huge.txt": ((good + "\n").encode() * (MAX_FILE_BYTES // 37 + 1), "at most 1,024 KiB"),
        "names.csv": (f"name,status\nmig-1,{good}\n".encode(), "no job_id column"),
        "typos.txt": (
            "\n".join([good, good, "9a470239-2308", good, good, good, "abc"]).encode(),
            "line 3: '9a470239-2308' is not a job ID",
        ),
    }
    async with Harness(tmp_path) as h:
        for name, (content, words) in cases.items():
            upload = h.slack.add_user_file(ALICE, name, content)
            view_id = await h.open_modal(ALICE, "prod")
            resp = await _submit(h, view_id, upload=[upload])
            assert resp.ok and not resp.late
            assert resp.json is not None and resp.json["response_action"] == "errors", name
            message = resp.json["errors"][BlockId.UPLOAD.value]
            assert words in message, (name, message)
            assert message.startswith(name) or name in message
            if name == "typos.txt":
                assert "line 7: 'abc'" in message
                assert "2 lines are not job IDs" in message
        assert h.sim.calls == []
        assert h.db.recent(CHANNEL) == []
        # The oversized file was refused by its size, before any download.
        downloads = [c.args["file"] for c in h.slack.calls if c.method == "file_download"]
        assert len(downloads) == 3


async def test_refused_selections_say_why_inline(tmp_path: Path) -> None:
    async with Harness(tmp_path, settings_changes={"max_jobs": 5}) as h:
        h.sim.add_generated(6, prefix="mig-shop")
        h.sim.add_generated(2, prefix="small")
        view_id = await h.open_modal(ALICE, "prod --status CONFIGURATION")
        # `--status` alone selects every job in that status.
        assert _block(view_id, h, BlockId.NAME_PATTERN)["element"]["initial_value"] == "*"

        async def errors(**answers: object) -> dict[str, str]:
            view = await h.open_modal(ALICE, "prod")
            resp = await _submit(h, view, **answers)
            assert resp.ok and not resp.late
            assert resp.json is not None and resp.json["response_action"] == "errors"
            return dict(resp.json["errors"])

        none = await errors(name_pattern="nothing-*")
        assert "No job in prod matches name nothing-*" in none[BlockId.NAME_PATTERN.value]
        many = await errors(name_pattern=PATTERN)
        assert "6 jobs in prod match" in many[BlockId.NAME_PATTERN.value]
        assert "at most 5" in many[BlockId.NAME_PATTERN.value]
        typed = " ".join(h.sim.add_generated(4, prefix="typed"))
        both = await errors(name_pattern="small-*", job_ids=typed)
        assert "Together the lists hold 6 jobs" in both[BlockId.NAME_PATTERN.value]
        bad_status = await errors(name_pattern=PATTERN, status_filter="RUNNING")
        assert "not a DRS task status" in bad_status[BlockId.STATUS_FILTER.value]
        h.sim.set_fault("list", "status_500", count=1)
        failed = await errors(name_pattern="small-*")
        assert "Could not list the jobs in DRS" in failed[BlockId.NAME_PATTERN.value]
        assert _sent_to_start(h) == []
        assert h.db.recent(CHANNEL) == []


async def test_a_slow_selection_finishes_after_the_ack(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        ids = h.sim.add_generated(3, prefix="slow")
        h.sim.set_fault("list", "latency", seconds=2.0)
        view_id = await h.open_modal(ALICE, "prod --name 'slow-*'")
        resp = await _submit(h, view_id)
        assert resp.ok and not resp.late, resp
        assert resp.json is not None and resp.json["response_action"] == "update"
        assert "Looking up the jobs" in str(resp.json["view"])
        msg = await _request_message(h)
        req = h.db.get(h.request_id(msg))
        assert req is not None and sorted(req.job_ids) == sorted(ids)
        await h.wait(lambda: "Request submitted" in str(h.slack.view(view_id)))

        # An empty match found in the background is told in the modal and in the channel.
        view_id = await h.open_modal(ALICE, "prod --name 'none-*'")
        resp = await _submit(h, view_id)
        assert resp.ok and not resp.late
        assert resp.json is not None and resp.json["response_action"] == "update"
        await h.wait(lambda: "Not submitted" in str(h.slack.view(view_id)))
        await h.wait(lambda: bool(h.slack.ephemerals(ALICE)))
        said = h.slack.ephemerals(ALICE)[-1].text
        assert "No request was made" in said and "none-*" in said
        assert len(h.db.recent(CHANNEL)) == 1

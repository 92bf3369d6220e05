"""``startjobs demo``: the shipped walk-through end to end (in-process and as a command), the
script language's failure modes, and the pure pieces: Block Kit rendering, form answers."""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import subprocess
import sys
import tomllib
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.command import Start, parse_command
from bot.devkit.demo.faults import drs_command, spec
from bot.devkit.demo.form import (
    AnswerError,
    labelled,
    parse_when,
    pick_options,
    read_answer,
    search_options,
)
from bot.devkit.demo.inputs import InputField, input_fields, render_view
from bot.devkit.demo.main import cli_main
from bot.devkit.demo.mrkdwn import Viewer, mrkdwn
from bot.devkit.demo.render import buttons_of, render_blocks
from bot.devkit.demo.world import EXTRA_JOBS, policy_toml
from bot.devkit.sim.driver import DriverResponse, SlackDriver
from bot.devkit.sim.drs import DrsSimulator
from bot.devkit.sim.drs_faults import parse_fault_spec
from bot.devkit.sim.drs_jobs import DEMO_JOBS
from bot.slack.ui.forms import project_of_view

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "demo" / "walkthrough.txt"
ORDERS = "3f2a9c1e-7b4d-4e8a-9c2f-5d1e0a7bjb01"
INVOICES = "e8b2d6f4-5a1c-4e7b-9d3f-2c8a6e4bjb12"
FLAKY = "a9e5c2b8-3f7d-4c1a-8b6e-4d2f8c1ajb07"
CUSTOMERS = "8c4e2b7a-1d3f-4a6b-8e9c-2f7d5a1cjb02"
PAYMENTS = "7d1f4a9c-5e2b-4b8f-a3d6-8c2e6f4bjb09"  # its precheck was never run

# What the walk-through must show: the request, both refusals, the approval, the outcome, the
# follow-up, DRS faults, a precheck run before approval, a change freeze, and the closing
# check against the simulator.
KEY_LINES = (
    "Waiting for an approver",
    "[1] Approve  [2] Reject  [3] Cancel request",
    "you are not an approver of project prod",
    "Cannot start jobs",
    "another approver must approve it",
    "Approved by @bob",
    "Checked the orders dashboard; go ahead.",
    "(updated)",
    "DRS now: ✅ 2 FULL_TRANSFER_STARTED",
    "@alice all 2 jobs settled.",
    f"ok   {{rid}} mig-orders-prod        {ORDERS} FULL_TRANSFER_STARTED",
    # DRS faults: a throttled start with its Retry, a lost answer followed up.
    "❌ 2 failed",
    "[1] Retry 2 failed jobs",
    "'1' alone does nothing here",
    "retry 1 by @bob",
    "start accepted · attempt 2",
    f"❔ mig-customers-prod {CUSTOMERS} outcome unknown",
    f"✅ mig-customers-prod {CUSTOMERS} INCRE_TRANSFER_STARTED",
    f"mig-shop-invoices      {INVOICES} FULL_TRANSFER_STARTED",
    # The precheck: never run, so approval is refused until Run precheck has it pass.
    "DRS precheck — ✅ 0 passed · ❔ 1 never run",
    "[1] Run precheck  [2] Approve  [3] Reject  [4] Cancel request",
    f"1 of the 1 jobs have not passed theirs: {PAYMENTS}",
    "(@bob clicks “Run precheck” on",
    "DRS precheck — ✅ 1 passed",
    f"mig-payments-prod {PAYMENTS} start accepted",
    f"mig-payments-prod      {PAYMENTS} FULL_TRANSFER_STARTED",
    "✔ expected and shown: change freeze “month-end close”",
    "✔ every approved job that DRS accepted is transferring",
)


def assert_walkthrough(output: str) -> None:
    assert "✘" not in output, output
    rid = output.split("Request: ", 1)[1].split()[0]
    for key in KEY_LINES:
        assert key.format(rid=rid) in output, f"{key!r} missing from:\n{output}"


def run_script(tmp_path: Path, text: str, *args: str) -> int:
    script = tmp_path / "script.txt"
    script.write_text(text, encoding="utf-8")
    return cli_main(["--script", str(script), *args])


# --- the walk-through --------------------------------------------------------------------------


def test_walkthrough_in_process(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    db = tmp_path / "kept.db"
    assert cli_main(["--script", str(WALKTHROUGH), "--db", str(db)]) == 0
    out = capsys.readouterr()
    assert_walkthrough(out.out)
    assert out.err == ""  # logs stay quiet unless --verbose
    assert db.is_file()  # --db keeps the store where asked
    assert (root.level, root.handlers) == (level, handlers)  # logging left as it was


def test_walkthrough_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--script", "demo/walkthrough.txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_walkthrough(done.stdout)
    assert "Traceback" not in done.stderr


def test_typed_at_a_terminal() -> None:
    typed = "help\nexpect not there\nas nobody\nas bob\njobs\nquit\njobs\n"
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--expect-timeout", "0.1"],
        cwd=ROOT,
        input=typed,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # a missed expect only reports
    assert "You are @alice in #ops" in done.stdout
    assert "click <n> [#m]" in done.stdout
    assert "✘ EXPECTED BUT NOT SHOWN: not there" in done.stdout
    assert "No such person 'nobody'" in done.stdout
    assert "bob@#ops> " in done.stdout
    assert done.stdout.count("NAME ") == 1  # one job table: quit ended the session
    assert f"mig-payments-prod    {PAYMENTS}  CONFIGURATION             precheck never run" in (
        done.stdout
    )
    assert "== check" not in done.stdout


# --- scripts that must fail --------------------------------------------------------------------


def test_failing_expect_ends_the_run_with_status_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = "jobs\nexpect mig-orders-prod\nexpect a text the bot never shows\njobs\n"
    assert run_script(tmp_path, script, "--expect-timeout", "0.2") == 1
    output = capsys.readouterr().out
    assert "✔ expected and shown: mig-orders-prod" in output
    assert "✘ EXPECTED BUT NOT SHOWN: a text the bot never shows" in output
    assert output.count("NAME ") == 1  # nothing ran after the failed expectation
    assert "== check" not in output


def test_final_check_fails_when_an_approved_job_did_not_start(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # sandbox needs no approval: the submit starts it; the simulator fails this job's start.
    script = f"/startjobs sandbox {FLAKY}\nreason = see if it breaks\nexpect start accepted\n"
    assert run_script(tmp_path, script, "--start-delay", "0.2") == 1
    output = capsys.readouterr().out
    assert f"mig-payments-flaky     {FLAKY} START_JOB_FAILED" in output
    assert "FAIL" in output.split("== check", 1)[1]
    assert "✘ 1 approved job(s) did not reach a transfer status" in output


def test_the_seeded_demo_has_one_job_to_precheck_and_reseeding_keeps_its_precheck() -> None:
    sim = DrsSimulator()
    sim.seed_demo()
    never = sim.prechecks.get(PAYMENTS)
    assert (never.state, never.after_run, never.takes) == ("never", "passed", 2.0)
    assert [j for j, _, _, _ in DEMO_JOBS if not sim.prechecks.passed(j)] == [PAYMENTS]
    sim.prechecks.set(PAYMENTS, state="passed")
    sim.seed_demo()
    assert sim.prechecks.passed(PAYMENTS)
    assert len(sim.jobs()) == len(DEMO_JOBS)


def test_bad_arguments(tmp_path: Path) -> None:
    assert cli_main(["--script", str(tmp_path / "missing.txt")]) == 2
    assert cli_main(["--start-delay", "-1"]) == 2
    assert cli_main(["--no-such-option"]) == 2


# --- forms and buttons through a script --------------------------------------------------------


def test_form_errors_are_shown_and_asked_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = "\n".join(
        [
            "/startjobs",
            "7",  # not a choice: the same field is asked again
            "sandbox",
            "reason = :clear",  # the reason is required: the client refuses, asks again
            ":submit",  # not without a reason: the client asks for it
            "testing",  # the last field: the form is submitted
            # no job IDs: the bot answers with an inline error and the form comes again
            f"DRS job IDs = {INVOICES}",
            "start = 2",
            "start time = +2h",
            ":submit",
            "expect The form shows",
            "expect 1 scheduled",
        ]
    )
    assert run_script(tmp_path, script + "\n", "--start-delay", "0.2") == 0
    output = capsys.readouterr().out
    assert "❌ Project: choose a number from 1 to 2" in output
    assert output.count("❌ Reason or change ticket: this field is required") == 2
    assert "no job IDs given" in output
    assert "(the form again)" in output
    assert output.count("@alice submits the form") == 1
    assert "Scheduled start" in output
    assert "ok   " in output.split("== check", 1)[1]  # WAITING_FOR_START before its time is ok


def test_search_an_external_select(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = "/startjobs prod\npick = shop-inventory\n1\nreason = picked\nexpect Waiting\n"
    assert run_script(tmp_path, script) == 0
    output = capsys.readouterr().out
    assert "1) mig-shop-inventory  CONFIGURATION" in output
    request = output.split("── #1", 1)[1]
    assert "mig-shop-inventory c5a7e1d3-2f9b-4d6a-8e1c-7b3d9f5ajb11 CONFIGURATION" in request


def test_confirm_dialog_and_cancel(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = "\n".join(
        [
            f"/startjobs prod {ORDERS}",
            "reason = cut-over",
            "click 3",
            "n",  # the confirmation dialog: keep it
            "as carol",
            "click 3",
            "y",
            "expect who made this request, can cancel it",
            "as alice",
            "click 3 #1",
            "y",
            "expect Cancelled by @alice",
            "click 1",
            "show #1",
        ]
    )
    assert run_script(tmp_path, script + "\n") == 0
    output = capsys.readouterr().out
    assert "┏━ Cancel this request?" in output
    assert output.count("Cancelled by @alice") >= 2  # the update, then `show #1`
    assert "No message has buttons to click." in output
    assert output.rstrip().endswith("(no request was approved: nothing to check)")


def test_job_search_is_in_the_project_chosen_in_the_form(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Nothing prefilled: the project is chosen in the form (a bare number answers the field),
    # then part of a job name is typed.
    script = "/startjobs\n2\npick = shop-invoices\n1\nreason = picked\nexpect 1 started\n"
    assert run_script(tmp_path, script, "--start-delay", "0.2") == 0
    output = capsys.readouterr().out
    assert "Choose a project above first" not in output
    assert "1) mig-shop-invoices  CONFIGURATION" in output
    assert f"mig-shop-invoices {INVOICES} start accepted" in output


def test_job_search_carries_the_form_state_as_slack_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Slack's options request carries the open view with its state; the bot reads the project
    # from there, so a project changed in the form wins over the one it was opened with.
    searched: list[str | None] = []
    raw = SlackDriver.raw

    async def recording(self: SlackDriver, body: bytes, **kwargs: Any) -> DriverResponse:
        form = urllib.parse.parse_qs(body.decode())
        payload = json.loads(form["payload"][0]) if "payload" in form else {}
        if payload.get("type") == "block_suggestion":
            searched.append(project_of_view(payload["view"]))
        return await raw(self, body, **kwargs)

    monkeypatch.setattr(SlackDriver, "raw", recording)
    script = "/startjobs prod\nsandbox\npick = shop-invoices\n1\nreason = x\nexpect 1 started\n"
    assert run_script(tmp_path, script, "--start-delay", "0.2") == 0
    assert searched == ["sandbox"]
    assert "Start 1 DRS job · sandbox" in capsys.readouterr().out


def test_a_bare_number_presses_no_button(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = "\n".join(
        [
            f"/startjobs prod {ORDERS}",
            "reason = cut-over",
            "as bob",
            "1",  # not an approval: no form is asking, and it says how to click
            "7",
            "expect Waiting for an approver",
        ]
    )
    assert run_script(tmp_path, script + "\n") == 0
    output = capsys.readouterr().out
    assert "(@bob clicks" not in output
    assert "Approved by" not in output
    assert (
        "'1' alone does nothing here (no form is asking): "
        "`click 1` presses [1] “Approve” on #1." in output
    )
    assert "'7' alone does nothing here (no form is asking): `click <n>` presses" in output


def test_drs_command_sets_lists_and_clears_simulator_faults() -> None:
    sim = DrsSimulator()
    assert drs_command(sim, "") == ["DRS behaves: no fault is set (drs help lists them)."]
    assert "drs throttle" in "\n".join(drs_command(sim, "help"))
    drs_command(sim, "lose")
    drs_command(sim, "slow 2.5")
    drs_command(sim, "batch-status:status_500")
    drs_command(sim, "THROTTLE")
    faults = sim.faults()
    assert [spec(f) for f in faults] == [
        "batch-starting:status_500:processed=true,status=500,count=1",
        "*:latency:seconds=2.5",
        "batch-status:status_500:processed=false,status=500",
        "batch-starting:status_429:retry_after=0,count=4",  # the first try and 3 retries
    ]
    assert [parse_fault_spec(spec(f)) for f in faults] == faults
    listed = drs_command(sim, "")
    assert "  *:latency:seconds=2.5  (until drs clear)" in listed
    assert "  batch-starting:status_500:processed=true,status=500,count=1" in listed
    for bad, why in [
        ("nonsense", "no DRS fault 'nonsense'"),
        ("slow", "how long"),
        ("slow 0", "more than 0"),
        ("slow 61", "at most 60"),
        ("list:nope", "kind must be one of"),
    ]:
        with pytest.raises(ValueError, match=why):
            drs_command(sim, bad)
    assert len(sim.faults()) == 4  # a bad command sets nothing
    assert drs_command(sim, "clear") == ["DRS behaves again (4 fault(s) cleared)."]
    assert sim.faults() == []


def test_readme_examples_name_what_the_demo_has() -> None:
    """A newcomer trying the README's `/startjobs` examples in the demo finds its projects
    and, for a name pattern, jobs that match."""
    projects = set(tomllib.loads(policy_toml("http://127.0.0.1:1"))["projects"])
    job_names = [name for _, name, _, _ in DEMO_JOBS] + [name for _, name in EXTRA_JOBS]
    examples = re.findall(r"`/startjobs ([^`]*)`", (ROOT / "README.md").read_text("utf-8"))
    named: set[str] = set()
    for text in examples:
        command = parse_command(text)
        if not isinstance(command, Start):
            continue
        if command.project is not None:
            named.add(command.project)
        if command.name_pattern is not None:
            assert fnmatch.filter(job_names, command.name_pattern), text
    assert named  # the README's examples do name projects
    assert named <= projects, f"{sorted(named - projects)} not in the demo's {sorted(projects)}"


# --- rendering ---------------------------------------------------------------------------------

VIEWER = Viewer(
    names={"U01ALICE": "alice", "S0TEAM": "dba-team"},
    channels={"C0OPS": "ops"},
    tz="Asia/Shanghai",
    now=datetime(2026, 3, 1, 4, 0, tzinfo=UTC).timestamp(),
)


def test_mrkdwn_reads_as_plain_words() -> None:
    at = int(datetime(2026, 3, 1, 2, 5, tzinfo=UTC).timestamp())
    text = (
        f"<@U01ALICE> in <#C0OPS> asks <!subteam^S0TEAM>: *2 jobs* `DRS.M00304` _soon_ "
        f"<!date^{at}^{{date_short_pretty}} {{time}}|2026-03-01 02:05 UTC> "
        "&lt;b&gt; &amp;amp; :white_check_mark: :no_such_emoji: <https://x.example|docs>"
    )
    assert mrkdwn(text, VIEWER) == (
        "@alice in #ops asks @dba-team: 2 jobs DRS.M00304 soon today 10:05 CST "
        "<b> &amp; ✅ :no_such_emoji: docs (https://x.example)"
    )
    # Identifiers keep their underscores; an unknown date token falls back to the text.
    assert mrkdwn("`FULL_TRANSFER_STARTED` x_y_z", VIEWER) == "FULL_TRANSFER_STARTED x_y_z"
    assert mrkdwn(f"<!date^{at}^{{nonsense}}|fallback &amp; co>", VIEWER) == "fallback & co"
    assert mrkdwn(f"<!date^{at}^{{date_num}} {{time_secs}}|x>", VIEWER) == (
        "2026-03-01 10:05:00 CST"
    )


def test_request_message_buttons_are_numbered() -> None:
    header = {"type": "header", "text": text("Start :rocket:")}
    assert render_blocks([header, {"type": "divider"}], VIEWER) == ["Start 🚀", "═" * 7, "─" * 40]
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Hi*"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "more"},
            "accessory": {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open"},
                "action_id": "a0",
                "value": "v0",
            },
        },
        {
            "type": "actions",
            "block_id": "acts",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": n},
                    "action_id": f"a{i}",
                    "value": f"v{i}",
                }
                for i, n in enumerate(["Approve", "Reject"], 1)
            ],
        },
    ]
    assert render_blocks(blocks, VIEWER) == ["Hi", "more", "  [1] Open", "[2] Approve  [3] Reject"]
    found = buttons_of(blocks)
    assert [(b.number, b.label, b.action_id, b.value) for b in found] == [
        (1, "Open", "a0", "v0"),
        (2, "Approve", "a1", "v1"),
        (3, "Reject", "a2", "v2"),
    ]
    assert found[1].block_id == "acts"


def text(t: str) -> dict[str, object]:
    return {"type": "plain_text", "text": t}


def option(label: str, value: str, description: str | None = None) -> dict[str, object]:
    opt: dict[str, object] = {"text": text(label), "value": value}
    if description:
        opt["description"] = text(description)
    return opt


def field(
    block_id: str, label: str, element: dict[str, object], optional: bool = False
) -> dict[str, object]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": text(label),
        "element": {"action_id": block_id, **element},
        "optional": optional,
    }


PROJECTS = [option("demo", "demo", "needs an approver"), option("sandbox", "sandbox")]
MODAL: dict[str, object] = {
    "type": "modal",
    "title": text("Start DRS jobs"),
    "submit": text("Submit"),
    "close": text("Cancel"),
    "blocks": [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": ":information_source: hi"}]},
        field(
            "project",
            "Project",
            {"type": "static_select", "options": PROJECTS, "initial_option": PROJECTS[0]},
        ),
        field("pick", "Pick jobs by name", {"type": "multi_external_select"}, optional=True),
        field(
            "jobs",
            "DRS job IDs",
            {"type": "plain_text_input", "multiline": True, "initial_value": ORDERS},
            optional=True,
        ),
        field("upload", "Upload", {"type": "file_input"}, optional=True),
        field(
            "when",
            "Start",
            {"type": "radio_buttons", "options": [option("Now", "now"), option("Later", "at")]},
        ),
        field("start_at", "Start time", {"type": "datetimepicker"}, optional=True),
        field("reason", "Reason or change ticket", {"type": "plain_text_input", "max_length": 20}),
    ],
}


def test_modal_inputs_are_numbered_with_their_values() -> None:
    fields = input_fields(MODAL)
    assert [(f.number, f.label, f.kind) for f in fields] == [
        (1, "Project", "static_select"),
        (2, "Pick jobs by name", "multi_external_select"),
        (3, "DRS job IDs", "plain_text_input"),
        (4, "Upload", "file_input"),
        (5, "Start", "radio_buttons"),
        (6, "Start time", "datetimepicker"),
        (7, "Reason or change ticket", "plain_text_input"),
    ]
    project, _, jobs, _, _, start_at, reason = fields
    assert project.initial == "demo" and [c.value for c in project.choices] == ["demo", "sandbox"]
    assert jobs.initial == ORDERS and jobs.optional and jobs.multiline
    assert start_at.initial is None and reason.max_length == 20
    lines = render_view(
        MODAL, VIEWER, errors={"reason": "Give a reason."}, values={"start_at": 1772344800}
    )
    assert lines[0] == "┏━ Start DRS jobs"
    assert "┃   ℹ️ hi" in lines
    assert "┃ [1] Project: demo" in lines
    assert "┃       1) demo — needs an approver" in lines
    assert "┃ [6] Start time (optional): 2026-03-01 14:00 CST" in lines
    assert any(line.startswith("┃ [4] Upload (optional): -  (no uploads") for line in lines)
    assert "┃       ❌ Give a reason." in lines
    assert lines[-1] == "┗━ [Submit]  [Cancel]"


def test_answers_are_read_as_slack_would_submit_them() -> None:
    project, _, jobs, _, when, start_at, reason = input_fields(MODAL)
    now = datetime(2026, 3, 1, 4, 0, 30, tzinfo=UTC).timestamp()

    def answer(f: InputField, text: str, current: object = "") -> object:
        got = read_answer(f, text, tz="Asia/Shanghai", now=now, current=current or f.initial)
        return "KEEP" if got.keep else got.value

    assert answer(project, "2") == "sandbox"
    assert answer(project, "Demo") == "demo"
    assert answer(project, "") == "KEEP"
    assert answer(jobs, ".") == "KEEP"
    assert answer(jobs, ":clear") is None
    assert answer(when, "2") == "at"
    assert answer(start_at, "+10m") == int(now // 60 * 60) + 600
    assert answer(start_at, "2026-03-01 12:30") == int(
        datetime(2026, 3, 1, 4, 30, tzinfo=UTC).timestamp()
    )
    assert answer(reason, "CHG-1 go") == "CHG-1 go"
    with pytest.raises(AnswerError, match="number from 1 to 2"):
        answer(project, "3")
    with pytest.raises(AnswerError, match="required"):
        answer(reason, "")
    with pytest.raises(AnswerError, match="required"):
        answer(reason, ":clear", current="x")
    with pytest.raises(AnswerError, match="at most 20"):
        answer(reason, "x" * 21)
    with pytest.raises(AnswerError, match="YYYY-MM-DD HH:MM"):
        answer(start_at, "tomorrow")


def test_labelled_answers_and_picks() -> None:
    fields = input_fields(MODAL)
    assert labelled("reason = CHG-1: a = b", fields) == (fields[6], "CHG-1: a = b")
    assert labelled("start time = +1h", fields) == (fields[5], "+1h")  # exact label wins
    assert labelled("START = 2", fields) == (fields[4], "2")
    assert labelled("[3] = x", fields) == (fields[2], "x")
    assert labelled("s = x", fields) is None  # "Start" and "Start time": ambiguous
    assert labelled("nothing = x", fields) is None
    assert labelled("plain text", fields) is None
    options = search_options(
        {"option_groups": [{"options": [option("a", "1")]}], "options": [option("b", "2")]}
    )
    assert [o["value"] for o in options] == ["2", "1"]
    assert pick_options(options, "2, 1", multi=True) == [options[1], options[0]]
    assert pick_options(options, "", multi=False) == []
    with pytest.raises(AnswerError):
        pick_options(options, "1 2", multi=False)
    with pytest.raises(AnswerError):
        pick_options(options, "3", multi=True)


def test_times_in_the_persons_zone() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    berlin = parse_when("2026-07-01 10:00", tz="Europe/Berlin", now=now)
    assert berlin == int(datetime(2026, 7, 1, 8, 0, tzinfo=UTC).timestamp())  # CEST
    assert parse_when("+1h30m", tz="UTC", now=now) == int(now) + 5400
    with pytest.raises(AnswerError, match="does not exist"):
        parse_when("2026-03-29 02:30", tz="Europe/Berlin", now=now)  # skipped by DST
    with pytest.raises(AnswerError, match="not a real date"):
        parse_when("2026-02-30 10:00", tz="UTC", now=now)

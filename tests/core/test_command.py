from __future__ import annotations

import pytest

from bot.core.command import (
    Command,
    Help,
    History,
    Invalid,
    Start,
    Status,
    closest,
    is_project_word,
    parse_command,
    unescape_slack,
)

A = "9a470239-2308-4bb5-a6bc-1040402fjb21"
B = "dbb8127c-b093-4b94-b764-7161e151jb2s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Start()),
        ("   \n ", Start()),
        ("help", Help()),
        ("HELP", Help()),
        ("help me please", Help()),
        ("--help", Help()),
        ("?", Help()),
        ("help 'unclosed", Help()),
        ("history", History()),
        (" History ", History()),
        ("status R42", Status(("R42",))),
        (f"status {A}, {B};R1", Status((A, B, "R1"))),
        (f"STATUS {A}\n{B}", Status((A, B))),
        (f"prod {A} {B}", Start(project="prod", job_text=f"{A} {B}")),
        (f"{A} {B}", Start(job_text=f"{A} {B}")),
        (f"{A.upper()}", Start(job_text=A.upper())),
        (f"prod {A},{B}", Start(project="prod", job_text=f"{A},{B}")),
        (f"prod {A}\n{B}", Start(project="prod", job_text=f"{A} {B}")),
        ("prod", Start(project="prod")),
        (
            f"prod {A} {B} at 2026-12-01 10:00",
            Start(project="prod", job_text=f"{A} {B}", time_text="2026-12-01 10:00"),
        ),
        (f"prod {A} AT +2h", Start(project="prod", job_text=A, time_text="+2h")),
        (f"{A} at now", Start(job_text=A, time_text="now")),
        ("prod at +1d", Start(project="prod", time_text="+1d")),
        (
            "prod --name 'mig-shop-*'",
            Start(project="prod", name_pattern="mig-shop-*"),
        ),
        (
            'prod --name "mig shop *" --status configuration --type SYNC at +2h',
            Start(
                project="prod",
                name_pattern="mig shop *",
                status_filter="CONFIGURATION",
                db_use_type="sync",
                time_text="+2h",
            ),
        ),
        (
            "prod --type=clouddataguard --name=x*",
            Start(project="prod", name_pattern="x*", db_use_type="cloudDataGuard"),
        ),
        ("--status CONFIGURATION", Start(status_filter="CONFIGURATION")),
        # Chat clients turn quotes into typographic ones.
        ("prod --name “mig shop*”", Start(project="prod", name_pattern="mig shop*")),
        ("prod --name ‘mig-*’", Start(project="prod", name_pattern="mig-*")),
        # Slack escapes &, < and > in command text.
        ("prod --name 'a&amp;b&lt;c&gt;'", Start(project="prod", name_pattern="a&b<c>")),
        ("prod --name &amp;lt;", Start(project="prod", name_pattern="&lt;")),
        # A first word that is not a project name is left to the job ID parser to complain about.
        (f"#prod {A}", Start(job_text=f"#prod {A}")),
        (f"{A}@x {B}", Start(job_text=f"{A}@x {B}")),
        ("shop.prod_2-x", Start(project="shop.prod_2-x")),
    ],
)
def test_parse_command(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("history now", "`history` takes nothing after it"),
        ("status", "`status` needs a request ID or job IDs"),
        ("status ,;", "`status` needs a request ID or job IDs"),
        ("prod --name 'mig-*", "a quote is not closed"),
        ('prod --name "mig-*', "a quote is not closed"),
        ("prod --name mig\\", "ends with a lone backslash"),
        ("prod --bogus 1", "Unknown option `--bogus`; known options: --name, --status, --type"),
        ("prod --name", "`--name` needs a value"),
        ("prod --name --type sync", "`--name` needs a value"),
        ("prod --name= ", "`--name` needs a value"),
        ("prod --name a --name b", "`--name` is given twice"),
        ("prod --status RUNNING", "`--status RUNNING` is not a DRS task status"),
        ("prod --status 'x y'", "is not a DRS task status"),
        ("prod --type warp", "`--type warp` is not a job type; use one of migration, sync"),
        (f"prod {A} at", "`at` needs a time after it"),
        (f"prod {A} --name x", "either job IDs or a selection"),
        (f"prod {A} --type sync", "either job IDs or a selection"),
    ],
)
def test_invalid_commands_say_what_is_wrong(text: str, fragment: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Invalid)
    assert fragment in result.message


def test_bad_quoting_includes_usage() -> None:
    result = parse_command("prod --name 'x")
    assert isinstance(result, Invalid)
    assert "Usage:" in result.message


def test_huge_text_is_refused_quickly() -> None:
    result = parse_command("x" * 200_000)
    assert isinstance(result, Invalid)
    assert "too long" in result.message


def test_unescape_is_one_pass() -> None:
    assert unescape_slack("&amp;amp; &lt;@U1&gt; &quot;") == "&amp; <@U1> &quot;"


@pytest.mark.parametrize(
    ("word", "project"),
    [
        ("prod", True),
        ("Prod-EU.1", True),
        (A, False),
        (A.upper(), False),
        ("help", False),
        ("AT", False),
        ("status", False),
        ("-prod", False),
        ("prod,test", False),
        ("x" * 65, False),
        ("", False),
    ],
)
def test_is_project_word(word: str, project: bool) -> None:
    assert is_project_word(word) is project


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("histroy", "history"),
        ("hist", "history"),
        ("stauts", "status"),
        ("hlep", "help"),
        ("prdo", "prod"),
        ("PROD", "prod"),
        ("staging", None),
        ("x", None),
    ],
)
def test_closest_finds_likely_typos_only(word: str, expected: str | None) -> None:
    assert closest(word, ["help", "history", "status", "prod", "dev"]) == expected

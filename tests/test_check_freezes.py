"""``startjobs check`` on change-freeze windows: one FAIL line per problem, naming the window
and what to fix; the windows that load are listed with their state."""

from __future__ import annotations

import io
from pathlib import Path

from bot.check.doctor import check
from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK

PROJECT = f"""
[projects.prod]
region = "cn-north-4"
project_id = "{DEFAULT_PROJECT_ID}"
endpoint = "http://127.0.0.1:9"
requesters = ["U01ALICE"]
approvers = ["U02BOB"]
"""


async def _check(tmp_path: Path, freeze: str) -> tuple[int, list[str]]:
    path = tmp_path / "startjobs.toml"
    path.write_text(PROJECT + freeze, encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-check-freezes",
        "SLACK_SIGNING_SECRET": "check-freezes-signing",
        "STARTJOBS_CONFIG": str(path),
        "STARTJOBS_DB": str(tmp_path / "startjobs.db"),
        "HUAWEICLOUD_SDK_AK": DEFAULT_AK,
        "HUAWEICLOUD_SDK_SK": DEFAULT_SK,
    }
    out = io.StringIO()
    code = await check(env, out=out, offline=True)
    return code, out.getvalue().splitlines()


async def test_every_window_problem_is_one_fail_line(tmp_path: Path) -> None:
    code, lines = await _check(
        tmp_path,
        """
[[freeze]]
name = "year-end"
schedule = "0 18 * * 8"
duration = "62h"
timezone = "Asia/Shanghia"

[[freeze]]
name = "never"
schedule = "0 0 31 4 *"
duration = "1d"
""",
    )
    assert code == 1
    fails = [ln for ln in lines if ln.startswith("FAIL  config:")]
    assert len(fails) == 3, lines
    assert any('freeze "year-end".schedule' in f and "8 is out of range 0-7" in f for f in fails)
    assert any('freeze "year-end".timezone' in f and "Asia/Shanghia" in f for f in fails)
    assert any('freeze "never": schedule' in f and "never opens" in f for f in fails)


async def test_windows_that_load_are_listed(tmp_path: Path) -> None:
    code, lines = await _check(
        tmp_path,
        """
[[freeze]]
name = "always"
schedule = "* * * * *"
duration = "1h"
projects = ["prod*"]

[[freeze]]
name = "elsewhere"
schedule = "0 0 * * *"
duration = "1h"
projects = ["payroll"]
""",
    )
    assert code == 0, lines
    freezes = [ln for ln in lines if "  freeze:" in ln]
    assert len(freezes) == 2, lines
    assert (
        freezes[0].startswith("ok") and "always: deny '* * * * *' UTC for 1h on prod*" in freezes[0]
    )
    assert "open now until" in freezes[0]
    assert "matches no project of the policy yet" in freezes[1]

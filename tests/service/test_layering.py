"""The use cases know no Slack: importing them loads neither bot.slack nor slack_sdk/Bolt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bot.service


def test_service_modules_load_without_slack() -> None:
    modules = sorted(p.stem for p in Path(bot.service.__file__).parent.glob("*.py"))
    imports = "; ".join(f"import bot.service.{m}" for m in modules if m != "__init__")
    code = (
        f"import sys; {imports}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('slack_sdk', 'slack_bolt') "
        "or m.startswith('bot.slack')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"

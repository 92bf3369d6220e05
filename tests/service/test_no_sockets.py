"""The service tests touch no network: the guard of ``tests/service/conftest.py`` refuses
sockets, and neither the fakes nor the ``bot`` modules the tests import load a network
library (HTTP clients, Slack's SDK)."""

from __future__ import annotations

import ast
import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
NETWORK_LIBRARIES = ("httpx", "httpcore", "aiohttp", "requests", "urllib3", "websockets")
SLACK = ("slack_sdk", "slack_bolt")


def test_opening_a_connection_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="used a socket"):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)


async def test_opening_a_connection_from_the_event_loop_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="used a socket"):
        await asyncio.open_connection("127.0.0.1", 9)


def test_a_server_cannot_listen_either() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(AssertionError, match="used a socket"),
    ):
        sock.bind(("127.0.0.1", 0))


def _bot_modules_the_tests_import() -> set[str]:
    """Every ``bot`` module a file here imports (read from the source, not imported)."""
    found: set[str] = set()
    for path in HERE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot"):
                found.add(str(node.module))
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("bot"))
    return found


def test_the_fakes_and_the_code_under_test_load_no_network_library() -> None:
    modules = sorted(_bot_modules_the_tests_import() | {"tests.service.fakes"})
    assert "bot.service" in modules
    code = (
        "import json, sys; "
        + "; ".join(f"import {m}" for m in modules)
        + "; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=HERE.parent.parent,
    )
    loaded = set(json.loads(out.stdout))
    assert "bot" in loaded  # the imports ran
    assert loaded.isdisjoint(NETWORK_LIBRARIES + SLACK), loaded & set(NETWORK_LIBRARIES + SLACK)

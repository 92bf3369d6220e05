"""The service tests touch no network: the guard of ``tests/service/conftest.py`` refuses
sockets, and neither the fakes nor the tests load a network library."""

from __future__ import annotations

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


def test_the_fakes_and_tests_load_no_network_library() -> None:
    modules = ["tests.service.fakes", "tests.service.support"] + [
        f"tests.service.{p.stem}"
        for p in sorted(HERE.glob("test_*.py"))
        if p.stem != Path(__file__).stem
    ]
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

"""The container's start command works as the Dockerfile runs it, without a Docker engine.

A fresh virtual environment is built the way the Dockerfile's build stage builds it
(``python -m venv`` then ``pip install .``), then the image's ENTRYPOINT + CMD and its
HEALTHCHECK command run with the image's environment, against the DRS simulator and the fake
Slack on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import urllib.parse
import venv
from pathlib import Path

import httpx
import pytest

from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK, DrsSimulator
from bot.devkit.sim.slack import FakeSlack
from bot.store import Store
from bot.store.postgres import PostgresStore

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _json_instruction(name: str) -> list[str]:
    match = re.search(rf"^{name}\s+(\[.*\])\s*$", DOCKERFILE, re.MULTILINE)
    assert match, f"no exec-form {name} in the Dockerfile"
    value = json.loads(match.group(1))
    assert isinstance(value, list)
    return [str(v) for v in value]


def _image_env() -> dict[str, str]:
    block = re.search(r"^ENV (PATH=.*?)(?=^\S)", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert block
    pairs = re.findall(r"(\w+)=(\S+)", block.group(1).replace("\\\n", " "))
    return dict(pairs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dockerfile_shape() -> None:
    assert DOCKERFILE.count("FROM ") >= 2, "multi-stage"
    assert re.search(r"^USER \d+", DOCKERFILE, re.MULTILINE), "non-root, numeric"
    assert "HEALTHCHECK" in DOCKERFILE
    assert 'VOLUME ["/data"]' in DOCKERFILE
    assert _json_instruction("CMD") == ["run"]
    for secret in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "HUAWEICLOUD_SDK_SK"):
        assert secret not in DOCKERFILE, "no secrets baked in"


@pytest.mark.slow
async def test_image_start_command_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    prefix = tmp_path / "opt-startjobs"
    venv.EnvBuilder(with_pip=True).create(prefix)
    pip = subprocess.run(
        [str(prefix / "bin" / "python"), "-m", "pip", "install", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]

    sim = DrsSimulator()
    slack = FakeSlack()
    sim_url = await sim.start()
    await slack.start()
    config = tmp_path / "startjobs.toml"
    config.write_text(
        f"""[projects.prod]
region = "cn-north-4"
project_id = "{DEFAULT_PROJECT_ID}"
endpoint = "{sim_url.rstrip("/")}"
requesters = ["U01ALICE"]
approvers = ["U02BOB"]
approval = "two-person"
""",
        encoding="utf-8",
    )
    port = _free_port()
    image_env = _image_env()
    env = {
        "PATH": f"{prefix / 'bin'}:/usr/bin:/bin",
        "PYTHONUNBUFFERED": image_env["PYTHONUNBUFFERED"],
        "STARTJOBS_DB": str(tmp_path / "data" / "startjobs.db"),
        "STARTJOBS_CONFIG": str(config),
        "PORT": str(port),
        "SLACK_BOT_TOKEN": "xoxb-fake-token",
        "SLACK_SIGNING_SECRET": "container-test-secret",
        "SLACK_API_URL": slack.url,
        "HUAWEICLOUD_SDK_AK": DEFAULT_AK,
        "HUAWEICLOUD_SDK_SK": DEFAULT_SK,
    }
    command = _json_instruction("ENTRYPOINT") + _json_instruction("CMD")
    health = re.search(r'CMD \["python", "-m", "bot.healthcheck"\]', DOCKERFILE)
    assert health
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    resp = await client.get(f"http://127.0.0.1:{port}/healthz")
                    if resp.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the container command never answered /healthz")
        check = await asyncio.create_subprocess_exec(
            "python", "-m", "bot.healthcheck", env=env, cwd=tmp_path
        )
        assert await check.wait() == 0
        assert os.stat(env["STARTJOBS_DB"]).st_mode & 0o077 == 0
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        await slack.stop()
        await sim.stop()
    assert b"Traceback" not in out, out.decode()[-2000:]
    assert proc.returncode == 0, "SIGTERM (docker stop) ends the bot cleanly"


def test_healthcheck_in_socket_mode_checks_the_database(tmp_path: Path) -> None:
    """In Socket Mode nothing listens: the image's health check writes to the database."""
    base = {"PATH": os.environ["PATH"], "SLACK_APP_TOKEN": "xapp-1-A-2-abc"}
    path = tmp_path / "startjobs.db"
    Store(path).close()  # as the running bot made it

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.healthcheck"],
            env={**base, "STARTJOBS_DB": str(path)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    good = check()
    assert good.returncode == 0, good.stderr
    # A lock another process holds for longer than the check waits: no write can be made.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        locked = check()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert locked.returncode == 1 and "locked" in locked.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "bot.healthcheck"],
        env={**base, "STARTJOBS_DB": str(tmp_path / "missing-dir" / "startjobs.db")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 1
    assert "unhealthy: database" in bad.stderr


async def test_healthcheck_in_socket_mode_writes_to_postgresql(pg_url: str) -> None:
    """With STARTJOBS_DATABASE_URL, the Socket Mode health check writes there, and says why
    it cannot without showing the URL's password."""
    store = PostgresStore(pg_url, pool_min=1, pool_max=2, connect_timeout=5)
    await store.open()  # as the running bot did: migrated
    await store.aclose()
    base = {"PATH": os.environ["PATH"], "SLACK_APP_TOKEN": "xapp-1-A-2-abc"}

    def check(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.healthcheck"],
            env={**base, "STARTJOBS_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    good = await asyncio.to_thread(check, pg_url)
    assert good.returncode == 0, good.stderr
    # A database without the bot's tables (never migrated), reached with a password.
    parts = urllib.parse.urlsplit(pg_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    wrong = parts._replace(netloc=f"nobody:s3cret-word@{host}", path="/postgres").geturl()
    bad = await asyncio.to_thread(check, wrong)
    assert bad.returncode == 1 and "unhealthy: database" in bad.stderr
    assert "s3cret-word" not in bad.stderr

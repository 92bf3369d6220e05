"""`startjobs simulate` (cli_main) as its own process, and SimulatorThread from sync code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from drs_sim_support import PID, path, query_body, sdk_signed_headers

from bot.devkit.sim.drs import DrsSimulator, SimulatorThread
from bot.devkit.sim.drs_cli import cli_main
from bot.devkit.sim.drs_jobs import DEMO_JOBS

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "import sys; from bot.devkit.sim.drs_cli import cli_main; sys.exit(cli_main(sys.argv[1:]))"


def test_cli_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HUAWEICLOUD_SDK_SK": "sk-from-env"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH,
            "--port",
            "0",
            "--seed-demo",
            "--jobs",
            "3",
            "--fault",
            "batch-status:status_429:count=1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("DRS simulator listening on http://127.0.0.1:"), first
        url = first.rsplit(" ", 1)[1].strip()
        banner = proc.stdout.readline()
        assert "sk-from-env" not in banner
        with httpx.Client(base_url=url, timeout=5.0) as client:
            jobs = client.get("/_sim/jobs").json()["jobs"]
            assert len(jobs) == len(DEMO_JOBS) + 3
            assert jobs[-1]["name"] == "mig-shop-0003"
            body = json.dumps(query_body(jobs[0]["id"])).encode()
            statuses = []
            for _ in range(2):
                headers = sdk_signed_headers(
                    "POST", url + path("batch-status"), body, sk="sk-from-env"
                )
                statuses.append(client.post(path("batch-status"), content=body, headers=headers))
            assert [s.status_code for s in statuses] == [429, 200]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_a_bad_fault_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--port", "0", "--fault", "batch-starting:explode"]) == 2
    assert "kind must be one of" in capsys.readouterr().out


def test_cli_help_and_usage_errors_return_codes() -> None:
    assert cli_main(["--help"]) == 0
    assert cli_main(["--port", "not-a-number"]) == 2
    assert cli_main(["--jobs", "-1"]) == 2


def test_thread_runner_serves_sync_code_and_stops() -> None:
    sim = DrsSimulator()
    sim.add_generated(2)
    runner = SimulatorThread(sim)
    url = runner.start()
    try:
        with httpx.Client(base_url=url, timeout=5.0) as client:
            token = sim.issue_token().reveal()
            answer = client.post(
                path("batch-status"),
                json=query_body(*(j.id for j in sim.jobs())),
                headers={"X-Auth-Token": token},
            )
            assert answer.status_code == 200
            assert answer.json()["count"] == 2
    finally:
        runner.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + path("list", PID), timeout=2.0)
    runner.stop()  # idempotent


def test_thread_runner_reports_a_port_in_use() -> None:
    with SimulatorThread(DrsSimulator()) as url:
        port = int(url.rsplit(":", 1)[1])
        clash = SimulatorThread(DrsSimulator(), port=port)
        with pytest.raises(RuntimeError, match="failed to start"):
            clash.start()
        clash.stop()

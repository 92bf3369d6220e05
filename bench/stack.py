"""What the benchmarks share: the bot, the DRS simulator and a bare Bolt app as child processes.

The bot runs as ``python -m bot`` with its settings in the environment and its policy in a
TOML file, exactly as deployed; the DRS simulator runs as ``python -m bot.cli simulate`` and is
driven through its control API; the fake Slack Web API and the load generator stay in the
benchmark's own process (the driver needs the fake's state to hand out trigger ids and to
submit the modals the bot opened). Nothing here listens anywhere but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.devkit.sim.drs import DEFAULT_AK, DEFAULT_PROJECT_ID, DEFAULT_SK

REPO = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "bench-signing-secret-0123456789"  # noqa: S105 - loopback only
BOT_TOKEN = "xoxb-fake-token"  # noqa: S105 - the fake Slack's own token
CHANNEL = "C0BENCH"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def policy_toml(
    projects: Mapping[str, Mapping[str, object]], defaults: Mapping[str, object] | None = None
) -> str:
    """A policy file from plain tables of strings, numbers and lists of strings."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, object]]] = []
    if defaults:
        tables.append(("defaults", defaults))
    tables.extend((f"projects.{name}", table) for name, table in projects.items())
    for header, table in tables:
        lines.append(f"[{header}]")
        # JSON strings, numbers and lists of strings are valid TOML values as well.
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in table.items())
        lines.append("")
    return "\n".join(lines)


def project_table(
    sim_url: str,
    *,
    requesters: Sequence[str],
    approvers: Sequence[str],
    approval: str = "two-person",
) -> dict[str, object]:
    """A ``[projects.<name>]`` table pointing at the simulator, usable from :data:`CHANNEL`."""
    return {
        "region": "cn-north-4",
        "project_id": DEFAULT_PROJECT_ID,
        "endpoint": sim_url,
        "iam_endpoint": sim_url,
        "channels": [CHANNEL],
        "requesters": list(requesters),
        "approvers": list(approvers),
        "approval": approval,
    }


def child_env(**extra: str) -> dict[str, str]:
    """Only what the interpreter needs from outside, plus ``extra``: children read nothing else."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }


class Child:
    """One child process with its output in ``log_path``; stopped with SIGINT, then SIGKILL."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def wait_http(self, url: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Return once ``GET url`` answers 200; raise if the process exits or never answers."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.log_path.stem} exited with {self.proc.returncode}:\n"
                        + self.log_tail()
                    )
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.log_path.stem} never answered:\n{self.log_tail()}")
                await asyncio.sleep(0.05)

    def peak_rss_mib(self) -> float | None:
        """The process's resident-set high-water mark (Linux ``VmHWM``), None elsewhere."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the process has used so far (Linux), None elsewhere."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1]
        except OSError:
            return None
        parts = fields.split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(parts[11]) + int(parts[12])) / ticks

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """Interrupt (a graceful stop), kill after ``timeout``; the exit code.

        Polls rather than blocks so servers on this process's loop keep answering the child
        while it shuts down.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
            await asyncio.sleep(0.02)
        return self.proc.returncode


class SimProcess(Child):
    """The DRS + IAM simulator (``startjobs simulate``) and its control API."""

    def __init__(self, log_path: Path, *, start_delay: float = 2.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "bot.cli", "simulate", "--port", str(self.port)]
        argv += ["--start-delay", str(start_delay)]
        super().__init__(argv, child_env(), log_path)
        self._http = httpx.AsyncClient(base_url=f"{self.url}/_sim", timeout=60.0)

    async def ready(self) -> str:
        await self.wait_http(f"{self.url}/_sim/clock")
        return self.url

    async def _json(self, method: str, path: str, body: object = None) -> Any:
        resp = await self._http.request(method, path, json=body)
        resp.raise_for_status()
        return resp.json()

    async def generate(self, count: int, prefix: str) -> list[str]:
        """Add ``count`` startable tasks; their ids in order."""
        answer = await self._json("POST", "/jobs", {"generate": count, "prefix": prefix})
        return [str(j["id"]) for j in answer["jobs"]]

    async def fault(self, endpoint: str, kind: str, **params: object) -> None:
        await self._json("POST", "/faults", {"endpoint": endpoint, "kind": kind, **params})

    async def fault_spec(self, spec: str) -> None:
        """A fault in the simulator's compact ``endpoint:kind[:name=value,...]`` form."""
        await self._json("POST", "/faults", {"spec": spec})

    async def calls(self) -> list[dict[str, Any]]:
        """Every call the simulator answered since the last :meth:`clear_calls`."""
        answer = await self._json("GET", "/calls")
        return list(answer["calls"])

    async def clear_calls(self) -> None:
        await self._json("DELETE", "/calls")

    async def stop(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        await self._http.aclose()
        return await super().stop(timeout)


class BotProcess(Child):
    """The bot as deployed: ``python -m bot`` reading its environment and policy file."""

    def __init__(
        self,
        tmp: Path,
        *,
        slack_url: str,
        policy: str,
        name: str = "bot",
        env: Mapping[str, str] | None = None,
        profile: Path | None = None,
    ) -> None:
        """``profile``: run under cProfile and write its statistics there on a graceful stop."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.events_url = f"{self.url}/slack/events"
        config = tmp / f"{name}.toml"
        config.write_text(policy, encoding="utf-8")
        self.db_path = tmp / f"{name}.db"
        variables = child_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack_url,
            PORT=str(self.port),
            STARTJOBS_CONFIG=str(config),
            STARTJOBS_DB=str(self.db_path),
            HUAWEICLOUD_SDK_AK=DEFAULT_AK,
            HUAWEICLOUD_SDK_SK=DEFAULT_SK,
        )
        variables.update(env or {})
        argv = [sys.executable]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile.resolve())]
        argv += ["-m", "bot", "--env-file", os.devnull]
        super().__init__(argv, variables, tmp / f"{name}.log")

    async def ready(self) -> None:
        await self.wait_http(f"{self.url}/healthz")


class BareAckProcess(Child):
    """``bench/bare_ack.py``: a stock Bolt app (Bolt's runner, matchers and aiohttp server)
    with the bot's signing secret and token, whose listeners only ack."""

    def __init__(self, tmp: Path, *, slack_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.events_url = f"{self.url}/slack/events"
        env = child_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack_url,
            PORT=str(self.port),
        )
        argv = [sys.executable, str(REPO / "bench" / "bare_ack.py")]
        super().__init__(argv, env, tmp / "bare_ack.log")

    async def ready(self) -> None:
        await self.wait_http(f"{self.url}/healthz")


# -- placement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """CPUs for the server being measured, and the others for everything else (Linux).

    On a small machine the load generator and the fakes standing in for Slack and DRS (which
    in production run on other machines) would otherwise take CPU time from the server in
    the middle of a burst, more or less from one burst to the next; the measured server, bot
    or baseline alike, gets a CPU of its own instead.
    """

    server: frozenset[int]
    rest: frozenset[int]

    @classmethod
    def split(cls) -> Placement | None:
        """The first CPU for the server, the others for the rest; None with fewer than two
        CPUs, or where processes cannot be placed (not Linux)."""
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cpus) < 2:
            return None
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:]))

    def serve(self, pid: int) -> None:
        os.sched_setaffinity(pid, self.server)

    def beside(self, pid: int) -> None:
        """Run ``pid`` on the server's CPU only when that CPU has nothing else to do
        (``SCHED_IDLE``): work that in production runs on another machine, kept from taking
        CPU time from the measured server or from the load."""
        os.sched_setaffinity(pid, self.server)
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))

    def load(self, pid: int, *, nice: int = 0) -> None:
        """Keep ``pid`` off the server's CPU; ``nice`` (> 0) lets the firer go first."""
        os.sched_setaffinity(pid, self.rest)
        if nice:
            os.setpriority(os.PRIO_PROCESS, pid, nice)

    @contextlib.contextmanager
    def this_thread(self) -> Iterator[None]:
        """Keep this (the benchmark's) thread off the server's CPU, until the block ends."""
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.rest)
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def describe(self) -> str:
        def cpus(which: frozenset[int]) -> str:
            return ",".join(str(c) for c in sorted(which))

        return (
            f"the measured server on CPU {cpus(self.server)}; the sender, the fake Slack and "
            f"the DRS simulator on CPU {cpus(self.rest)}"
        )


# -- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Order statistics of a sample, in seconds (nearest-rank percentiles)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        if not samples:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan)
        ordered = sorted(samples)

        def rank(p: float) -> float:
            return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

        return cls(len(ordered), rank(50), rank(95), rank(99), ordered[-1])


class LoopLag:
    """How late this process's event loop wakes up: the load generator's own noise.

    A task asks to wake every ``interval`` seconds and records how much later it woke;
    large values mean the benchmark process itself (the fake Slack, the driver) was busy
    and added that much to the latencies it measured.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self.samples.append(max(0.0, loop.time() - before - self.interval))

    def take(self) -> Spread:
        """The lag since the last call, and start afresh."""
        spread = Spread.of(self.samples)
        self.samples = []
        return spread

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def wait_until(
    predicate: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109 - a deadline for a condition, not for one I/O call
    *,
    every: float = 0.02,
) -> bool:
    """Poll ``predicate`` until true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)
    return True


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"

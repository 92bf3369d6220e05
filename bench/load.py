"""Load for the ack-latency benchmark: requests built by the Slack driver, sent by a firer.

The driver needs the fake Slack's state (trigger ids, open views) and so lives on the
benchmark's event loop; :class:`CapturingDriver` only builds the bodies. :class:`Firer` hands
each burst to ``bench/firer.py``, a process that does nothing but send and time, so no clock
waits on the fake Slack.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.stack import REPO, SIGNING_SECRET, child_env
from bot.devkit.sim.driver import DriverResponse, SlackDriver

Action = Callable[[], Awaitable[DriverResponse]]
Sent = tuple[str, bytes, str]  # kind of request, body, content type


class CapturingDriver(SlackDriver):
    """The Slack driver as a payload builder: it keeps each signed-to-be body instead of
    sending it (the :class:`Firer` sends), so building a burst costs no time on its clock."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.captured: list[tuple[bytes, str]] = []

    async def raw(
        self,
        body: bytes,
        *,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DriverResponse:
        self.captured.append((body, content_type))
        return DriverResponse(0, None, "", 0.0, timed_out=True)

    async def build(self, action: Action) -> tuple[bytes, str]:
        """The body ``action`` would post (one request per action)."""
        self.captured.clear()
        await action()
        (sent,) = self.captured
        return sent


class Firer:
    """``bench/firer.py`` in its own process: sends a burst at once and times each answer."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "bench" / "firer.py"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=child_env(SLACK_SIGNING_SECRET=SIGNING_SECRET),
            limit=64 * 1024 * 1024,
        )

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def burst(self, url: str, requests: Sequence[Sent]) -> list[Answer]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        line = {
            "url": url,
            "requests": [
                {"body": base64.b64encode(body).decode(), "type": ct} for _, body, ct in requests
            ],
        }
        proc.stdin.write(json.dumps(line).encode() + b"\n")
        await proc.stdin.drain()
        answer = json.loads(await proc.stdout.readline())
        return [Answer(**r) for r in answer["results"]]

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            await self._proc.wait()


@dataclass(frozen=True)
class Answer:
    """One timed answer from the firer (``status`` 0: none within its timeout)."""

    status: int
    elapsed: float
    text: str

    @property
    def accepted(self) -> bool:
        """Acknowledged, and not refused on a field or in the modal."""
        if self.status != 200:
            return False
        try:
            body = json.loads(self.text) if self.text.startswith("{") else {}
        except ValueError:
            body = {}
        return body.get("response_action") not in ("errors", "update")


@dataclass
class Sample:
    kind: str
    elapsed: float
    ok: bool


async def send_bursts(
    firer: Firer, url: str, makers: Sequence[Callable[[], Awaitable[list[Sent]]]], every: float
) -> tuple[list[Sample], list[list[Sent]]]:
    """Make and send each burst, all its requests at once; the next burst once every answer is
    in and ``every`` seconds have passed since the last one began. The samples, and what was
    sent (burst by burst).

    Each burst is made in the pause before it (the first before the clock starts): making a
    burst of modal submissions takes this process tens of milliseconds, during which the fake
    Slack it hosts cannot answer, so made at the burst's start it would push its own work and
    the replies the bot waits for into the burst being measured.
    """
    samples: list[Sample] = []
    sent: list[list[Sent]] = []
    if not makers:
        return samples, sent
    loop = asyncio.get_running_loop()
    burst = await makers[0]()
    begin = loop.time()
    for index in range(len(makers)):
        await asyncio.sleep(max(0.0, begin - loop.time()))
        begin = loop.time() + every
        answers = await firer.burst(url, burst)
        samples += [
            Sample(kind, a.elapsed, a.accepted)
            for (kind, _, _), a in zip(burst, answers, strict=True)
        ]
        sent.append(burst)
        if index + 1 < len(makers):
            burst = await makers[index + 1]()
    return samples, sent


async def as_is(burst: list[Sent]) -> list[Sent]:
    """A recorded burst, to send again."""
    return burst

"""What the bot did, as ``startjobs demo`` prints it: new and changed messages, ephemeral
answers and files, each message numbered (``#3``) once and for all.

:meth:`Feed.settle` waits until the bot has gone quiet (no Slack or DRS call for a moment), so
background work that follows an acknowledgement shows up with the action that caused it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from bot.devkit.demo.mrkdwn import Viewer, mrkdwn
from bot.devkit.demo.render import buttons_of, render_blocks
from bot.devkit.demo.terminal import Transcript
from bot.devkit.demo.world import CHANNEL, CHANNEL_NAME, PEOPLE, DemoWorld
from bot.devkit.sim.slack import FakeMessage

QUIET_FOR = 0.25  # seconds without Slack or DRS traffic that count as "the bot is done"
SETTLE_LIMIT = 8.0


@dataclass
class _Seen:
    number: int
    canonical: str  # rendered in a fixed timezone: changes only when the message does


class Feed:
    """Prints what people would see in the fake Slack that they have not seen yet."""

    def __init__(self, world: DemoWorld, out: Transcript) -> None:
        self.world = world
        self.out = out
        self.tz = "UTC"  # the reader's timezone; the session sets it to the current person's
        self._messages: dict[tuple[str, str], _Seen] = {}
        self._by_number: dict[int, tuple[str, str]] = {}
        self._ephemerals = 0
        self._files = 0

    def viewer(self, *, canonical: bool = False) -> Viewer:
        names = self.world.names()
        channels = {CHANNEL: CHANNEL_NAME}
        if canonical:
            return Viewer(names=names, channels=channels)
        return Viewer(names=names, channels=channels, tz=self.tz, now=time.time())

    async def settle(self, limit: float = SETTLE_LIMIT) -> None:
        """Return once no Slack or DRS call happened for a moment (or after ``limit`` s),
        showing what changes meanwhile as it changes (a message updated again before the bot
        goes quiet, such as an outcome unknown at first, is shown in each of its states)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        await self.world.bot.service.tasks.drain(limit)
        last, quiet_since = self._traffic(), loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            now = self._traffic()
            if now != last:
                last, quiet_since = now, loop.time()
                self.show_new()
            elif loop.time() - quiet_since >= QUIET_FOR:
                return

    def _traffic(self) -> tuple[int, int]:
        return len(self.world.slack.calls), len(self.world.sim.calls)

    # -- printing -------------------------------------------------------------------------------

    def show_new(self) -> None:
        """Print messages that are new or changed (in posting order), then new ephemeral
        answers and new files."""
        slack = self.world.slack
        entries: dict[tuple[str, str], FakeMessage] = {}
        for channel in (CHANNEL, *(p.id for p in PEOPLE)):
            for top in slack.messages(channel):
                entries[(channel, top.ts)] = top
                for reply in slack.thread(channel, top.ts):
                    entries[(channel, reply.ts)] = reply
        for key in sorted(entries, key=lambda k: float(k[1])):
            msg = entries[key]
            canonical = self._canonical(msg)
            seen = self._messages.get(key)
            if seen is None:
                number = len(self._by_number) + 1
                self._messages[key] = _Seen(number, canonical)
                self._by_number[number] = key
                self.print_message(msg)
            elif seen.canonical != canonical:
                seen.canonical = canonical
                self.print_message(msg, updated=True)
        self._show_ephemerals()
        self._show_files()

    def _show_ephemerals(self) -> None:
        ephemerals = self.world.slack.ephemerals()
        for e in ephemerals[self._ephemerals :]:
            who = self.world.names().get(e.user, e.user)
            body = render_blocks(e.blocks, self.viewer()) if e.blocks else self._text(e.text)
            where = f"#{CHANNEL_NAME}" if e.channel == CHANNEL else e.channel
            self.out.show([f"── only @{who} sees this, in {where}", *body])
        self._ephemerals = len(ephemerals)

    def _show_files(self) -> None:
        files = self.world.slack.files
        for f in files[self._files :]:
            where = self.number_of(f.channel or "", f.thread_ts or "")
            place = f"in the thread of #{where}" if where else f"in #{CHANNEL_NAME}"
            rows = f.content.decode("utf-8", "replace").count("\n")
            self.out.show(f"📎 {f.filename} ({f.title}; {rows} lines) posted {place}")
        self._files = len(files)

    def print_message(self, msg: FakeMessage, *, updated: bool = False) -> None:
        """One message with its number, sender and time; a thread reply indented."""
        number = self.number_of(msg.channel, msg.ts)
        viewer = self.viewer()
        at = datetime.fromtimestamp(float(msg.ts), viewer.zone).strftime("%H:%M:%S")
        where = f"#{CHANNEL_NAME}" if msg.channel == CHANNEL else "a direct message"
        sender = self.world.names().get(msg.user, msg.user)
        head = f"── #{number} {sender} in {where} · {at}"
        indent = ""
        if msg.is_reply and msg.thread_ts is not None:
            parent = self.number_of(msg.channel, msg.thread_ts)
            head = f"↳ #{number} {sender}, reply in the thread of #{parent} · {at}"
            indent = "    "
        if updated:
            head += " (updated)"
        body = render_blocks(msg.blocks, viewer) if msg.blocks else self._text(msg.text)
        self.out.show([indent + head, *(indent + line for line in body)])

    def _text(self, text: str) -> list[str]:
        return mrkdwn(text, self.viewer()).splitlines()

    def _canonical(self, msg: FakeMessage) -> str:
        viewer = self.viewer(canonical=True)
        body = render_blocks(msg.blocks, viewer) if msg.blocks else [mrkdwn(msg.text, viewer)]
        return "\n".join(body)

    # -- messages by number ---------------------------------------------------------------------

    def number_of(self, channel: str, ts: str) -> int | None:
        seen = self._messages.get((channel, ts))
        return seen.number if seen else None

    def message(self, number: int) -> FakeMessage | None:
        """Message ``#number`` as it is now."""
        key = self._by_number.get(number)
        return self.world.slack.message(*key) if key else None

    def thread(self, msg: FakeMessage) -> list[FakeMessage]:
        return self.world.slack.thread(msg.channel, msg.ts)

    def last_with_buttons(self) -> int | None:
        """The number of the latest message that has buttons now."""
        for number in sorted(self._by_number, reverse=True):
            msg = self.message(number)
            if msg is not None and buttons_of(msg.blocks):
                return number
        return None

"""The terminal chat of ``startjobs demo``: commands in, what Slack would show out.

One :class:`Session` plays one person at a time (``as bob`` switches) in ``#ops``. After each
action it waits until the bot has gone quiet, prints what is new (:mod:`bot.devkit.demo.feed`), and
walks the person through any modal that opened (:mod:`bot.devkit.demo.modal`).
"""

from __future__ import annotations

import asyncio
import re

from bot.devkit.demo.faults import HELP as DRS_HELP
from bot.devkit.demo.faults import drs_command
from bot.devkit.demo.feed import Feed
from bot.devkit.demo.modal import ModalWalk
from bot.devkit.demo.mrkdwn import text_of
from bot.devkit.demo.render import buttons_of
from bot.devkit.demo.terminal import LineSource, Transcript
from bot.devkit.demo.world import CHANNEL, CHANNEL_NAME, PEOPLE, DemoWorld, Person
from bot.devkit.sim.driver import DriverResponse

HELP = f"""\
Commands (you act as one person in #ops; the bot and Slack are real code, DRS is simulated):
  /startjobs [text]     run the slash command, e.g. /startjobs help, /startjobs prod <job ids>
  as <name>             act as alice (requester), bob or carol (approvers), mallory (nobody)
  click <n> [#m]        click button [n] of the last message with buttons, or of message #m
  show #m               show message #m again, with its thread
  jobs                  the simulator's DRS jobs: name, id, status (copy ids from here)
  users                 who is who
  wait <seconds>        let time pass and show what the bot does meanwhile
  expect <text>         fail (in a script: end with exit status 1) unless <text> was shown
  (Enter)               show what the bot did since
  help                  this list
  quit                  end the demo
Make the simulated DRS misbehave, to see refusals, Retry and unknown outcomes:
{DRS_HELP}
In a form, each line answers the field asked: Enter (or .) keeps the value shown, :clear
empties it; `label = value` answers the field with that label (its start will do) and goes
on after it; :submit submits at once; :close closes the form unsubmitted."""

_CLICK = re.compile(r"click\s+(\d+)(?:\s+#?(\d+))?", re.IGNORECASE)
_NUMBER = re.compile(r"#?\d+")
_SHOW = re.compile(r"show\s+#?(\d+)", re.IGNORECASE)


class Session:
    """One terminal chat. :meth:`run` returns 0, or 1 when an ``expect`` failed in a script."""

    def __init__(
        self,
        world: DemoWorld,
        source: LineSource,
        out: Transcript,
        *,
        expect_timeout: float = 5.0,
    ) -> None:
        self.world = world
        self.source = source
        self.out = out
        self.expect_timeout = expect_timeout
        self.feed = Feed(world, out)
        self.person = PEOPLE[0]
        self._walked: set[tuple[str, str]] = set()  # (view id, hash) already walked through
        self.failed: str | None = None

    @property
    def person(self) -> Person:
        return self._person

    @person.setter
    def person(self, person: Person) -> None:
        self._person = person
        self.feed.tz = person.tz

    # -- the loop -------------------------------------------------------------------------------

    @property
    def prompt(self) -> str:
        return f"{self.person.name}@#{CHANNEL_NAME}> "

    async def run(self) -> int:
        while self.failed is None:
            line = await self.source.read(self.prompt)
            if line is None:
                break
            if not await self.handle(line.strip()):
                break
        await self.refresh()
        return 1 if self.failed is not None else 0

    async def handle(self, command: str) -> bool:
        """Act on one command; False when the person quits."""
        word = command.split(maxsplit=1)[0].lower() if command else ""
        rest = command[len(word) :].strip()
        if not command:
            await self.refresh()
        elif word in ("quit", "exit", "q"):
            return False
        elif word in ("help", "?", "h"):
            self.out.note(HELP)
        elif command.startswith("/"):
            await self.slash(command)
        elif word == "as":
            self.switch(rest)
        elif (click := _CLICK.fullmatch(command)) is not None:
            await self.click(int(click.group(1)), int(click.group(2)) if click.group(2) else None)
        elif _NUMBER.fullmatch(command) is not None:
            self.bare_number(command)
        elif (show := _SHOW.fullmatch(command)) is not None:
            self.show_message(int(show.group(1)))
        elif word == "drs":
            self.drs(rest)
        elif word == "jobs":
            self.jobs()
        elif word in ("users", "who"):
            self.users()
        elif word == "wait":
            await self.wait(rest)
        elif word == "expect":
            await self.expect(rest)
        else:
            self.out.note(f"Unknown command {command!r}; type help for the list.")
        return True

    # -- commands -------------------------------------------------------------------------------

    async def slash(self, command: str) -> None:
        name, _, text = command.partition(" ")
        if name != "/startjobs":
            self.out.show(f"{name} is not a valid command. (This workspace has /startjobs.)")
            return
        resp = await self.world.driver.slash(self.person.id, CHANNEL, text.strip())
        if not resp.ok:
            self.out.show(f'Slack shows: {name} failed with the error "{_failure(resp)}"')
        await self.refresh()

    def switch(self, name: str) -> None:
        person = self.world.person(name)
        if person is None:
            names = ", ".join(p.name for p in PEOPLE)
            self.out.note(f"No such person {name!r}: choose one of {names}.")
            return
        self.person = person
        self.out.note(f"(you are now @{person.name}: {person.role}; timezone {person.tz})")

    async def click(self, button: int, number: int | None) -> None:
        if number is None:
            number = self.feed.last_with_buttons()
            if number is None:
                self.out.note("No message has buttons to click.")
                return
        msg = self.feed.message(number)
        if msg is None:
            self.out.note(f"There is no message #{number}.")
            return
        buttons = buttons_of(msg.blocks)
        if not 1 <= button <= len(buttons):
            has = f"buttons 1 to {len(buttons)}" if buttons else "no buttons (any more)"
            self.out.note(f"Message #{number} has {has}.")
            return
        b = buttons[button - 1]
        if b.url:
            self.out.show(f"(“{b.label}” opens {b.url} in the browser)")
            return
        if b.confirm is not None and not await self._confirmed(b.confirm):
            self.out.note("(nothing happens)")
            return
        self.out.note(f"(@{self.person.name} clicks “{b.label}” on #{number})")
        resp = await self.world.driver.click(
            self.person.id,
            action_id=b.action_id,
            value=b.value,
            channel=msg.channel,
            message_ts=msg.ts,
            block_id=b.block_id,
        )
        if not resp.ok:
            self.out.show(f"Slack shows: the app did not respond ({_failure(resp)})")
        await self.refresh()

    async def _confirmed(self, dialog: dict[str, object]) -> bool:
        viewer = self.feed.viewer()
        self.out.show(
            [
                f"┏━ {text_of(dialog.get('title'), viewer)}",
                f"┃ {text_of(dialog.get('text'), viewer)}",
                f"┗━ [y] {text_of(dialog.get('confirm'), viewer)}  "
                f"[n] {text_of(dialog.get('deny'), viewer)}",
            ]
        )
        line = await self.source.read("  y/n > ", answer=True)
        return line is not None and line.strip().lower() in ("y", "yes")

    def bare_number(self, text: str) -> None:
        """A number alone presses nothing (no form field is asking): say how to click."""
        number = int(text.lstrip("#"))
        last = self.feed.last_with_buttons()
        msg = self.feed.message(last) if last is not None else None
        buttons = buttons_of(msg.blocks) if msg is not None else []
        if text.startswith("#"):
            hint = f"`show #{number}` shows message #{number}"
        elif 1 <= number <= len(buttons):
            hint = f"`click {number}` presses [{number}] “{buttons[number - 1].label}” on #{last}"
        else:
            hint = "`click <n>` presses button [n] of the last message with buttons"
        self.out.note(f"{text!r} alone does nothing here (no form is asking): {hint}.")

    def drs(self, text: str) -> None:
        try:
            self.out.note("\n".join(drs_command(self.world.sim, text)))
        except ValueError as exc:
            self.out.note(f"{exc} (type help for the drs commands)")

    def show_message(self, number: int) -> None:
        msg = self.feed.message(number)
        if msg is None:
            self.out.note(f"There is no message #{number}.")
            return
        self.feed.print_message(msg)
        for reply in self.feed.thread(msg):
            self.feed.print_message(reply)

    def jobs(self) -> None:
        jobs = self.world.sim.jobs()
        width = max([len(j.name) for j in jobs] + [4])
        lines = [f"{'NAME':<{width}}  {'ID':<36}  {'STATUS':<24}  NOTES"]
        for j in jobs:
            precheck = self.world.sim.prechecks.get(j.id).state
            notes = [
                note
                for note, on in (
                    ("prepaid (starting places an order)", j.prepaid),
                    ("incremental", j.incremental),
                    (j.db_use_type, j.db_use_type != "migration"),
                    ("its start fails", j.start_fails),
                    (f"precheck {precheck.replace('never', 'never run')}", precheck != "passed"),
                )
                if on
            ]
            lines.append(f"{j.name:<{width}}  {j.id:<36}  {j.status:<24}  {', '.join(notes)}")
        self.out.show(lines)

    def users(self) -> None:
        lines = []
        for p in PEOPLE:
            you = "  ← you" if p is self.person else ""
            lines.append(f"@{p.name:<8} {p.tz:<18} {p.role}{you}")
        lines.append(f"policy: {self.world.policy_path}")
        self.out.show(lines)

    async def wait(self, text: str) -> None:
        try:
            seconds = float(text)
        except ValueError:
            self.out.note("wait how long? e.g. wait 3")
            return
        if not 0 <= seconds <= 600:
            self.out.note("wait between 0 and 600 seconds")
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(0.25, left))
            self.feed.show_new()
        await self.refresh()

    async def expect(self, text: str) -> None:
        if not text:
            self.out.note("expect what? e.g. expect FULL_TRANSFER_STARTED")
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expect_timeout
        while not self.out.seen(text) and loop.time() < deadline:
            await asyncio.sleep(0.2)
            self.feed.show_new()
        if self.out.seen(text):
            self.out.note(f"✔ expected and shown: {text}")
            return
        self.out.note(f"✘ EXPECTED BUT NOT SHOWN: {text}")
        if not self.source.interactive:
            self.failed = text

    # -- after every action -------------------------------------------------------------------

    async def refresh(self) -> None:
        """Wait for the bot to go quiet, show what is new, walk through any modal that opened."""
        for _ in range(5):  # a submitted modal may open another
            await self.feed.settle()
            self.feed.show_new()
            view_id = self._open_view()
            if view_id is None:
                return
            walk = ModalWalk(self.world, self.feed, self.source, self.out, self.person, view_id)
            self._walked |= {(view_id, h) for h in await walk.run()}

    def _open_view(self) -> str | None:
        """The current person's topmost open modal, unless already walked through as it is."""
        for view in reversed(self.world.slack.views()):
            if view.user == self.person.id and not view.closed:
                return None if (view.id, view.hash) in self._walked else view.id
        return None


def _failure(resp: DriverResponse) -> str:
    return "operation_timeout" if resp.timed_out else f"HTTP {resp.status}"

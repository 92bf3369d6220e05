"""Walking a person through a modal in the terminal, for ``startjobs demo``.

The modal is shown with its inputs numbered; each input is asked for in turn (Enter keeps the
value shown); then it is submitted through the driver exactly as Slack's client submits it.
When the bot answers with inline errors the modal is shown again with them and asked again;
when it replaces the modal the new one is walked through; a modal without inputs is read and
closed.
"""

from __future__ import annotations

import time

from bot.devkit.demo.feed import Feed
from bot.devkit.demo.form import (
    CLOSE_WORD,
    EXTERNAL_SELECTS,
    KEEP_WORDS,
    SUBMIT_WORD,
    AnswerError,
    labelled,
    pick_options,
    prompt_hint,
    read_answer,
    search_options,
)
from bot.devkit.demo.inputs import InputField, input_fields, render_view, value_text
from bot.devkit.demo.mrkdwn import text_of
from bot.devkit.demo.terminal import LineSource, Transcript
from bot.devkit.demo.world import DemoWorld, Person
from bot.devkit.sim.driver_values import state_values

_CLOSED, _SUBMITTED, _AGAIN = "closed", "submitted", "again"

FILL_HELP = (
    "Fill it in: Enter keeps the value shown, :clear empties it, `label = value` answers "
    "that field, :submit submits now, :close closes the form."
)


class ModalWalk:
    """Fills and submits one modal as ``person``; see the module docstring."""

    def __init__(
        self,
        world: DemoWorld,
        feed: Feed,
        source: LineSource,
        out: Transcript,
        person: Person,
        view_id: str,
    ) -> None:
        self.world = world
        self.feed = feed
        self.source = source
        self.out = out
        self.person = person
        self.view_id = view_id
        self.answers: dict[str, object] = {}  # block id -> what the person gave

    async def run(self) -> set[str]:
        """Walk through until the modal is submitted or closed (or input ends). Returns the
        hashes of the modal's versions shown, so they are not walked through again."""
        shown: set[str] = set()
        opening = f"(a form opens for @{self.person.name})"
        while True:
            view = self.world.slack.view(self.view_id)
            if view is None or view.closed:
                return shown
            shown.add(view.hash)
            fields = input_fields(view.view)
            viewer = self.feed.viewer()
            values = self._current(fields)
            lines = render_view(view.view, viewer, errors=view.errors, values=values)
            self.out.show([opening, *lines])
            opening = "(the form again)"
            if not fields:
                await self.world.driver.close_view(self.person.id, self.view_id)
                self.out.note("(you read it and close it)")
                return shown
            self.out.note(FILL_HELP)
            if not await self._ask(fields):
                return shown
            outcome = await self._submit(fields, view.hash)
            if outcome != _AGAIN:
                return shown

    def _current(self, fields: list[InputField]) -> dict[str, object]:
        return {f.block_id: self.answers.get(f.block_id, f.initial) for f in fields}

    async def _ask(self, fields: list[InputField]) -> bool:
        """Ask for the fields in order; False when the person closed the modal or input ended.

        ``label = value`` answers another field and goes on from there; ``:submit`` submits
        at once, keeping the values of the fields not asked yet. As in Slack's client, a
        required field left empty is asked for before anything is submitted.
        """
        i = 0
        while True:
            if i >= len(fields):
                empty = self._first_empty_required(fields)
                if empty is None:
                    return True
                self.out.note(f"      ❌ {fields[empty].label}: this field is required")
                i = empty
            f = fields[i]
            if f.kind == "file_input":  # nothing to upload from a terminal: keep it empty
                i += 1
                continue
            current = self.answers.get(f.block_id, f.initial)
            hint = prompt_hint(f, self.person.tz)
            shown = value_text(f, current, self.feed.viewer())
            prompt = f"  [{f.number}] {f.label}" + (f" ({hint})" if hint else "")
            line = await self.source.read(f"{prompt} [{shown}] > ", answer=True)
            if line is None:
                return False
            word = line.strip().lower()
            if word == CLOSE_WORD:
                await self.world.driver.close_view(self.person.id, self.view_id)
                self.out.note("(you close the form; nothing is submitted)")
                return False
            if word == SUBMIT_WORD:
                i = len(fields)
                continue
            target, text = labelled(line, fields) or (f, line)
            try:
                if not await self._answer(target, text, fields):
                    return False
            except AnswerError as exc:
                self.out.note(f"      ❌ {target.label}: {exc}")
                continue
            i = fields.index(target) + 1

    def _first_empty_required(self, fields: list[InputField]) -> int | None:
        for index, f in enumerate(fields):
            value = self.answers.get(f.block_id, f.initial)
            if not f.optional and f.kind != "file_input" and value in (None, "", []):
                return index
        return None

    async def _answer(self, f: InputField, line: str, fields: list[InputField]) -> bool:
        """Take ``line`` as the answer to ``f``; False when input ended meanwhile."""
        current = self.answers.get(f.block_id, f.initial)
        if f.kind in EXTERNAL_SELECTS and line.strip() not in KEEP_WORDS:
            picked = await self._search(f, line.strip(), fields)
            if picked is None:
                return False
            if f.is_multi:
                held = current if isinstance(current, list) else []
                kept = [o for o in held if isinstance(o, dict)]
                values = {o.get("value") for o in kept}
                self.answers[f.block_id] = kept + [o for o in picked if o["value"] not in values]
            elif picked:
                self.answers[f.block_id] = picked[0]
            return True
        answer = read_answer(f, line, tz=self.person.tz, now=time.time(), current=current)
        if not answer.keep:
            self.answers[f.block_id] = answer.value
        return True

    def _keep_state(self, fields: list[InputField]) -> None:
        """Put what the person has entered so far into the open view's ``state``, as Slack
        keeps it while a modal is filled in: an options request carries the view with its
        state, and the bot reads the project chosen in the form from there."""
        view = self.world.slack.view(self.view_id)
        if view is None:
            return
        files = self.world.slack.workspace.files.file_json
        view.view["state"] = {"values": state_values(view.view, self._values(fields), files)}

    def _values(self, fields: list[InputField]) -> dict[str, dict[str, object]]:
        """The person's answers as ``{block_id: {action_id: value}}``."""
        return {
            f.block_id: {f.action_id: self.answers[f.block_id]}
            for f in fields
            if f.block_id in self.answers
        }

    async def _search(
        self, f: InputField, query: str, fields: list[InputField]
    ) -> list[dict[str, object]] | None:
        """Type ``query`` into an external select, show the bot's options, let the person
        pick; None when input ended."""
        self._keep_state(fields)
        resp = await self.world.driver.options(
            self.person.id,
            action_id=f.action_id,
            block_id=f.block_id,
            value=query,
            view_id=self.view_id,
        )
        options = search_options(resp.json)
        if not options:
            raise AnswerError("the bot offers nothing for that text")
        viewer = self.feed.viewer()
        lines = []
        for n, option in enumerate(options, 1):
            about = text_of(option.get("description"), viewer)
            lines.append(f"      {n}) {text_of(option.get('text'), viewer)}  {about}".rstrip())
        self.out.show(lines)
        while True:
            how = "numbers, comma-separated" if f.is_multi else "a number"
            line = await self.source.read(f"      pick ({how}; Enter: none) > ", answer=True)
            if line is None:
                return None
            try:
                return pick_options(options, line, multi=f.is_multi)
            except AnswerError as exc:
                self.out.note(f"      ❌ {exc}")

    async def _submit(self, fields: list[InputField], hash_before: str) -> str:
        values = self._values(fields)
        try:
            resp = await self.world.driver.submit_view(self.person.id, self.view_id, values)
        except ValueError as exc:
            self.out.show(f"Slack shows an error instead: {exc}")
            return _CLOSED
        if not resp.ok:
            reason = "operation_timeout" if resp.timed_out else f"HTTP {resp.status}"
            self.out.show(f"Slack shows: the app did not respond ({reason})")
        await self.feed.settle()
        after = self.world.slack.view(self.view_id)
        if after is None or after.closed:
            self.out.note(f"(@{self.person.name} submits the form)")
            return _SUBMITTED
        if after.errors:
            self.out.show(["The form shows:", *(f"  ❌ {e}" for e in after.errors.values())])
            return _AGAIN
        if after.hash != hash_before:
            self.answers = {}  # the bot replaced the form with another
            return _AGAIN
        self.out.note("(the form stays open)")
        return _CLOSED

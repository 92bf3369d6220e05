"""Where ``startjobs demo`` reads lines from and writes its transcript to.

:class:`TerminalSource` reads what a person types (the event loop keeps running meanwhile, so
the bot goes on working); :class:`ScriptSource` reads a file and echoes each line after its
prompt, so the transcript reads like a session. :class:`Transcript` prints and remembers what
was shown, for ``expect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol, TextIO


class LineSource(Protocol):
    """Lines typed by the person; None at the end of input."""

    @property
    def interactive(self) -> bool: ...

    async def read(self, prompt: str, *, answer: bool = False) -> str | None:
        """The next line (without its newline). ``answer`` marks a reply to a question (a
        form field, a confirmation), where an empty line means something."""
        ...


class Transcript:
    """Prints to ``stream``; :meth:`show` also remembers the text for :meth:`seen`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._shown: list[str] = []

    def show(self, lines: str | Iterable[str]) -> None:
        """Output of the bot and the world (searchable by ``expect``)."""
        text = lines if isinstance(lines, str) else "\n".join(lines)
        self._shown.append(text.casefold())
        self._write(text)

    def note(self, text: str) -> None:
        """The demo's own words (help, echoes, results of checks): not searchable."""
        self._write(text)

    def seen(self, text: str) -> bool:
        """Whether ``text`` (case-insensitive, blanks folded) has been shown so far."""
        wanted = " ".join(text.casefold().split())
        return any(wanted in " ".join(chunk.split()) for chunk in self._shown)

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class ScriptSource:
    """Lines of a script. ``#`` lines are comments (echoed); blank lines only answer
    questions (an empty answer keeps a form field's value) and are echoed as blank lines
    otherwise, so the transcript keeps the script's paragraphs."""

    interactive = False

    def __init__(self, lines: Sequence[str], out: Transcript) -> None:
        self._lines = [line.rstrip("\r\n") for line in lines]
        self._next = 0
        self._out = out

    async def read(self, prompt: str, *, answer: bool = False) -> str | None:
        while self._next < len(self._lines):
            line = self._lines[self._next]
            self._next += 1
            if line.lstrip().startswith("#"):
                self._out.note(line.strip())
                continue
            if not line.strip() and not answer:
                self._out.note("")
                continue
            self._out.note(prompt + line)
            return line
        return None


class TerminalSource:
    """Lines typed at the terminal, read on a daemon thread so the loop keeps running."""

    interactive = True

    def __init__(self) -> None:
        # Line editing and history where the platform has it.
        with contextlib.suppress(ImportError):
            importlib.import_module("readline")

    async def read(self, prompt: str, *, answer: bool = False) -> str | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()

        def deliver(value: str | None) -> None:
            if not done.done():
                done.set_result(value)

        def work() -> None:
            try:
                value: str | None = input(prompt)
            except (EOFError, KeyboardInterrupt):
                value = None
            # The loop may be gone when the demo ended meanwhile; then nobody waits.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, value)

        # A daemon thread, not the loop's executor: a pending input() must not hold up exit.
        threading.Thread(target=work, name="demo-input", daemon=True).start()
        return await done

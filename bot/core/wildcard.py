"""Whole-name matching of DRS task names against a pattern of ``*`` and ``?``.

Pure. :func:`glob_match` runs in time linear in pattern x name whatever is typed: no
backtracking, and no regular expression built from the pattern's stars.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


def glob_match(pattern: str, name: str) -> bool:
    """True when ``pattern`` matches the whole of ``name`` (``*`` any run of characters, line
    breaks included; ``?`` exactly one character; everything else literal, case-sensitive).

    Costs at most O(len(pattern) x len(name)) whatever the pattern: no backtracking. A run of
    wildcards is first reduced to its ``?``s and at most one ``*`` (``*?*?`` is ``??*``); the
    pieces between stars hold only literals and ``?``, so each has one fixed length. The first
    piece must match at the start, the last at the end, and each piece in between is taken at
    its leftmost place after the previous one: taking a later place could only leave less room
    for the rest, so if the leftmost choice fails, every choice fails.
    """
    glob = _compile_glob(pattern)
    if glob.tail is None:  # no star: the name is exactly one piece
        return len(name) == glob.head.size and glob.head.at(name, 0)
    start, end = glob.head.size, len(name) - glob.tail.size
    if end < start or not glob.head.at(name, 0) or not glob.tail.at(name, end):
        return False
    for piece in glob.middle:
        found = piece.find(name, start, end)
        if found < 0:
            return False
        start = found + piece.size
    return True


@dataclass(frozen=True, slots=True)
class _Piece:
    """Literal characters and ``?``s between two stars: a fixed number of characters."""

    text: str
    regex: re.Pattern[str] | None  # None: no ``?``, plain string search suffices

    @property
    def size(self) -> int:
        return len(self.text)

    def at(self, name: str, pos: int) -> bool:
        """Does the piece match ``name`` exactly at ``pos``?"""
        if self.regex is None:
            return name.startswith(self.text, pos)
        return self.regex.match(name, pos) is not None

    def find(self, name: str, start: int, end: int) -> int:
        """The leftmost place in ``name[start:end]`` where the piece matches, or -1.

        The piece's regex has no quantifier and no alternation (literals and ``.``), so one
        attempt costs at most its length: a search is O(size x (end - start)).
        """
        if self.regex is None:
            return name.find(self.text, start, end)
        found = self.regex.search(name, start, end)
        return -1 if found is None else found.start()


@dataclass(frozen=True, slots=True)
class _Glob:
    head: _Piece
    middle: tuple[_Piece, ...]
    tail: _Piece | None  # None: the pattern has no star


def _piece(text: str) -> _Piece:
    if "?" not in text:
        return _Piece(text, None)
    regex = "".join("." if c == "?" else re.escape(c) for c in text)
    return _Piece(text, re.compile(regex, re.DOTALL))


@functools.lru_cache(maxsize=64)
def _compile_glob(pattern: str) -> _Glob:
    parts = _reduce_wildcards(pattern).split("*")
    if len(parts) == 1:
        return _Glob(_piece(parts[0]), (), None)
    middle = tuple(_piece(p) for p in parts[1:-1] if p)
    return _Glob(_piece(parts[0]), middle, _piece(parts[-1]))


def _reduce_wildcards(pattern: str) -> str:
    """``pattern`` with each run of wildcards written as its ``?``s, then one ``*`` if the run
    holds any (the same matches: a star next to a ``?`` may as well come after it)."""
    out: list[str] = []
    run_q, run_star = 0, False
    for c in pattern:
        if c == "?":
            run_q += 1
        elif c == "*":
            run_star = True
        else:
            out.append("?" * run_q + ("*" if run_star else "") + c)
            run_q, run_star = 0, False
    out.append("?" * run_q + ("*" if run_star else ""))
    return "".join(out)

"""What a log line is about: the request, its project, the person and DRS's request ID.

Kept in :mod:`contextvars`, so each asyncio task (one Slack request, one background step, one
DRS call of a batch) carries its own and a task started from another inherits what was known
there. Set where the bot begins working on something (:func:`bind`); :mod:`bot.logs` adds
them to every record (the JSON lines show them). :func:`scope` undoes what a block bound, for
work that runs one item after another in the same task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

FIELDS = ("request_id", "project", "user", "drs_request_id")

_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"startjobs_{name}", default=None) for name in FIELDS
}


def bind(
    *,
    request_id: str | None = None,
    project: str | None = None,
    user: str | None = None,
    drs_request_id: str | None = None,
) -> None:
    """Set the fields given (not None) for the rest of the current task (or :func:`scope`)."""
    given = {
        "request_id": request_id,
        "project": project,
        "user": user,
        "drs_request_id": drs_request_id,
    }
    for name, value in given.items():
        if value is not None:
            _VARS[name].set(value)


def current() -> dict[str, str]:
    """The fields known here, by name (those unknown left out)."""
    found: dict[str, str] = {}
    for name, var in _VARS.items():
        value = var.get()
        if value is not None:
            found[name] = value
    return found


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Within the block, :func:`bind` as usual; after it, the fields are as they were."""
    tokens = [(var, var.set(var.get())) for var in _VARS.values()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)

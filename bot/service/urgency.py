"""Which work a person is waiting for.

The code of a Slack listener that runs before its ack is what the person waits for (Slack
allows 3 s): the Slack layer marks the asyncio task answering a request (:func:`answering`;
each request is answered in a task of its own). Work handed to the service's tasks
(:meth:`bot.service.context.Tasks.spawn`) runs unmarked, whatever spawned it. The SQLite
store's thread runs the calls made while answering before the background calls queued ahead
of them (:mod:`bot.store.threaded`; figures in bench/README.md).
"""

from __future__ import annotations

import contextvars

_ANSWERING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "startjobs_answering", default=False
)


def urgent() -> bool:
    """True in a task marked by :func:`answering`: a person waits for this work's result."""
    return _ANSWERING.get()


def answering() -> None:
    """Mark the rest of the current task (and what it awaits) as what a person waits for."""
    _ANSWERING.set(True)


def background() -> contextvars.Context:
    """A copy of the current context (log bindings kept) in which nothing is urgent: for a
    task that outlives the answer."""
    context = contextvars.copy_context()
    context.run(_ANSWERING.set, False)
    return context

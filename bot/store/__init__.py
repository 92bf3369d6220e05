"""Durable state: the SQLite store (:mod:`bot.store.sqlite`) and its off-loop face
(:mod:`bot.store.threaded`), which is what the service uses."""

from bot.store.sqlite import (
    SCHEMA_VERSION,
    Decision,
    Recorded,
    Start,
    StartState,
    Store,
    Verdict,
)
from bot.store.threaded import AsyncStore, StoreUnavailable

__all__ = [
    "SCHEMA_VERSION",
    "AsyncStore",
    "Decision",
    "Recorded",
    "Start",
    "StartState",
    "Store",
    "StoreUnavailable",
    "Verdict",
]

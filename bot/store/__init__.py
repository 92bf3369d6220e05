"""The store port's SQLite adapter: :class:`~bot.store.sqlite.Store` (plain SQLite, the
schema in ``schema.sql``) and :class:`~bot.store.threaded.AsyncStore`, its face the service
awaits, which runs every call off the event loop."""

from bot.service.ports import Decision, Recorded, StoreUnavailable, Verdict
from bot.store.sqlite import SCHEMA_VERSION, Store
from bot.store.threaded import AsyncStore

__all__ = [
    "SCHEMA_VERSION",
    "AsyncStore",
    "Decision",
    "Recorded",
    "Store",
    "StoreUnavailable",
    "Verdict",
]

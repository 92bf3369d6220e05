"""The store port's adapters.

SQLite, the embedded default: :class:`~bot.store.sqlite.Store` (plain SQLite, the schema in
``schema.sql``) and :class:`~bot.store.threaded.AsyncStore`, its face the service awaits,
which runs every call off the event loop. PostgreSQL, for replicas on several hosts
(``STARTJOBS_DATABASE_URL``): :class:`~bot.store.postgres.PostgresStore`, natively async,
its schema in numbered migrations (:mod:`bot.store.postgres.migrations`)."""

from bot.service.ports import Decision, Recorded, StoreUnavailable, Verdict
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SCHEMA_VERSION, Store
from bot.store.threaded import AsyncStore

__all__ = [
    "SCHEMA_VERSION",
    "AsyncStore",
    "Decision",
    "PostgresStore",
    "Recorded",
    "Store",
    "StoreUnavailable",
    "Verdict",
]

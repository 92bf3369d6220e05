"""The store port's PostgreSQL adapter: :class:`PostgresStore`, natively async over a pool of
psycopg connections (:mod:`.connection`), its schema in numbered steps (:mod:`.migrations`),
and the rows of requests, starts and follow-ups in modules of their own, each the
counterpart of the SQLite module of the same name."""

from bot.store.postgres.migrations import MIGRATIONS, SCHEMA_VERSION, SchemaStatus, migrate
from bot.store.postgres.store import PostgresStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore", "SchemaStatus", "migrate"]

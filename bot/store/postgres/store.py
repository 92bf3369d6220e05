"""The store port over PostgreSQL: :class:`PostgresStore`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from bot.service.metrics import Metrics, NoMetrics, record_decision
from bot.service.ports import Decision, StoreUnavailable, Verdict
from bot.store.postgres import notices
from bot.store.postgres.connection import ANSWER_GRACE_SECONDS, Database
from bot.store.postgres.followups import PgFollowUpRows
from bot.store.postgres.home import PgHomeRows
from bot.store.postgres.migrations import SchemaStatus, migrate, status
from bot.store.postgres.prechecks import PgPrecheckRows
from bot.store.postgres.requests import PgRequestRows
from bot.store.postgres.rows import alive_row
from bot.store.postgres.starts import PgStartRows
from bot.store.postgres.together import Together

log = logging.getLogger(__name__)


class PostgresStore(PgRequestRows, PgStartRows, PgFollowUpRows, PgPrecheckRows, PgHomeRows):
    """Durable state in PostgreSQL, natively async: the service's
    :class:`bot.service.ports.Store`, with the same methods and meaning as the SQLite store
    (:class:`bot.store.threaded.AsyncStore`). Several processes may share the database, each
    with a store of its own; every state change is a conditional update.

    The pool is opened, and the schema brought up to date (:mod:`.migrations`), by
    :meth:`open` or else by the first call. ``migrate=False`` leaves the schema as it is (a
    database that is not current then fails at the first call that needs what is missing).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        connect_timeout: float = 5.0,
        migrate: bool = True,
        listen_url: str | None = None,
    ) -> None:
        self.db = Database(
            url, pool_min=pool_min, pool_max=pool_max, connect_timeout=connect_timeout
        )
        self._listen_url = listen_url or url  # notes are heard here (:mod:`.notices`)
        self._migrate = migrate
        self.metrics: Metrics = NoMetrics()  # decisions are counted here
        self._ready = False
        self._opening = asyncio.Lock()
        late = self.db.late  # a write not made in time counts as the database unavailable
        self.decisions = Together(self._decide_all, grace=ANSWER_GRACE_SECONDS, late=late)
        self.insertions = Together(self._insert_all, grace=ANSWER_GRACE_SECONDS, late=late)

    def count_with(self, metrics: Metrics) -> None:
        """Count decisions and database errors in ``metrics``."""
        self.metrics = self.db.metrics = metrics

    @property
    def shown(self) -> str:
        """The database's URL for people to read (its password as ``***``)."""
        return self.db.shown

    async def open(self) -> None:
        """Connect and migrate; raises :class:`StoreUnavailable` when the server cannot be
        reached in the connect timeout."""
        async with self._opening:
            if self._ready:
                return
            await self.db.open()
            if self._migrate:
                async with self.db.connection() as conn:
                    applied = await migrate(conn)
                    found = await status(conn)
                if applied:
                    log.info("database %s: applied schema steps %s", self.shown, applied)
                if found.unknown:
                    log.warning(
                        "database %s has schema steps %s that this version does not know "
                        "(a newer version migrated it); carrying on",
                        self.shown,
                        list(found.unknown),
                    )
            self._ready = True

    async def ready(self, within: float | None = None) -> Database:
        if self._ready:
            return self.db
        if within is None:
            await self.open()
            return self.db
        try:
            async with asyncio.timeout(within):
                await self.open()
        except TimeoutError as exc:
            raise StoreUnavailable("no database connection could be had in time") from exc
        return self.db

    async def schema(self) -> SchemaStatus:
        """Which schema steps the database has had."""
        await self.db.open()
        async with self.db.connection() as conn:
            return await status(conn)

    async def probe(self, *, within: float) -> None:
        """Make a real write (a heartbeat row) and commit it: raises
        :class:`StoreUnavailable` if the bot could not store anything now (in ``within``
        seconds and a moment: :meth:`~bot.store.postgres.connection.Database.in_time`)."""
        await self.db.in_time(within, self._heartbeat(within))

    async def _heartbeat(self, within: float) -> None:
        db = await self.ready(within)
        async with db.tx(within) as conn:
            await conn.execute(
                """INSERT INTO health (id, at) VALUES (1, %s)
                ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at""",
                (time.time(),),
            )

    async def keep_alive(self, owner: str, *, now: float, until: float) -> None:
        """Record that process ``owner`` is alive until ``until``; forget processes whose
        rows lapsed long ago (an hour), so the table stays as small as the fleet."""
        db = await self.ready()
        async with db.tx() as conn:
            await alive_row(conn, owner, until)
            await conn.execute("DELETE FROM replicas WHERE alive_until < %s", (now - 3600,))

    async def live_owners(self, now: float) -> frozenset[str]:
        """The processes alive at ``now``."""
        db = await self.ready()
        async with db.connection() as conn:
            cur = await conn.execute("SELECT owner FROM replicas WHERE alive_until > %s", (now,))
            return frozenset(row["owner"] for row in await cur.fetchall())

    async def send_notes(self, notes: Sequence[str]) -> None:
        """Wake the listening replicas with ``notes`` (:mod:`bot.service.handoff`)."""
        await notices.send(await self.ready(), notes)

    async def listen(self, heard: Callable[[str], None], *, connected: Callable[[], None]) -> None:
        """Hear other replicas' notes until cancelled (:func:`.notices.listen`)."""
        await notices.listen(
            self._listen_url,
            heard,
            connected=connected,
            connect_timeout=self.db.connect_timeout,
        )

    async def decide(self, verdict: Verdict, *, within: float | None = None) -> Decision:
        """The rows' :meth:`decide`, and a decision that won counted."""
        decision = await super().decide(verdict, within=within)
        record_decision(self.metrics, verdict.target, decision.won, decision.request)
        return decision

    async def aclose(self) -> None:
        await self.db.close()
        self._ready = False

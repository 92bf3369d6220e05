"""The PostgreSQL store's connections: a pool of them, one transaction at a time, and the
plain words for what went wrong.

Connections come from psycopg_pool's :class:`~psycopg_pool.AsyncConnectionPool`, in autocommit
mode (a read is one statement; a write is one statement, :meth:`Database.bounded`, or an
explicit transaction, :meth:`Database.tx`), with prepared statements off
(``prepare_threshold=None``), so the store works behind PgBouncer's transaction pooling. A
connection is checked (one empty round trip) before it is handed out when it has been idle in
the pool for :data:`CHECK_IDLE_SECONDS` or more, so a server that restarted costs no failed
write, only a reconnection. One given back less than that ago was working then and is handed
out as it is: checking it too cost a round trip per call, 3% of the bot's CPU in a sampling
profile (py-spy) of the bot under ``bench/ack_latency.py`` on PostgreSQL. A server that goes
away within that moment costs the one call that finds out (an error the caller handles as any
other: a person is told nothing was stored, background work tries again), and the pool replaces
the broken connection.

A write made on a person's behalf passes ``within`` (seconds): the connection must be had, the
write made and committed in that time; otherwise nothing is stored and
:class:`StoreUnavailable` is raised. A transaction sets ``statement_timeout`` and
``lock_timeout`` for itself only (``set_config(..., true)``, which a transaction pooler keeps
to the transaction too), so the server ends a wait for a lock before the deadline; a write of
one statement (storing a request, deciding one: the writes a Slack answer waits for) is
cancelled on the server by psycopg when the deadline passes, which rolls it back and leaves
the connection usable, and so spares the round trips of a transaction's own statements.

The URL's password never appears in what this module logs or raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot.service.metrics import Metrics, NoMetrics
from bot.service.ports import StoreUnavailable

log = logging.getLogger(__name__)

Conn = AsyncConnection[DictRow]
# How long a call without ``within`` waits for a free connection (SQLite's store waits as
# long for a lock).
DEFAULT_WAIT_SECONDS = 10.0
# A connection idle this long is checked before it is handed out (see the module's docstring).
CHECK_IDLE_SECONDS = 0.5
# How long past its deadline a caller of :meth:`Database.in_time` may still be answered by the
# write itself (its own, more precise, error) before being told it was not made in time.
ANSWER_GRACE_SECONDS = 0.25
# What a person is told of a write not made by its deadline.
NOT_IN_TIME = "the database did not make the write in time"

T = TypeVar("T")


class Database:
    """A pool of connections to one PostgreSQL database; :meth:`open` before use (the store
    does it on its first call), :meth:`close` at the end."""

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        connect_timeout: float = 5.0,
    ) -> None:
        self._secrets = secrets_of(url)
        self.shown = self.scrub(url)  # the URL for people: its password as ***
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            connection_class=AsyncConnection[DictRow],
            kwargs={
                "autocommit": True,
                "prepare_threshold": None,
                "row_factory": dict_row,
                "connect_timeout": max(2, round(connect_timeout)),
                "application_name": "startjobs",
            },
            min_size=pool_min,
            max_size=max(pool_min, pool_max),
            open=False,
            check=self._check,
            name="startjobs",
            timeout=DEFAULT_WAIT_SECONDS,
        )
        self._opened = False
        self.metrics: Metrics = NoMetrics()  # database errors are counted here
        # When each idle connection was given back to the pool (gone with the connection).
        self._idle_since: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()
        # The writes made for people (Database.in_time), until each ends.
        self._finishing: set[asyncio.Task[Any]] = set()

    @contextlib.asynccontextmanager
    async def _borrowed(self, wait: float | None = None) -> AsyncIterator[Conn]:
        """A connection of the pool (waited for at most ``wait`` seconds, else the pool's
        default), given back at the end; one whose block ended without an error is noted as
        working when given back (:meth:`_check`). Noted here rather than in a ``reset``
        callback of the pool's, which has the pool give every connection back in a worker
        task of its own: a task and rounds of the event loop more per call, and the caller's
        next call may find the connection not back yet."""
        async with self._pool.connection(timeout=wait) as conn:
            yield conn
            self._idle_since[conn] = time.monotonic()

    async def _check(self, conn: Conn) -> None:
        """The pool's ``check`` callback: check ``conn`` unless it was given back within
        :data:`CHECK_IDLE_SECONDS`."""
        since = self._idle_since.pop(conn, None)
        if since is None or time.monotonic() - since >= CHECK_IDLE_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    async def open(self) -> None:
        """Open the pool and wait for its first connections; raises
        :class:`StoreUnavailable` when none can be made in ``connect_timeout`` seconds."""
        if self._opened:
            return
        await self._pool.open(wait=False)
        self._opened = True
        try:
            await self._pool.wait(timeout=self.connect_timeout)
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"cannot connect to the database at {self.shown} within {self.connect_timeout:g} s"
            ) from exc

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A connection in autocommit mode, for reads of one statement each."""
        try:
            async with self._borrowed() as conn:
                yield conn
        except PoolTimeout:
            self.metrics.database_error("unavailable")
            raise
        except psycopg.Error:
            self.metrics.database_error("error")
            raise

    @contextlib.asynccontextmanager
    async def bounded(self, within: float | None = None) -> AsyncIterator[Conn]:
        """A connection in autocommit mode for a write: one statement (a transaction of its
        own), or :meth:`tx`'s. With ``within``, the write is made in that many seconds or not
        at all (:class:`StoreUnavailable`): past the deadline psycopg cancels the statement on
        the server, which rolls it back, and the connection stays usable."""
        if within is None:
            async with self.connection() as conn:
                yield conn
            return
        try:
            async with asyncio.timeout(within):
                async with self._borrowed(wait=within) as conn:
                    yield conn
        except (psycopg.Error, PoolTimeout, TimeoutError) as exc:
            self.metrics.database_error("unavailable")
            raise StoreUnavailable(self.plain(exc)) from exc

    async def in_time(self, within: float | None, write: Coroutine[Any, Any, T]) -> T:
        """``write`` (a write bounded by :meth:`bounded` or :meth:`tx` with the same
        ``within``), its caller answered in ``within`` seconds and a moment
        (:data:`ANSWER_GRACE_SECONDS`) whatever happens: :class:`StoreUnavailable` if it is
        not done by then.

        Past its deadline psycopg cancels the statement on the server and then waits for the
        server to confirm it, up to five seconds for each. Behind PgBouncer with the server
        down, the statement waits in the pooler's queue and the confirmation does not come:
        a person would be answered after six seconds, past Slack's three. So the write runs
        in a task of its own, which hands its result to the caller itself (one round of the
        event loop later than an await in the caller's task would see it; awaiting the task,
        shielded, or ``asyncio.wait`` cost two), and a timer answers the caller at the
        deadline instead when it is not done. The cancellation then goes on in the
        background (the connection is given back, or discarded, when psycopg is done with
        it); what the person is told is what the bounded write itself would have said:
        nothing was stored."""
        if within is None:
            return await write
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()

        async def run() -> None:
            try:
                result = await write
            except Exception as exc:
                if not answer.done():
                    answer.set_exception(exc)
                raise
            if not answer.done():
                answer.set_result(result)

        task = loop.create_task(run())
        self._finishing.add(task)
        task.add_done_callback(self._finished)
        try:
            return await answered_by(answer, within + ANSWER_GRACE_SECONDS, late=self.late)
        except asyncio.CancelledError:
            task.cancel()
            raise

    def late(self) -> None:
        """A person's write was not made in time: counted as the database unavailable."""
        self.metrics.database_error("unavailable")

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._finishing.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: it reached the caller, or came after its answer

    @contextlib.asynccontextmanager
    async def tx(self, within: float | None = None) -> AsyncIterator[Conn]:
        """One transaction, committed when the block ends. With ``within``, as the module
        says: made in that many seconds or not at all (:class:`StoreUnavailable`)."""
        deadline = None if within is None else time.monotonic() + within
        async with self.bounded(within) as conn, conn.transaction():
            if deadline is not None:
                # The server gives up a little before the client's own deadline, so a wait
                # for a lock ends as an error the connection survives.
                left = deadline - time.monotonic()
                left_ms = f"{max(1, int((left - min(0.2, left / 10)) * 1000))}ms"
                await conn.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('lock_timeout', %s, true)",
                    (left_ms, left_ms),
                )
            yield conn

    def plain(self, exc: BaseException) -> str:
        """What went wrong, for people: a short sentence, never the password."""
        if isinstance(exc, PoolTimeout):
            text = "no database connection could be had in time (is the server up and reachable?)"
        elif isinstance(exc, TimeoutError | errors.QueryCanceled):
            text = NOT_IN_TIME
        elif isinstance(exc, errors.LockNotAvailable):
            text = "the database is locked by another process"
        elif isinstance(exc, psycopg.OperationalError):
            text = f"cannot reach the database at {self.shown}: {first_line(exc)}"
        else:
            text = f"the database refused the write: {first_line(exc)}"
        return self.scrub(text)

    def scrub(self, text: str) -> str:
        """``text`` with the URL's password, wherever it appears, as ``***``."""
        return scrubbed(text, self._secrets)


async def answered_by(answer: asyncio.Future[T], seconds: float, *, late: Callable[[], None]) -> T:
    """``answer``'s result, or, when it has none ``seconds`` from now, :class:`StoreUnavailable`
    (:data:`NOT_IN_TIME`) then, ``late`` called first."""

    def too_late() -> None:
        if not answer.done():
            late()
            answer.set_exception(StoreUnavailable(NOT_IN_TIME))

    timer = asyncio.get_running_loop().call_later(seconds, too_late)
    try:
        return await answer
    finally:
        timer.cancel()


async def ids(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[str]:
    """The first column of every row ``sql`` gives, as text."""
    cur = await conn.execute(sql, params)
    return [str(next(iter(row.values()))) for row in await cur.fetchall()]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def scrubbed(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (:func:`secrets_of`), wherever it appears, as ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def secrets_of(url: str) -> list[str]:
    """The password in ``url`` as written and as decoded, to scrub from any text."""
    try:
        parts = urlsplit(url)
        found = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    except ValueError:
        return []
    return sorted({s for p in found if p for s in (p, unquote(p))}, key=len, reverse=True)

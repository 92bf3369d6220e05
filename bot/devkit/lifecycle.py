"""``async with`` for things that are started and stopped (loopback servers, the demo world)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class AsyncService:
    """Give a class with ``async start()`` and ``async stop()`` an async context manager.

    ``async with`` starts it and always stops it; a start that fails half-way is stopped too,
    so no port or task is left behind.
    """

    async def start(self) -> Any:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

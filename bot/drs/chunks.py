"""One DRS call per chunk of jobs, a bounded number in flight: the queries of
:mod:`bot.drs.client` and the precheck calls of :mod:`bot.drs.precheck` share it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

_T = TypeVar("_T")


async def in_chunks(
    job_ids: Sequence[str],
    size: int,
    concurrency: int,
    one: Callable[[list[str]], Awaitable[list[_T]]],
) -> list[_T]:
    """``one`` on each chunk of at most ``size`` of the distinct ``job_ids`` (first seen
    first), at most ``concurrency`` at a time; every chunk's results, in chunk order. Each
    chunk finishes before the first one's exception, if any, is raised."""
    unique = list(dict.fromkeys(job_ids))
    gate = asyncio.Semaphore(concurrency)

    async def run(chunk: list[str]) -> list[_T]:
        async with gate:
            return await one(chunk)

    chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
    done = await asyncio.gather(*(run(c) for c in chunks), return_exceptions=True)
    found: list[_T] = []
    for item in done:
        if isinstance(item, BaseException):
            raise item
        found.extend(item)
    return found

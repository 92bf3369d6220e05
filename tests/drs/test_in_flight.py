"""The process-wide bound on DRS calls handed to the HTTP client at once (``InFlight``)."""

from __future__ import annotations

import asyncio

import httpx
from drs_client_support import Recorder, drs_client, job_ids

from bot.core.model import CallFailureKind
from bot.drs import DrsError, InFlight


def _status_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"results": [], "count": 0})


async def test_no_more_calls_than_the_bound_reach_the_client_at_once() -> None:
    recorder = Recorder(_status_ok, hold=0.05)
    in_flight = InFlight(3)
    async with (
        drs_client(recorder, in_flight=in_flight) as a,
        drs_client(recorder, in_flight=in_flight) as b,
    ):
        # Two projects' clients share one bound, as the bot's do.
        await asyncio.gather(*(c.batch_status(job_ids(1)) for c in (a, b) for _ in range(6)))
    assert len(recorder.requests) == 12
    assert recorder.max_in_flight == 3


async def test_a_call_that_waits_too_long_for_a_slot_was_never_sent() -> None:
    recorder = Recorder(_status_ok, hold=0.5)
    in_flight = InFlight(1, wait=0.1)
    async with drs_client(recorder, in_flight=in_flight) as client:
        first = asyncio.create_task(client.batch_status(job_ids(1)))
        await asyncio.sleep(0.05)
        try:
            await client.batch_status(job_ids(1, prefix="late"))
        except DrsError as exc:
            failure = exc.failure
        else:
            raise AssertionError("the second call should have found no free slot")
        await first
    assert failure.kind is CallFailureKind.TRANSPORT and not failure.maybe_processed
    assert len(recorder.requests) == 1  # the late call never reached DRS


async def test_without_a_bound_calls_go_straight_to_the_client() -> None:
    recorder = Recorder(_status_ok, hold=0.05)
    async with drs_client(recorder) as client:
        await asyncio.gather(*(client.batch_status(job_ids(1)) for _ in range(6)))
    assert recorder.max_in_flight == 6

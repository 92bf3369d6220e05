"""The simulator's control API under ``/_sim``: drive a simulator in another process.

No authentication (it listens on loopback); calls to it are not recorded. Answers are JSON.

``GET /_sim/jobs``                 ``{"jobs": [task...]}`` (status computed now)
``POST /_sim/jobs``                ``{"name", "id"?, "status"?, "prepaid"?, "incremental"?,
                                   "engine_type"?, "db_use_type"?, "start_fails"?}`` -> 201
                                   ``{"job"}``; or ``{"generate": N, "prefix"?}`` -> 201
                                   ``{"jobs"}`` (startable tasks ``PREFIX-0001``...)
``GET /_sim/jobs/{id}``            ``{"job"}`` with ``start_calls``; 404 if unknown
``POST /_sim/seed-demo``           add the demo tasks (idempotent)
``GET|POST|DELETE /_sim/faults``   list / add (a fault object, or ``{"spec": "E:K:..."}``) /
                                   clear all
``GET|DELETE /_sim/calls``         the recorded calls / forget them
``GET /_sim/clock``                ``{"now", "offset"}``
``POST /_sim/clock``               ``{"advance": seconds}``: add to the clock offset, so
                                   scheduled starts and ``STARTJOBING`` pass without waiting.
                                   ``X-Sdk-Date`` is still checked against the un-advanced
                                   ``clock()``, so signed requests keep working.
A bad control request answers 400 ``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from bot.devkit.sim.drs_faults import Fault, parse_fault, parse_fault_spec
from bot.devkit.sim.drs_jobs import SimJob
from bot.devkit.sim.drs_model import RecordedCall
from bot.devkit.sim.drs_wire import json_response, loads_object


class Controlled(Protocol):
    """What the control API drives: :class:`bot.devkit.sim.drs.DrsSimulator` is one."""

    calls: list[RecordedCall]

    @property
    def clock_offset(self) -> float: ...

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...

    def add_job(
        self,
        job_id: str | None = None,
        *,
        name: str,
        status: str = ...,
        prepaid: bool = ...,
        incremental: bool = ...,
        engine_type: str = ...,
        db_use_type: str = ...,
        start_fails: bool = ...,
    ) -> str: ...

    def add_generated(self, count: int, *, prefix: str = ...) -> list[str]: ...

    def seed_demo(self) -> None: ...

    def job(self, job_id: str) -> SimJob: ...

    def jobs(self) -> list[SimJob]: ...

    def add_fault(self, fault: Fault) -> None: ...

    def faults(self) -> list[Fault]: ...

    def clear_faults(self) -> None: ...


_JOB_FIELDS = {
    "id": str,
    "name": str,
    "status": str,
    "prepaid": bool,
    "incremental": bool,
    "engine_type": str,
    "db_use_type": str,
    "start_fails": bool,
}


def _bad(message: str) -> web.Response:
    return json_response({"error": message}, 400)


def control_routes(sim: Controlled) -> list[web.RouteDef]:
    """The ``/_sim`` routes bound to ``sim``."""

    async def list_jobs(request: web.Request) -> web.Response:
        return json_response({"jobs": [j.to_json() for j in sim.jobs()]})

    async def add_jobs(request: web.Request) -> web.Response:
        data = loads_object(await request.read())
        if data is None:
            return _bad("body must be a JSON object")
        if "generate" in data:
            count, prefix = data["generate"], data.get("prefix", "mig-shop")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                return _bad("generate must be a positive integer")
            if not isinstance(prefix, str):
                return _bad("prefix must be a string")
            ids = sim.add_generated(count, prefix=prefix)
            return json_response({"jobs": [sim.job(i).to_json() for i in ids]}, 201)
        unknown = set(data) - set(_JOB_FIELDS)
        if unknown:
            return _bad(f"unknown field(s) {sorted(unknown)}")
        for name, want in _JOB_FIELDS.items():
            if name in data and not isinstance(data[name], want):
                return _bad(f"{name} must be a {want.__name__}")
        if "name" not in data:
            return _bad("name is required")
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k != "id"}
        try:
            job_id = sim.add_job(data.get("id"), **kwargs)
        except ValueError as exc:
            return _bad(str(exc))
        return json_response({"job": sim.job(job_id).to_json()}, 201)

    async def get_job(request: web.Request) -> web.Response:
        try:
            job = sim.job(request.match_info["job_id"])
        except KeyError:
            return json_response({"error": "no such task"}, 404)
        return json_response({"job": job.to_json()})

    async def list_faults(request: web.Request) -> web.Response:
        return json_response({"faults": [f.to_json() for f in sim.faults()]})

    async def add_fault(request: web.Request) -> web.Response:
        data = loads_object(await request.read())
        if data is None:
            return _bad("body must be a JSON object")
        try:
            spec = data.get("spec")
            fault = parse_fault_spec(spec) if isinstance(spec, str) else parse_fault(data)
        except ValueError as exc:
            return _bad(str(exc))
        sim.add_fault(fault)
        return json_response({"fault": fault.to_json()}, 201)

    async def clear_faults(request: web.Request) -> web.Response:
        cleared = len(sim.faults())
        sim.clear_faults()
        return json_response({"cleared": cleared})

    async def list_calls(request: web.Request) -> web.Response:
        return json_response({"calls": [c.to_json() for c in sim.calls]})

    async def clear_calls(request: web.Request) -> web.Response:
        cleared = len(sim.calls)
        sim.calls.clear()
        return json_response({"cleared": cleared})

    async def get_clock(request: web.Request) -> web.Response:
        return json_response({"now": sim.now(), "offset": sim.clock_offset})

    async def move_clock(request: web.Request) -> web.Response:
        data = loads_object(await request.read())
        advance = data.get("advance") if data is not None else None
        if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
            return _bad("advance must be a non-negative number of seconds")
        sim.advance(float(advance))
        return json_response({"now": sim.now(), "offset": sim.clock_offset})

    async def seed_demo(request: web.Request) -> web.Response:
        sim.seed_demo()
        return json_response({"jobs": [j.to_json() for j in sim.jobs()]}, 201)

    return [
        web.get("/_sim/jobs", list_jobs),
        web.post("/_sim/jobs", add_jobs),
        web.get("/_sim/jobs/{job_id}", get_job),
        web.get("/_sim/faults", list_faults),
        web.post("/_sim/faults", add_fault),
        web.delete("/_sim/faults", clear_faults),
        web.get("/_sim/calls", list_calls),
        web.delete("/_sim/calls", clear_calls),
        web.get("/_sim/clock", get_clock),
        web.post("/_sim/clock", move_clock),
        web.post("/_sim/seed-demo", seed_demo),
    ]

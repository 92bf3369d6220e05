"""The ``drs`` command of ``startjobs demo``: make the simulated DRS misbehave.

Named faults show the outcomes a person cannot reach while DRS behaves: a start refused for
a reason that passes (each job fails with ``APIGW.0308`` and the outcome has a Retry button),
a start whose answer is lost (each job's outcome is unknown until the follow-up sees the job),
an answer that leaves a job out, a slow DRS. Any fault the simulator knows can also be given
in its own spec syntax (see :mod:`bot.devkit.sim.drs`). Faults go into the running simulator's fault
book exactly as ``POST /_sim/faults`` puts them there.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from bot.devkit.sim.drs import DrsSimulator
from bot.devkit.sim.drs_faults import Fault, parse_fault, parse_fault_spec
from bot.drs.client import DrsClient

SLOW_MAX = 60.0  # seconds: beyond this the bot's own timeouts are all the demo would show


def _throttle_retries() -> int:
    """How often the bot's DRS client sends a throttled call again before giving up."""
    default = inspect.signature(DrsClient).parameters["max_throttle_retries"].default
    return int(default)


@dataclass(frozen=True)
class Named:
    """A fault by name: what the person sees, and the simulator faults that make it."""

    name: str
    usage: str
    about: str
    faults: Callable[[str], list[Fault]]  # from the words after the name


def _throttle(_: str) -> list[Fault]:
    # Refused on the first try and on every retry: the bot reports each job as failed.
    return [
        parse_fault(
            {
                "endpoint": "batch-starting",
                "kind": "status_429",
                "retry_after": 0,
                "count": 1 + _throttle_retries(),
            }
        )
    ]


def _lose(_: str) -> list[Fault]:
    return [parse_fault_spec("batch-starting:status_500:processed=true,count=1")]


def _drop(_: str) -> list[Fault]:
    return [parse_fault_spec("batch-starting:partial:drop=1,count=1")]


def _slow(rest: str) -> list[Fault]:
    try:
        seconds = float(rest)
    except ValueError:
        raise ValueError("drs slow how long? e.g. drs slow 5") from None
    if not 0 < seconds <= SLOW_MAX:
        raise ValueError(f"drs slow takes more than 0 and at most {SLOW_MAX:g} seconds")
    return [parse_fault({"endpoint": "*", "kind": "latency", "seconds": seconds})]


NAMED: tuple[Named, ...] = (
    Named(
        "throttle",
        "drs throttle",
        "the next start is refused (throttled): its jobs fail, Retry is offered",
        _throttle,
    ),
    Named(
        "lose",
        "drs lose",
        "the next start happens but its answer is lost: its outcomes are unknown",
        _lose,
    ),
    Named(
        "drop",
        "drs drop",
        "the next start's answer leaves a job out: that job's outcome is unknown",
        _drop,
    ),
    Named(
        "slow",
        "drs slow <seconds>",
        "every DRS call takes that much longer (until drs clear)",
        _slow,
    ),
)

HELP = "\n".join(
    [
        *(f"  {n.usage:<20}  {n.about}" for n in NAMED),
        "  drs <spec>            any simulator fault, e.g. drs batch-status:status_500",
        "  drs clear             DRS behaves again; drs alone lists the faults set",
    ]
)


def drs_command(sim: DrsSimulator, text: str) -> list[str]:
    """Act on ``drs <text>`` and return what to tell the person; raises ValueError for a
    command or spec that makes no sense (its message says why)."""
    word, _, rest = text.strip().partition(" ")
    word = word.lower()
    if not word:
        return describe(sim.faults())
    if word in ("help", "?"):
        return ["drs: make the simulated DRS misbehave", *HELP.splitlines()]
    if word in ("clear", "ok", "off"):
        cleared = len(sim.faults())
        sim.clear_faults()
        return [f"DRS behaves again ({cleared} fault(s) cleared)."]
    named = next((n for n in NAMED if n.name == word), None)
    if named is not None:
        faults, about = named.faults(rest.strip()), named.about
    elif ":" in word or word.startswith("{"):
        faults, about = [parse_fault_spec(text)], "as given"
    else:
        names = ", ".join(n.name for n in NAMED)
        raise ValueError(f"no DRS fault {word!r}: choose {names}, a spec, or clear")
    for fault in faults:
        sim.add_fault(fault)
    return [f"DRS fault set: {about}.", *describe(sim.faults())]


def describe(faults: list[Fault]) -> list[str]:
    """The active faults, one a line, in the simulator's spec syntax."""
    if not faults:
        return ["DRS behaves: no fault is set (drs help lists them)."]
    lines = ["Faults set now (in the order they act):"]
    for fault in faults:
        until = "" if fault.count is not None else "  (until drs clear)"
        lines.append(f"  {spec(fault)}{until}")
    return lines


def spec(fault: Fault) -> str:
    """``fault`` in the compact spec syntax, with its count when it has one."""
    params = dict(fault.params)
    if fault.count is not None:
        params["count"] = fault.count
    text = ",".join(f"{k}={_value(v)}" for k, v in params.items())
    return f"{fault.endpoint}:{fault.kind}" + (f":{text}" if text else "")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)

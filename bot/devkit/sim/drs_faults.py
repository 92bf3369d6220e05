"""Injected faults: their syntax, validation, and the book that hands them out.

A fault is a JSON object ``{"endpoint": E, "kind": K, "count": N, ...params}`` or the compact
spec ``E:K[:name=value,...]`` (values are JSON scalars, else strings; ``job_ids`` is
``|``-separated), e.g. ``batch-starting:status_500:processed=true,count=1``. ``E`` is
``batch-starting``, ``batch-status``, ``batch-detail``, ``list``, ``tokens`` or ``*`` (all).
``count`` omitted = until cleared (except ``token_expiry``: 1). Faults apply in the order set;
per call, every matching ``latency`` fault plus at most one other fault act.

``latency``         ``seconds`` (1.0): wait before answering.
``status_429``      ``retry_after`` (2): 429 ``APIGW.0308`` with ``Retry-After``; not processed.
``status_500``      ``processed`` (false), ``status`` (500), ``error_code`` (``DRS.M00004``, or
                    ``APIGW.0201`` for other 5xx): with ``processed`` the call took effect and
                    only the answer was lost.
``hang``            ``seconds`` (30), ``processed`` (false): wait, then (processed) the real
                    answer, or (not processed) 504 ``APIGW.0201`` with nothing done.
``malformed_json``  ``processed`` (true): the success status with a truncated JSON body.
``partial``         ``drop`` (1) or ``job_ids``: process everything, leave those entries (the
                    last ``drop``, or the listed ids) out of ``results``/``jobs``.
``token_expiry``    the next call made with a token answers 401 ``APIGW.0307`` and that token
                    stops working (AK/SK calls are unaffected and do not use it up).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ENDPOINTS = frozenset({"batch-starting", "batch-status", "batch-detail", "list", "tokens", "*"})

Phase = Literal["latency", "auth", "before", "after"]

# kind -> {param: (type, default)}; a default of None means "optional, no value".
_PARAMS: dict[str, dict[str, tuple[type, Any]]] = {
    "latency": {"seconds": (float, 1.0)},
    "status_429": {"retry_after": (int, 2)},
    "status_500": {"processed": (bool, False), "status": (int, 500), "error_code": (str, None)},
    "hang": {"seconds": (float, 30.0), "processed": (bool, False)},
    "malformed_json": {"processed": (bool, True)},
    "partial": {"drop": (int, 1), "job_ids": (list, None)},
    "token_expiry": {},
}
KINDS = frozenset(_PARAMS)
# Kinds that make no sense for the IAM token endpoint.
_NOT_FOR_TOKENS = frozenset({"partial", "token_expiry"})


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault. ``count`` None = applies until cleared."""

    endpoint: str
    kind: str
    count: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def phase(self) -> Phase:
        """When it acts: around every call, at the gateway, before or after processing."""
        if self.kind == "latency":
            return "latency"
        if self.kind == "token_expiry":
            return "auth"
        if self.kind in ("status_500", "hang", "malformed_json"):
            return "after" if self.params["processed"] else "before"
        if self.kind == "partial":
            return "after"
        return "before"

    def applies_to(self, endpoint: str) -> bool:
        if endpoint == "tokens" and self.kind in _NOT_FOR_TOKENS:
            return False  # a "*" partial or token_expiry waits for a DRS call
        return self.endpoint in ("*", endpoint)

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "kind": self.kind, "count": self.count, **self.params}


def _coerce(kind: str, name: str, want: type, value: Any) -> Any:
    if want is float and isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{kind}: {name} must not be negative")
        return float(value)
    if want is int and isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{kind}: {name} must not be negative")
        return value
    if want is bool and isinstance(value, bool):
        return value
    if want is str and isinstance(value, str):
        return value
    if want is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{kind}: {name} must be a {want.__name__}, got {value!r}")


def parse_fault(data: Mapping[str, Any]) -> Fault:
    """Validate a fault given as a mapping; raises ValueError saying what is wrong."""
    endpoint = data.get("endpoint")
    kind = data.get("kind")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, got {endpoint!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if endpoint == "tokens" and kind in _NOT_FOR_TOKENS:
        raise ValueError(f"{kind} does not apply to the tokens endpoint")
    count = data.get("count", 1 if kind == "token_expiry" else None)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive integer, got {count!r}")
    known = _PARAMS[kind]
    extra = set(data) - set(known) - {"endpoint", "kind", "count"}
    if extra:
        raise ValueError(f"{kind}: unknown parameter(s) {sorted(extra)}")
    params: dict[str, Any] = {}
    for name, (want, default) in known.items():
        if name in data and data[name] is not None:
            params[name] = _coerce(kind, name, want, data[name])
        elif default is not None:
            params[name] = default
    if kind == "status_500" and not 500 <= params["status"] <= 599:
        raise ValueError("status_500: status must be within 500-599")
    return Fault(endpoint=endpoint, kind=kind, count=count, params=params)


def parse_fault_spec(spec: str) -> Fault:
    """Parse a JSON object or a compact ``endpoint:kind[:name=value,...]`` spec."""
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            decoded = json.loads(spec)
        except ValueError as exc:
            raise ValueError(f"fault spec is not valid JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise ValueError("fault spec must be a JSON object")
        return parse_fault(decoded)
    parts = spec.split(":", 2)
    if len(parts) < 2:
        raise ValueError(f"fault spec must look like endpoint:kind[:name=value,...], got {spec!r}")
    data: dict[str, Any] = {"endpoint": parts[0], "kind": parts[1]}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            name, sep, raw = item.partition("=")
            if not sep:
                raise ValueError(f"fault parameter must be name=value, got {item!r}")
            name = name.strip()
            if name == "job_ids":
                data[name] = [v for v in raw.strip().split("|") if v]
                continue
            try:
                data[name] = json.loads(raw)
            except ValueError:
                data[name] = raw.strip()
    return parse_fault(data)


class FaultBook:
    """The active faults, in the order they were set. Thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, endpoint: str, phase: Phase) -> Fault | None:
        """The first fault of ``phase`` for ``endpoint``, its count used up by one."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.phase == phase and fault.applies_to(endpoint):
                    self._use(i, fault)
                    return fault
        return None

    def take_latency(self, endpoint: str) -> float:
        """Total seconds of every latency fault for ``endpoint``, each count used up by one."""
        total = 0.0
        with self._lock:
            for i in reversed(range(len(self._faults))):
                fault = self._faults[i]
                if fault.phase == "latency" and fault.applies_to(endpoint):
                    total += fault.params["seconds"]
                    self._use(i, fault)
        return total

    def _use(self, index: int, fault: Fault) -> None:
        if fault.count is None:
            return
        if fault.count <= 1:
            del self._faults[index]
        else:
            self._faults[index] = replace(fault, count=fault.count - 1)

"""Real servers on loopback that stand in for the platforms the bot talks to.

:mod:`bot.devkit.sim.drs` imitates Huawei Cloud DRS v3 and IAM (tokens, AK/SK signatures,
task state, injected faults, a control API); the demo, the tests and the benchmarks all use it.
"""

from __future__ import annotations

from bot.devkit.sim.drs import DrsSimulator, RecordedCall, SimJob, SimulatorThread

__all__ = ["DrsSimulator", "RecordedCall", "SimJob", "SimulatorThread"]

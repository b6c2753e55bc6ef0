"""Measuring a block of a micro-benchmark: wall time, this process's CPU time and the SQL statements sent."""

from __future__ import annotations

import contextlib
import cProfile
import os
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event


class StatementCounter:
    """SQL statements sent on one engine (executemany counts once: one round trip)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_args: Any) -> None:
        self.count += 1


@dataclass
class Measurement:
    name: str
    units: int  # orders or messages
    unit_name: str
    wall_s: float
    cpu_s: float
    system_s: float  # the kernel's share of cpu_s (socket and file I/O, inflated on a crowded machine)
    statements: int
    note: str = ""

    def line(self) -> str:
        unit = self.unit_name[:-1]
        return (f"{self.name:<22} {self.units:>6} {self.unit_name:<6} {self.units / self.wall_s:>7.0f}/s  "
                f"CPU {1000 * self.cpu_s / self.units:6.3f} ms/{unit} (sys {1000 * self.system_s / self.units:5.3f})  "
                f"SQL {self.statements / self.units:5.2f} stmt/{unit}  {self.note}").rstrip()


def cpu_times() -> tuple[float, float]:
    """This process's (user + system, system) CPU seconds."""
    times = os.times()
    return times.user + times.system, times.system


class Meter:
    """Wall time, CPU time and statements over a block (profiled with --profile)."""

    def __init__(self, counter: StatementCounter, profiler: cProfile.Profile | None) -> None:
        self.counter = counter
        self.profiler = profiler

    @contextlib.asynccontextmanager
    async def measure(self, name: str, units: int, unit_name: str, results: list[Measurement]):
        statements, (cpu, system), wall = self.counter.count, cpu_times(), time.perf_counter()
        if self.profiler is not None:
            self.profiler.enable()
        yield
        if self.profiler is not None:
            self.profiler.disable()
        cpu_end, system_end = cpu_times()
        results.append(Measurement(name, units, unit_name, time.perf_counter() - wall, cpu_end - cpu,
                                   system_end - system, self.counter.count - statements))

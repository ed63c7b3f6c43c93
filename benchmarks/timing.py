"""The timing loop both benchmark scripts use."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    """Seconds per call of one benchmark: wall time, this process's CPU time (it leaves out
    waiting for a core on a loaded machine), and the time freeing what the call returned.

    Freeing is kept apart because `iac render`, `iac plan` and `iac validate` never pay it:
    they leave without the interpreter's teardown (`iac.cli.process`)."""

    wall: list[float]
    cpu: list[float]
    freeing: list[float]


def samples(fn: Callable[[], object], repeat: int) -> Samples:
    """`repeat` calls of `fn`, each timed up to its return; its result is freed after."""
    wall, cpu, freeing = [], [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        start = time.perf_counter()
        del result
        freeing.append(time.perf_counter() - start)
    return Samples(wall, cpu, freeing)

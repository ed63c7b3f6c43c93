"""The timing loop both benchmark scripts use."""

from __future__ import annotations

import time
from collections.abc import Callable


def samples(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall times and CPU times of this process (seconds) of `repeat` calls of `fn`. CPU
    time leaves out waiting for a core on a loaded machine."""
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return times, cpu

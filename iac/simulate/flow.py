"""The free flow: the in-flight count of each second had every request started when it
arrived, for the whole trace at once (numpy). Where nothing waits, it is what the serving
model gives; the engine walks second by second only where it is wrong.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from iac.simulate.autoscalers import Autoscaler
from iac.simulate.trace import Trace

EPS = 1e-9
"""Below this, a count of requests or slots is zero (sums of float fractions drift)."""
FloatArray = npt.NDArray[np.float64]


class _Work(threading.local):
    """Buffers kept from one run to the next (per thread): fresh memory of a few MB a run
    would cost more in page faults than the simulation itself."""

    def __init__(self) -> None:
        self.arrays: dict[str, npt.NDArray[Any]] = {}
        self.lists: dict[str, list[float]] = {}
        self.dirty = False
        """Lists written by a run that did not give them back (it raised)."""

    def array(self, name: str, size: int, dtype: type = np.float64) -> npt.NDArray[Any]:
        found = self.arrays.get(name)
        if found is None or found.size < size:
            found = self.arrays[name] = np.empty(size, dtype=dtype)
        return found[:size]

    def arange(self, size: int) -> npt.NDArray[np.int64]:
        found = self.arrays.get("arange")
        if found is None or found.size < size:
            found = self.arrays["arange"] = np.arange(size, dtype=np.int64)
        return found[:size]

    def zeros(self, name: str, size: int) -> list[float]:
        """A list of zeros at least `size` long; give back what was written with `clear`."""
        if self.dirty:
            self.lists.clear()
            self.dirty = False
        found = self.lists.get(name)
        if found is None or len(found) < size:
            found = self.lists[name] = [0.0] * size
        return found

    def clear(self, name: str, low: int, high: int) -> None:
        found = self.lists[name]
        found[low:high] = [0.0] * (min(high, len(found)) - low)


WORK = _Work()


def free_flow(trace: Trace, extent: int | None = None, work: bool = False) -> FloatArray:
    """In flight in each second had every request started when it arrived (slot-seconds):
    a cohort of n served d = w + r seconds adds n for w seconds, then n × r. `extent`
    seconds long (default: the trace's); `work` computes in reused buffers."""
    length = trace.seconds
    arrivals, durations = trace.arrivals, trace.durations
    if extent is None:
        extent = length
    reach = length + (int(durations.max()) if length else 0) + 2

    def buffer(name: str, size: int, dtype: type = np.float64) -> npt.NDArray[Any]:
        return WORK.array(name, size, dtype) if work else np.empty(size, dtype=dtype)

    whole = buffer("whole", length)
    np.trunc(durations, out=whole)
    rest = buffer("rest", length)
    np.subtract(durations, whole, out=rest)
    np.multiply(rest, arrivals, out=rest)
    where = buffer("where", length, np.int64)
    np.copyto(where, whole, casting="unsafe")
    where += WORK.arange(length) if work else np.arange(length)
    steps = buffer("steps", max(reach, extent))
    steps.fill(0.0)
    steps[:length] += arrivals
    change = buffer("change", length)
    np.subtract(rest, arrivals, out=change)
    np.add.at(steps, where, change)
    where += 1
    np.negative(rest, out=change)
    np.add.at(steps, where, change)
    np.cumsum(steps, out=steps)
    np.copyto(steps, 0.0, where=steps < EPS)
    return steps[:extent]


def block_max(shaped: FloatArray) -> FloatArray:
    """The peak of each row, column by column: on short rows `max(axis=1)` pays numpy's
    per-row reduction overhead for each 15-second row (docs/benchmarks.md, "What each
    speed device buys")."""
    peaks: FloatArray = WORK.array("block_max", shaped.shape[0])
    np.copyto(peaks, shaped[:, 0])
    for column in range(1, shaped.shape[1]):
        np.maximum(peaks, shaped[:, column], out=peaks)
    return peaks


@dataclass(slots=True)
class Blocks:
    """Per sync period (block) of the trace, computed for all at once from the free flow;
    read with `.item(k)` (bound below), since the run visits only the blocks it does not
    skip, and converting whole arrays to lists would cost more than those reads."""

    count: int
    peaks: FloatArray
    """The free flow's peak in each block."""
    after: FloatArray
    """A second after the last in flight in each block, or -inf (scale to zero only)."""
    ticks: FloatArray
    """The first second of each block, when the autoscaler decides."""
    arrived: FloatArray
    """Requests arriving in each block."""
    served_before: FloatArray
    """Requests arrived before each block (and in all, at the end)."""
    free_metric: FloatArray
    """The autoscaler's metric at each tick had nothing waited."""
    window_low: npt.NDArray[np.int64]
    """The first second of the metric's window at each tick."""
    window_len: npt.NDArray[np.int64]


def per_block(trace: Trace, flow: FloatArray, period: int, autoscaler: Autoscaler) -> Blocks:
    length = trace.seconds
    count = -(-length // period)
    shaped = flow[: count * period].reshape(count, period)  # past the end: no arrivals
    if autoscaler.uses_idle:  # when requests were last in flight matters (scale to zero)
        busy = WORK.array("busy", count * period, np.bool_).reshape(count, period)
        np.greater(shaped, 0.0, out=busy)
        after = np.where(
            busy.any(axis=1),
            np.arange(count) * period + period - np.argmax(busy[:, ::-1], axis=1),
            -np.inf,
        )
    else:
        after = np.full(count, -np.inf)
    ticks = np.arange(count) * period
    arrived = np.add.reduceat(trace.arrivals, ticks) if length else np.zeros(0)
    unqueued = flow[:length]
    window = autoscaler.window
    if window:
        prefix = WORK.array("prefix", length + 1)
        prefix[0] = 0.0
        np.cumsum(unqueued, out=prefix[1:])
        low = np.maximum(ticks - window, 0)
        free_metric = (prefix[ticks] - prefix[low]) / np.maximum(ticks - low, 1)
        window_len = np.maximum(ticks - low, 1)
    else:  # the in-flight count of the second before the tick
        low = np.maximum(ticks - 1, 0)
        free_metric = unqueued[low]
        window_len = np.ones(count, dtype=np.int64)
    return Blocks(
        count=count,
        peaks=block_max(shaped),
        after=after,
        ticks=ticks.astype(np.float64),
        arrived=arrived,
        served_before=np.concatenate(([0.0], np.cumsum(arrived))),
        free_metric=free_metric,
        window_low=low,
        window_len=window_len,
    )

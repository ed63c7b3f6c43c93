"""What one simulated run gives: the replicas' events, the corrections to the free flow where
requests waited, the waits, and the figures read from them (cost, GPU-hours, percentiles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from iac.simulate.flow import EPS, FloatArray, free_flow
from iac.simulate.replicas import Event
from iac.simulate.setup import Setup
from iac.simulate.trace import Trace

Segment = tuple[int, list[float], list[float]]
"""(first second, in flight minus free flow, waiting) of a stretch walked second by second."""


@dataclass(frozen=True, slots=True)
class RunResult:
    setup: Setup
    algorithm: str
    seconds: int
    start_replicas: int
    events: tuple[Event, ...]
    trace: Trace
    """The traffic it served (its share)."""
    segments: tuple[Segment, ...]
    waits: FloatArray
    """Requests served, by whole seconds waited (index = seconds)."""
    requests: float
    waited_cold: float
    """Requests that waited while a replica was starting (or none was ready)."""
    timeouts: float
    """Requests held with no ready replica past the interceptor's readiness timeout."""
    unfinished: float
    """Requests still waiting when the trace ends."""
    cold_starts: int
    """Replicas started (each one a cold start)."""
    activations: int
    """Scale-ups from zero."""
    walked: int = 0
    """Seconds walked one by one (the slow path)."""
    warnings: tuple[str, ...] = field(default=())

    def _steps(self, column: int) -> tuple[FloatArray, FloatArray]:
        """A step series as (values, seconds each value lasts)."""
        changes = [(e[0], e[column]) for e in self.events if e[column] and e[0] < self.seconds]
        start = float(self.start_replicas)
        if not changes:
            return np.array([start]), np.array([float(self.seconds)])
        changes.sort(key=lambda c: c[0])
        times = np.array([c[0] for c in changes], dtype=np.int64)
        values = np.concatenate(([start], start + np.cumsum([c[1] for c in changes])))
        bounds = np.concatenate(([0], times, [self.seconds]))
        return values, np.diff(bounds).astype(np.float64)

    def _series(self, column: int) -> FloatArray:
        values, lengths = self._steps(column)
        return np.repeat(values, lengths.astype(np.int64))

    def pods(self) -> FloatArray:
        """Replicas that exist in each second (ready or starting)."""
        return self._series(1)

    def ready(self) -> FloatArray:
        """Replicas serving in each second."""
        return self._series(2)

    def billed(self) -> FloatArray:
        """Units paid for in each second: nodes (they are ours) or replicas (existing
        nodes)."""
        return self._series(3)

    def in_flight(self) -> FloatArray:
        """Requests in service plus waiting, in each second (time-averaged)."""
        series = free_flow(self.trace)
        for first, fixes, _ in self.segments:
            series[first : first + len(fixes)] += fixes
        return series

    def queued(self) -> FloatArray:
        """Requests waiting, in each second."""
        series = np.zeros(self.seconds)
        for first, _, waiting in self.segments:
            series[first : first + len(waiting)] = waiting
        return series

    def _integral(self, column: int) -> float:
        values, lengths = self._steps(column)
        return float((values * lengths).sum())

    @property
    def peak_replicas(self) -> int:
        return int(self._steps(1)[0].max())

    @property
    def served(self) -> float:
        return float(self.waits.sum())

    def wait_percentile(self, q: float) -> float:
        """Seconds waited by the `q`-quantile request (0 < q <= 1), over those served."""
        return percentile(self.waits, q)

    @property
    def replica_hours(self) -> float:
        return self._integral(1) / 3600

    @property
    def gpu_hours(self) -> float:
        if self.setup.nodes is not None:
            return self._whole_nodes()[1]
        return self._integral(3) * self.setup.gpus / 3600

    @property
    def cost(self) -> float:
        """USD over the trace: billed units × the price of one replica, or, where the
        provisioner buys whole machines, the whole nodes they fill."""
        if self.setup.nodes is not None:
            return self._whole_nodes()[0]
        return self._integral(3) * self.setup.hourly / 3600

    def _whole_nodes(self) -> tuple[float, float]:
        """USD and GPU-hours of the whole nodes the billed units fill, second by second."""
        bill = self.setup.nodes
        assert bill is not None
        values, lengths = self._steps(3)
        cost = gpus = 0.0
        for count in np.unique(values):
            seconds = float(lengths[values == count].sum())
            hourly, devices = bill(math.ceil(count - EPS))
            cost += hourly * seconds / 3600
            gpus += devices * seconds / 3600
        return cost, gpus


def percentile(waits: FloatArray, q: float) -> float:
    total = float(waits.sum())
    if total <= 0:
        return 0.0
    cumulative = np.cumsum(waits)
    return float(np.searchsorted(cumulative, q * total - EPS * total))

"""The state of one simulation run (`iac.simulate.engine`): the replicas, the queue, the
corrections to the free flow's in-flight count, the counts the result reports, and the
result built from them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from iac.simulate.autoscalers import Autoscaler
from iac.simulate.flow import WORK, free_flow, per_block
from iac.simulate.replicas import Replicas
from iac.simulate.result import RunResult
from iac.simulate.setup import Setup
from iac.simulate.trace import Trace


@dataclass(slots=True)
class Cohort:
    """Requests that arrived in one second and wait, in the queue, to start."""

    arrived: int
    count: float
    """Those still waiting (part of a cohort can start, the rest waits)."""
    duration: float
    whole: int
    """Whole seconds of `duration`: each takes a slot-second."""
    part: float
    """What is left of `duration`: the fraction of a slot-second of its last second."""
    cold: bool
    """It arrived with no replica ready or one starting (its wait is a cold start's)."""


@dataclass(slots=True)
class Span:
    """Seconds [start, end) of the workspace lists written by a run (zeroed after it)."""

    start: int
    end: int


class RunState:
    """One simulation: the replicas, the queue, and the corrections to the free-flow
    in-flight count that waiting causes.

    The corrections are kept as three lists over the trace's seconds (taken from the
    workspace when a first stretch is walked): `step_fix[s]` changes the running correction
    from second s on (a request that waited ends later than the free flow says),
    `point_fix[s]` applies to second s alone (the fraction of a slot-second in a request's
    last second), and `prefix_fix` holds their prefix sums, for the autoscaler's windowed
    metric. `fix_total` is the sum so far, valid in `prefix_fix` up to `fixed_to`.
    """

    # Slots: the per-second walk reads and writes these attributes many times a second.
    __slots__ = (
        "activations",
        "autoscaler",
        "blocks",
        "dirty_until",
        "extent",
        "fix_end",
        "fix_total",
        "fixed_to",
        "flow",
        "frozen_until",
        "hold",
        "last_active",
        "length",
        "period",
        "point_fix",
        "prefix_fix",
        "queue",
        "queued",
        "replicas",
        "running_fix",
        "segments",
        "served_at_once",
        "setup",
        "slots",
        "start_count",
        "step_fix",
        "timeouts",
        "trace",
        "unqueued",
        "waited_cold",
        "waits",
        "walk_all",
        "walked",
        "warnings",
        "written",
    )

    def __init__(
        self,
        trace: Trace,
        setup: Setup,
        autoscaler: Autoscaler,
        initial: int | None,
        walk_all: bool,
    ) -> None:
        self.trace, self.setup, self.autoscaler, self.walk_all = trace, setup, autoscaler, walk_all
        self.period = period = setup.scaler.sync
        self.slots = float(setup.slots)
        self.hold = setup.scaler.hold
        """Seconds the interceptor holds a request with no replica ready (None: forever)."""
        self.length = length = trace.seconds
        block_count = -(-length // period)
        self.flow = free_flow(trace, block_count * period, work=True)  # past the end: nothing
        self.unqueued = self.flow[:length]
        self.extent = length + (int(trace.durations.max()) if length else 0) + 2
        self.blocks = per_block(trace, self.flow, period, autoscaler)
        self.start_count = setup.scaler.min_replicas if initial is None else initial
        autoscaler.reset(block_count, self.start_count)
        self.replicas = Replicas.of(setup.cold, self.start_count)
        self.warnings: list[str] = []
        if self.replicas.never_ready:
            cold = setup.cold
            self.warnings.append(
                f"weights + engine take {cold.on_warm_node:g} s, over the startup budget of "
                f"{cold.startup_timeout} s (health.startup_timeout): new replicas never get ready"
            )
        self.queue: deque[Cohort] = deque()
        self.queued = 0.0
        """Requests waiting (the sum of the queue's counts)."""
        self.step_fix: list[float] = []
        self.point_fix: list[float] = []
        self.prefix_fix: list[float] = []
        self.written: list[Span] = []
        self.running_fix = 0.0
        self.dirty_until = 0
        """Until this second, requests that waited are in flight: the free flow is wrong."""
        self.fixed_to = -1
        self.fix_total = 0.0
        self.fix_end = 0
        """The end of the last stretch walked second by second."""
        self.frozen_until = 0
        self.waits: dict[int, float] = {}
        """Requests started, by whole seconds waited."""
        self.served_at_once = 0.0
        self.waited_cold = self.timeouts = 0.0
        self.last_active = -math.inf
        """A second after requests were last in flight."""
        self.activations = 0
        self.segments: list[tuple[int, list[float], list[float]]] = []
        self.walked = 0

    def _metric(self, k: int, fix_now: float, fix_low: float) -> float:
        """The autoscaler's metric at tick k: the free flow's, corrected by the fixes summed
        up to the tick and up to the start of its window."""
        blocks = self.blocks
        free: float = blocks.free_metric.item(k)
        return free + (fix_now - fix_low) / blocks.window_len.item(k)

    def _active_until(self, second: float) -> None:
        if second > self.last_active:
            self.last_active = second

    def _result(self) -> RunResult:
        if self.step_fix:  # give the workspace back zeroed
            for span in self.written:
                WORK.clear("step_fix", span.start, span.end)
                WORK.clear("point_fix", span.start, span.end)
            WORK.dirty = False
        replicas, length = self.replicas, self.length
        if replicas.next_ready < length:
            replicas.become_ready(length - 1)
        replicas.expire(length - 1e-9)
        waits = self.waits
        if self.served_at_once:
            waits[0] = waits.get(0, 0.0) + self.served_at_once
        wait_array = np.zeros(max(waits, default=0) + 1)
        for seconds, amount in waits.items():
            wait_array[seconds] = amount
        return RunResult(
            setup=self.setup,
            algorithm=self.autoscaler.name,
            seconds=length,
            start_replicas=self.start_count,
            events=tuple(sorted(replicas.events)),
            trace=self.trace,
            segments=tuple(self.segments),
            waits=wait_array,
            requests=float(self.blocks.served_before[-1]),
            waited_cold=self.waited_cold,
            timeouts=self.timeouts,
            unfinished=self.queued,
            cold_starts=replicas.cold_starts,
            activations=self.activations,
            walked=self.walked,
            warnings=tuple(self.warnings),
        )

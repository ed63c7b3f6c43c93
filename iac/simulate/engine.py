"""The serving model, one second at a time, with an autoscaler deciding every sync period.

Per second t, with `ready` replicas each serving `slots` requests at once:
- the cohort arriving in t joins a FIFO queue behind anything already waiting;
- requests start while slots are free; one served for d seconds takes a slot for d seconds
  (a slot-second per second, and the fraction in its last second: a 0.25 s request takes a
  quarter of a slot-second, so one slot serves four per second);
- in flight (what the autoscaler measures) = requests in service + requests waiting;
- with no ready replica, the interceptor holds requests up to its readiness timeout; past
  it they fail (timeouts). A request's wait is (second it starts) - (second it arrived).

Every `sync` seconds the autoscaler decides from the in-flight count (averaged over its
window, or as it is now); new replicas serve after their cold start: on an emptied node of
the deployment (weights + engine), on a free GPU (+ image), else on a new node (+ node).
Scaling down removes starting replicas first, as a ReplicaSet does; removed replicas finish
what they hold. Requests that arrive when no replica is ready start a replica at once (the
interceptor's push to KEDA).

Speed: the in-flight count of a stretch where nothing waits is computed for the whole trace
at once (numpy); a stretch of one sync period is walked second by second only when its peak
exceeds the ready capacity, when requests wait, or while requests that waited are still in
flight. Both paths give the same numbers; the fast one is a proof that nothing queues.
Within a walk, a frozen stretch (no replica ready and nothing arriving, ending or timing out,
as while requests are held for a cold start) repeats its first second: it is filled in at
once, and whole sync periods of it are decided in bulk (`Autoscaler.quiet`), to the bit what
walking it gives (the running sums are accumulated in the same order).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt

from iac.simulate.autoscalers import Autoscaler
from iac.simulate.setup import Setup
from iac.simulate.trace import Trace

_EPS = 1e-9
_LOOKAHEAD = 240
"""Sync periods examined at once for a quiet stretch (an hour at 15 s)."""
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


_WORK = _Work()


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
        return _WORK.array(name, size, dtype) if work else np.empty(size, dtype=dtype)

    whole = buffer("whole", length)
    np.trunc(durations, out=whole)
    rest = buffer("rest", length)
    np.subtract(durations, whole, out=rest)
    np.multiply(rest, arrivals, out=rest)
    where = buffer("where", length, np.int64)
    np.copyto(where, whole, casting="unsafe")
    where += _WORK.arange(length) if work else np.arange(length)
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
    np.copyto(steps, 0.0, where=steps < _EPS)
    return steps[:extent]


def _block_max(shaped: FloatArray) -> FloatArray:
    """The peak of each row: column by column, three times faster than `max(axis=1)` on
    short rows (numpy reduces each 15-second row on its own)."""
    peaks: FloatArray = _WORK.array("block_max", shaped.shape[0])
    np.copyto(peaks, shaped[:, 0])
    for column in range(1, shaped.shape[1]):
        np.maximum(peaks, shaped[:, column], out=peaks)
    return peaks


Event = tuple[int, int, int, int]
"""(second, change of replicas, change of ready replicas, change of billed units)."""
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
            hourly, devices = bill(math.ceil(count - _EPS))
            cost += hourly * seconds / 3600
            gpus += devices * seconds / 3600
        return cost, gpus


def percentile(waits: FloatArray, q: float) -> float:
    total = float(waits.sum())
    if total <= 0:
        return 0.0
    cumulative = np.cumsum(waits)
    return float(np.searchsorted(cumulative, q * total - _EPS * total))


def run(
    trace: Trace,
    setup: Setup,
    autoscaler: Autoscaler,
    initial: int | None = None,
    *,
    walk_all: bool = False,
) -> RunResult:
    """Simulate `trace` (already this deployment's share) on one deployment, starting with
    `initial` replicas ready (default: min replicas). `walk_all` walks every second and
    decides every tick (the reference the fast path is tested against)."""
    scaler = setup.scaler
    cold = setup.cold
    period = scaler.sync
    slots = float(setup.slots)
    hold = scaler.hold
    length = trace.seconds
    warnings: list[str] = []

    arrivals, durations = trace.arrivals, trace.durations
    blocks = -(-length // period)
    flow = free_flow(trace, blocks * period, work=True)  # past the end: nothing arrives
    extent = length + (int(durations.max()) if length else 0) + 2
    unqueued = flow[:length]
    shaped = flow[: blocks * period].reshape(blocks, period)  # past the end: no arrivals
    block_max_array = _block_max(shaped)
    # Per-block values are read as Python numbers with `.item(k)`: the loop visits only the
    # blocks it does not skip (a hundred of 5,760 on a quiet day), so converting whole
    # arrays to lists would cost more than all the reads.
    block_max = block_max_array.item
    if autoscaler.uses_idle:  # when requests were last in flight matters (scale to zero)
        busy = np.greater(
            shaped, 0.0, out=_WORK.array("busy", blocks * period, np.bool_).reshape(blocks, period)
        )
        block_after = np.where(
            busy.any(axis=1),
            np.arange(blocks) * period + period - np.argmax(busy[:, ::-1], axis=1),
            -np.inf,
        )
    else:
        block_after = np.full(blocks, -np.inf)
    block_last = block_after.item  # a second after the last in flight, or -inf
    ticks = np.arange(blocks) * period
    tick_times = ticks.astype(np.float64)
    arrived = np.add.reduceat(arrivals, ticks) if length else np.zeros(0)
    block_arrivals = arrived.item
    served_before = np.concatenate(([0.0], np.cumsum(arrived)))
    window = autoscaler.window
    if window:
        prefix = _WORK.array("prefix", length + 1)
        prefix[0] = 0.0
        np.cumsum(unqueued, out=prefix[1:])
        low = np.maximum(ticks - window, 0)
        free_metric = (prefix[ticks] - prefix[low]) / np.maximum(ticks - low, 1)
        window_low = low.item
        window_len = np.maximum(ticks - low, 1).item
    else:
        free_metric = unqueued[np.maximum(ticks - 1, 0)]
        window_low = np.maximum(ticks - 1, 0).item
        window_len = np.ones(blocks, dtype=np.int64).item
    free_metric_at = free_metric.item

    # Replicas, nodes and what is paid for.
    never = cold.on_warm_node > cold.startup_timeout
    if never:
        warnings.append(
            f"weights + engine take {cold.on_warm_node:g} s, over the startup budget of "
            f"{cold.startup_timeout} s (health.startup_timeout): new replicas never get ready"
        )
    start_count = scaler.min_replicas if initial is None else initial
    autoscaler.reset(blocks, start_count)
    ready = pods = start_count
    starting: list[list[float]] = []  # [ready_at, node_ready_at, image_done_at]
    idle: list[list[float]] = []  # [available_at, expires_at, image_cached]
    free_gpus = cold.free_gpus
    events: list[tuple[int, int, int, int]] = []  # (second, d_pods, d_ready, d_billed)
    ours = cold.nodes_ours
    cold_starts = activations = 0
    next_ready = math.inf

    def start(now: int, how_many: int) -> None:
        """New replicas: on the emptied node that serves soonest, else a free GPU, else a
        new node."""
        nonlocal free_gpus, cold_starts, next_ready
        for _ in range(how_many):
            best, choice = now + cold.on_new_node, -1
            if free_gpus >= 1 and now + cold.on_free_gpu <= best:
                best, choice = now + cold.on_free_gpu, -2
            for i, node in enumerate(idle):
                if node[1] > now:
                    at = max(now, node[0]) + (0 if node[2] else cold.image.seconds)
                    if at + cold.on_warm_node <= best:
                        best, choice = at + cold.on_warm_node, i
            if choice >= 0:
                node = idle.pop(choice)
                node_ready = max(now, node[0])
                image_done = node_ready + (0 if node[2] else cold.image.seconds)
            else:
                if choice == -2:
                    free_gpus -= 1
                    node_ready = now
                else:
                    node_ready = now + cold.node.seconds
                image_done = node_ready + cold.image.seconds
                if ours:
                    events.append((now, 0, 0, 1))
            if not ours:
                events.append((now, 0, 0, 1))
            ready_at = math.inf if never else math.ceil(best)
            starting.append([ready_at, node_ready, image_done])
            events.append((now, 1, 0, 0))
            cold_starts += 1
            next_ready = min(next_ready, ready_at)

    def release(now: int, available: float, cached: bool) -> None:
        if ours:
            idle.append([available, max(now, available) + cold.node_grace, cached])
        else:
            idle.append([available, math.inf, cached])
            events.append((now, 0, 0, -1))

    def stop(now: int, how_many: int) -> None:
        nonlocal ready, next_ready
        for _ in range(how_many):
            if starting:
                latest = max(range(len(starting)), key=lambda i: starting[i][0])
                _, node_ready, image_done = starting.pop(latest)
                release(now, max(now, node_ready), image_done <= now)
                events.append((now, -1, 0, 0))
            else:
                ready -= 1
                release(now, now, True)
                events.append((now, -1, -1, 0))
        next_ready = min((p[0] for p in starting), default=math.inf)

    def become_ready(upto: int) -> None:
        nonlocal ready, next_ready
        keep = []
        for pod in starting:
            if pod[0] <= upto:
                ready += 1
                events.append((int(pod[0]), 0, 1, 0))
            else:
                keep.append(pod)
        starting[:] = keep
        next_ready = min((p[0] for p in starting), default=math.inf)

    def expire(upto: float) -> None:
        kept = []
        for node in idle:
            if node[1] <= upto:
                if ours:
                    events.append((math.ceil(node[1]), 0, 0, -1))
            else:
                kept.append(node)
        idle[:] = kept

    # The queue and the corrections to the free-flow in-flight count it causes.
    # [arrived (int), count, duration, whole seconds (int), part, cold]
    queue: deque[list[Any]] = deque()
    queued = 0.0
    step_fix: list[float] = []  # taken from the workspace when first needed
    written: list[list[int]] = []  # [first, end) of the stretches of step_fix, point_fix used
    point_fix: list[float] = []
    running_fix = 0.0
    dirty_until = 0
    prefix_fix: list[float] = []  # prefix sums of (in flight - free flow)
    fixed_to = -1
    fix_total = 0.0
    waits: dict[int, float] = {}
    waits_get = waits.get
    enqueue, dequeue = queue.append, queue.popleft
    served_at_once = 0.0
    waited_cold = timeouts = 0.0
    last_active = -math.inf
    segments: list[tuple[int, list[float], list[float]]] = []

    fix_end = 0  # end of the last stretch walked second by second
    walked = 0  # seconds walked one by one (not filled in as a frozen stretch)
    k = -1
    while k + 1 < blocks:
        k += 1
        t0 = k * period
        t1 = min(t0 + period, length)
        if next_ready <= t0:
            become_ready(t0)
        if k:
            # The metric: the free flow's, corrected where requests waited.
            lo = window_low(k)
            fix_hi = prefix_fix[t0] if t0 <= fixed_to else fix_total
            fix_lo = prefix_fix[lo] if lo <= fixed_to else fix_total
            metric = free_metric_at(k) + (fix_hi - fix_lo) / window_len(k)
            wanted = autoscaler.decide(t0, metric, pods, t0 - last_active)
            if wanted > pods:
                if pods == 0:
                    activations += 1
                start(t0, wanted - pods)
                pods = wanted
            elif wanted < pods:
                stop(t0, pods - wanted)
                pods = wanted
            if idle:
                expire(t0)
        if (
            not walk_all
            and not queue
            and t0 >= dirty_until
            and block_max(k) <= ready * slots + _EPS
        ):
            # Nothing waits in this stretch: in flight is the free flow.
            served_at_once += block_arrivals(k)
            if block_last(k) > last_active:
                last_active = block_last(k)
            running_fix = 0.0
            # Skip the following stretches while they are as quiet, decided in bulk.
            stop_at = min(blocks, k + 1 + _LOOKAHEAD)
            if next_ready < math.inf:
                stop_at = min(stop_at, math.ceil(next_ready / period))
            if (k + 1) * period - window < fix_end or stop_at <= k + 1:
                continue
            fits = block_max_array[k + 1 : stop_at] <= ready * slots + _EPS
            span = int(fits.argmin())
            if fits[span]:
                span = fits.size
            if not span:
                continue
            idle_for: FloatArray | None = None
            if autoscaler.uses_idle and pods:  # (nothing to decide at zero replicas)
                seen = np.maximum.accumulate(
                    np.concatenate(([last_active], block_after[k + 1 : k + span]))
                )
                idle_for = tick_times[k + 1 : k + 1 + span] - seen
            span = autoscaler.quiet(k + 1, free_metric[k + 1 : k + 1 + span], pods, idle_for)
            if span:
                served_at_once += served_before[k + 1 + span] - served_before[k + 1]
                latest = block_after[k + 1 : k + 1 + span].max()
                if latest > last_active:
                    last_active = float(latest)
                k += span
            continue

        # Second by second.
        if not step_fix:
            step_fix = _WORK.zeros("step_fix", extent)
            point_fix = _WORK.zeros("point_fix", extent)
            prefix_fix = _WORK.zeros("prefix_fix", length + 1)
            _WORK.dirty = True
        if not written or written[-1][1] < t0:
            written.append([t0, t1])
        if fixed_to < t0:
            prefix_fix[fixed_to + 1 : t0 + 1] = [fix_total] * (t0 - fixed_to)
            fixed_to = t0
        flow_list = unqueued[t0:t1].tolist()
        arrivals_list = arrivals[t0:t1].tolist()
        durations_list = durations[t0:t1].tolist()
        fixes: list[float] = []
        waiting: list[float] = []
        add_fix, add_waiting = fixes.append, waiting.append
        span_walked = t1 - t0
        frozen_until = t0
        seconds_walked = range(t0, t1)
        for s, flow_s, n, d in zip(
            seconds_walked, flow_list, arrivals_list, durations_list, strict=True
        ):
            if s < frozen_until:
                continue  # advanced in bulk below
            if next_ready <= s:
                become_ready(s)
            capacity = ready * slots
            running_fix += step_fix[s]
            busy = flow_s + running_fix + point_fix[s]
            if n > 0:
                if not queue and busy <= capacity + _EPS:
                    served_at_once += n
                else:
                    w = int(d)
                    r = d - w
                    if w >= 1:
                        running_fix -= n
                        step_fix[s + w] += n
                        busy -= n
                    else:
                        busy -= n * d
                    point_fix[s + w] -= n * r
                    enqueue([s, n, d, w, r, 1.0 if (ready == 0 or starting) else 0.0])
                    queued += n
                    if s + w + 1 > dirty_until:
                        dirty_until = s + w + 1
            if queue:
                if hold is not None and ready == 0:
                    while queue and s - queue[0][0] >= hold:
                        dropped = queue.popleft()
                        timeouts += dropped[1]
                        queued -= dropped[1]
                free = capacity - busy
                while queue and free > _EPS:
                    head = queue[0]
                    a, m, d, w, r, flag = head  # (a and w are ints)
                    ends = s + w
                    if w >= 1:  # a slot-second per second (× 1.0 left out: exact)
                        x = m if m <= free + _EPS else free
                        running_fix += x
                        step_fix[ends] -= x
                        busy += x
                        free -= x
                    else:  # d of a slot-second
                        x = m if m * d <= free + _EPS else free / d
                        busy += x * d
                        free -= x * d
                    point_fix[ends] += x * r
                    waited = s - a
                    waits[waited] = waits_get(waited, 0.0) + x
                    if flag and waited > 0:
                        waited_cold += x
                    if ends >= dirty_until:
                        dirty_until = ends + 1
                    if x >= m - _EPS:
                        dequeue()
                        queued -= m
                    else:
                        head[1] = m - x
                        queued -= x
                if queued < _EPS:
                    queued = 0.0
            total = busy + queued
            if total > _EPS:
                last_active = s + 1
            fix = total - flow_s
            add_fix(fix)
            add_waiting(queued)
            fix_total += fix
            prefix_fix[s + 1] = fix_total
            if pods == 0 and queued > _EPS:
                activations += 1
                wanted = autoscaler.activation()
                start(s, wanted)
                pods = wanted
            elif (
                (not queue or not ready)
                and s + 1 < t1
                and not walk_all
                and flow_list[s - t0 + 1] == 0.0
            ):
                # A frozen stretch: nothing arrives, nothing is in flight in the free flow,
                # no request ends, no replica gets ready, and nothing queued can start (no
                # replica is ready) or time out. Each of its seconds repeats the next one.
                j = s - t0
                end = j + 1
                limit = span_walked
                if next_ready < t0 + limit:
                    limit = max(end, math.ceil(next_ready) - t0)
                if queue and hold is not None:
                    limit = min(limit, max(end, int(queue[0][0]) + hold - t0))
                while (
                    end < limit
                    and not arrivals_list[end] > 0
                    and flow_list[end] == 0.0
                    and step_fix[t0 + end] == 0.0
                    and point_fix[t0 + end] == 0.0
                ):
                    end += 1
                count = end - j - 1
                if count > 0:
                    busy = 0.0 + running_fix + 0.0
                    if not (queue and capacity - busy > _EPS):
                        total = busy + queued
                        if total > _EPS:
                            last_active = t0 + end
                        fix = total - 0.0
                        fixes.extend([fix] * count)
                        waiting.extend([queued] * count)
                        sums = list(accumulate([fix] * count, initial=fix_total))
                        prefix_fix[s + 2 : t0 + end + 1] = sums[1:]
                        fix_total = sums[-1]
                        frozen_until = t0 + end
                        walked -= count
        fixed_to = t1
        fix_end = t1
        segments.append((t0, fixes, waiting))
        walked += t1 - t0
        written[-1][1] = max(written[-1][1], dirty_until + 1)
        if frozen_until == t1 and queue and t1 >= dirty_until and k + 1 < blocks:
            # The frozen stretch goes on past this sync period: whole periods of it are
            # filled in at once, while the autoscaler provably keeps the replica count.
            horizon = min(length, (k + 1 + _LOOKAHEAD) * period)
            if next_ready < horizon:
                horizon = math.ceil(next_ready)
            if hold is not None:
                horizon = min(horizon, int(queue[0][0]) + hold)
            if horizon - t1 >= period:
                hits = np.flatnonzero((unqueued[t1:horizon] != 0.0) | (arrivals[t1:horizon] > 0))
                if hits.size:
                    horizon = t1 + int(hits[0])
            periods = horizon // period - k - 1
            if periods > 0:
                fix, still = fixes[-1], waiting[-1]
                sums = list(accumulate([fix] * (periods * period), initial=fix_total))
                prefix_fix[t1 + 1 : t1 + periods * period + 1] = sums[1:]
                metrics = np.array(
                    [
                        free_metric_at(kk)
                        + (prefix_fix[kk * period] - prefix_fix[window_low(kk)]) / window_len(kk)
                        for kk in range(k + 1, k + 1 + periods)
                    ]
                )
                idle_for = None
                if autoscaler.uses_idle:
                    if fix > _EPS:  # in flight up to each tick
                        idle_for = np.zeros(periods)
                    else:
                        idle_for = tick_times[k + 1 : k + 1 + periods] - last_active
                periods = autoscaler.quiet(k + 1, metrics, pods, idle_for)
                if periods:
                    seconds = periods * period
                    segments.append((t1, [fix] * seconds, [still] * seconds))
                    fix_total = sums[seconds]
                    fixed_to = fix_end = t1 + seconds
                    if fix > _EPS:
                        last_active = t1 + seconds
                    k += periods

    if step_fix:
        for written_from, written_to in written:
            _WORK.clear("step_fix", written_from, written_to)
            _WORK.clear("point_fix", written_from, written_to)
        _WORK.dirty = False
    if next_ready < length:
        become_ready(length - 1)
    expire(length - 1e-9)
    if served_at_once:
        waits[0] = waits.get(0, 0.0) + served_at_once
    wait_array = np.zeros(max(waits, default=0) + 1)
    for seconds, amount in waits.items():
        wait_array[seconds] = amount
    return RunResult(
        setup=setup,
        algorithm=autoscaler.name,
        seconds=length,
        start_replicas=start_count,
        events=tuple(sorted(events)),
        trace=trace,
        segments=tuple(segments),
        waits=wait_array,
        requests=float(served_before[-1]),
        waited_cold=waited_cold,
        timeouts=timeouts,
        unfinished=queued,
        cold_starts=cold_starts,
        activations=activations,
        walked=walked,
        warnings=tuple(warnings),
    )

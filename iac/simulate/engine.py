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

`RunState` (run_state.py) holds one simulation's state and builds its result; `_Run.run`
visits the blocks (sync periods) in order, and each block is passed either as quiet
(`_pass_quiet`, with the quiet blocks after it) or walked (`_walk`: `_walk_seconds`, which
fills frozen seconds in with `_freeze`, then `_pass_frozen` for whole frozen blocks after
it). Replicas and nodes: replicas.py; the free flow and its per-block views: flow.py; the
result and its figures: result.py.
"""

from __future__ import annotations

import math
from itertools import accumulate

import numpy as np

from iac.simulate.autoscalers import Autoscaler
from iac.simulate.flow import EPS, WORK, FloatArray
from iac.simulate.result import RunResult
from iac.simulate.run_state import Cohort, RunState, Span
from iac.simulate.setup import Setup
from iac.simulate.trace import Trace

_LOOKAHEAD = 240
"""Sync periods examined at once for a quiet stretch (an hour at 15 s)."""


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
    return _Run(trace, setup, autoscaler, initial, walk_all).run()


class _Run(RunState):
    """One simulation as it goes: the blocks visited in order, each passed as quiet or
    walked (the state and the result: `RunState`)."""

    __slots__ = ()

    def run(self) -> RunResult:
        replicas, blocks = self.replicas, self.blocks
        k = 0
        while k < blocks.count:
            t0 = k * self.period
            if replicas.next_ready <= t0:
                replicas.become_ready(t0)
            if k:
                self._decide(k, t0)
            if (
                not self.walk_all
                and not self.queue
                and t0 >= self.dirty_until
                and blocks.peaks.item(k) <= replicas.ready * self.slots + EPS
            ):
                k = self._pass_quiet(k)
            else:
                k = self._walk(k)
        return self._result()

    def _decide(self, k: int, t0: int) -> None:
        low = self.blocks.window_low.item(k)
        fix_now = self.prefix_fix[t0] if t0 <= self.fixed_to else self.fix_total
        fix_low = self.prefix_fix[low] if low <= self.fixed_to else self.fix_total
        replicas = self.replicas
        pods = replicas.pods
        metric = self._metric(k, fix_now, fix_low)
        wanted = self.autoscaler.decide(t0, metric, pods, t0 - self.last_active)
        if wanted > pods and pods == 0:
            self.activations += 1
        replicas.scale_to(t0, wanted)
        if replicas.idle:
            replicas.expire(t0)

    def _pass_quiet(self, k: int) -> int:
        """Block k, where nothing waits (in flight is the free flow), and those after it
        that are as quiet and where the autoscaler keeps the replicas, decided in bulk.
        Returns the next block to visit."""
        blocks, replicas, autoscaler = self.blocks, self.replicas, self.autoscaler
        self.served_at_once += blocks.arrived.item(k)
        self._active_until(blocks.after.item(k))
        self.running_fix = 0.0
        following = k + 1
        stop_at = min(blocks.count, following + _LOOKAHEAD)
        if replicas.next_ready < math.inf:  # a replica getting ready changes the capacity
            stop_at = min(stop_at, math.ceil(replicas.next_ready / self.period))
        # A metric window reaching back into a walked stretch is not the free flow's.
        if following * self.period - autoscaler.window < self.fix_end or stop_at <= following:
            return following
        fits = blocks.peaks[following:stop_at] <= replicas.ready * self.slots + EPS
        span = int(fits.argmin())
        if fits[span]:
            span = fits.size
        if not span:
            return following
        idle_for: FloatArray | None = None
        if autoscaler.uses_idle and replicas.pods:  # (nothing to decide at zero replicas)
            seen = np.maximum.accumulate(
                np.concatenate(([self.last_active], blocks.after[following : k + span]))
            )
            idle_for = blocks.ticks[following : following + span] - seen
        metrics = blocks.free_metric[following : following + span]
        span = autoscaler.quiet(following, metrics, replicas.pods, idle_for)
        if span:
            served = blocks.served_before
            self.served_at_once += served[following + span] - served[following]
            self._active_until(float(blocks.after[following : following + span].max()))
        return following + span

    def _walk(self, k: int) -> int:
        """Block k second by second, then whole blocks after it that stay frozen. Returns
        the next block to visit."""
        t0 = k * self.period
        t1 = min(t0 + self.period, self.length)
        self._open_walk(t0, t1)
        fixes, waiting = self._walk_seconds(t0, t1)
        self.fixed_to = self.fix_end = t1
        self.segments.append((t0, fixes, waiting))
        self.walked += t1 - t0
        self.written[-1].end = max(self.written[-1].end, self.dirty_until + 1)
        if (
            self.frozen_until == t1
            and self.queue
            and t1 >= self.dirty_until
            and k + 1 < self.blocks.count
        ):
            return k + 1 + self._pass_frozen(k, t1, fixes[-1], waiting[-1])
        return k + 1

    def _open_walk(self, t0: int, t1: int) -> None:
        """Make the fix lists ready for a walk from t0 to t1."""
        if not self.step_fix:
            self.step_fix = WORK.zeros("step_fix", self.extent)
            self.point_fix = WORK.zeros("point_fix", self.extent)
            self.prefix_fix = WORK.zeros("prefix_fix", self.length + 1)
            WORK.dirty = True
        if not self.written or self.written[-1].end < t0:
            self.written.append(Span(t0, t1))
        if self.fixed_to < t0:  # nothing was corrected since the last walk
            self.prefix_fix[self.fixed_to + 1 : t0 + 1] = [self.fix_total] * (t0 - self.fixed_to)
            self.fixed_to = t0

    def _walk_seconds(self, t0: int, t1: int) -> tuple[list[float], list[float]]:
        """The seconds from t0 to t1, one by one (those of a frozen stretch at once): the
        in flight minus the free flow, and the requests waiting, of each."""
        # The hottest loop of a run (every second of an overloaded day): what it reads
        # often is bound to local names.
        replicas, queue, slots = self.replicas, self.queue, self.slots
        step_fix, point_fix, prefix_fix = self.step_fix, self.point_fix, self.prefix_fix
        flows = self.unqueued[t0:t1].tolist()
        arrivals = self.trace.arrivals[t0:t1].tolist()
        durations = self.trace.durations[t0:t1].tolist()
        fixes: list[float] = []
        waiting: list[float] = []
        self.frozen_until = t0
        for s, flow, arrived, duration in zip(
            range(t0, t1), flows, arrivals, durations, strict=True
        ):
            if s < self.frozen_until:
                continue  # filled in at once by `_freeze`
            if replicas.next_ready <= s:
                replicas.become_ready(s)
            capacity = replicas.ready * slots
            self.running_fix += step_fix[s]
            busy = flow + self.running_fix + point_fix[s]
            if arrived > 0:
                if not queue and busy <= capacity + EPS:
                    self.served_at_once += arrived
                else:
                    busy = self._enqueue(s, arrived, duration, busy)
            if queue:
                busy = self._serve(s, capacity, busy)
            total = busy + self.queued
            if total > EPS:
                self.last_active = s + 1
            fix = total - flow
            fixes.append(fix)
            waiting.append(self.queued)
            self.fix_total += fix
            prefix_fix[s + 1] = self.fix_total
            if replicas.pods == 0 and self.queued > EPS:  # the interceptor's push to KEDA
                self.activations += 1
                replicas.scale_to(s, self.autoscaler.activation())
            elif (
                (not queue or not replicas.ready)
                and s + 1 < t1
                and not self.walk_all
                and flows[s - t0 + 1] == 0.0
            ):
                self._freeze(s, t0, t1, capacity, flows, arrivals, fixes, waiting)
        return fixes, waiting

    def _enqueue(self, s: int, count: float, duration: float, busy: float) -> float:
        """Requests arriving in second s wait: take them out of the free flow's in-flight
        count (they start later) and queue them. Returns the in flight of second s."""
        whole = int(duration)
        part = duration - whole
        if whole >= 1:
            self.running_fix -= count
            self.step_fix[s + whole] += count
            busy -= count
        else:
            busy -= count * duration
        self.point_fix[s + whole] -= count * part
        cold = self.replicas.ready == 0 or bool(self.replicas.starting)
        self.queue.append(Cohort(s, count, duration, whole, part, cold))
        self.queued += count
        if s + whole + 1 > self.dirty_until:
            self.dirty_until = s + whole + 1
        return busy

    def _serve(self, s: int, capacity: float, busy: float) -> float:
        """Start waiting requests, first come first served, while slots are free in second
        s (past the interceptor's hold they fail). Returns the in flight of second s."""
        queue = self.queue
        if self.hold is not None and self.replicas.ready == 0:
            while queue and s - queue[0].arrived >= self.hold:
                dropped = queue.popleft()
                self.timeouts += dropped.count
                self.queued -= dropped.count
        # Once a second while requests wait: the state it changes is kept in local names
        # and stored back at the end.
        step_fix, point_fix, waits = self.step_fix, self.point_fix, self.waits
        running_fix, queued, dirty_until = self.running_fix, self.queued, self.dirty_until
        free = capacity - busy
        while queue and free > EPS:
            cohort = queue[0]
            count = cohort.count
            ends = s + cohort.whole
            if cohort.whole >= 1:  # a slot-second per second (× 1.0 left out: exact)
                started = count if count <= free + EPS else free
                running_fix += started
                step_fix[ends] -= started
                busy += started
                free -= started
            else:  # `duration` of a slot-second
                duration = cohort.duration
                started = count if count * duration <= free + EPS else free / duration
                busy += started * duration
                free -= started * duration
            point_fix[ends] += started * cohort.part
            waited = s - cohort.arrived
            waits[waited] = waits.get(waited, 0.0) + started
            if cohort.cold and waited > 0:
                self.waited_cold += started
            if ends >= dirty_until:
                dirty_until = ends + 1
            if started >= count - EPS:
                queue.popleft()
                queued -= count
            else:
                cohort.count = count - started
                queued -= started
        self.running_fix, self.dirty_until = running_fix, dirty_until
        self.queued = 0.0 if queued < EPS else queued
        return busy

    def _freeze(
        self,
        s: int,
        t0: int,
        t1: int,
        capacity: float,
        flows: list[float],
        arrivals: list[float],
        fixes: list[float],
        waiting: list[float],
    ) -> None:
        """Fill in at once the frozen stretch after second s, if one follows: nothing
        arrives, nothing is in flight in the free flow, no request ends, no replica gets
        ready, and nothing queued can start (no replica is ready) or time out. Each of its
        seconds repeats second s."""
        offset = s - t0
        end = offset + 1
        limit = t1 - t0
        replicas, queue = self.replicas, self.queue
        if replicas.next_ready < t0 + limit:
            limit = max(end, math.ceil(replicas.next_ready) - t0)
        if queue and self.hold is not None:
            limit = min(limit, max(end, int(queue[0].arrived) + self.hold - t0))
        step_fix, point_fix = self.step_fix, self.point_fix
        while (
            end < limit
            and not arrivals[end] > 0
            and flows[end] == 0.0
            and step_fix[t0 + end] == 0.0
            and point_fix[t0 + end] == 0.0
        ):
            end += 1
        count = end - offset - 1
        busy = self.running_fix  # the free flow and the point fixes are 0 here
        if count <= 0 or (queue and capacity - busy > EPS):
            return
        fix = busy + self.queued  # in flight, all of it a correction of the free flow
        if fix > EPS:
            self.last_active = t0 + end
        fixes.extend([fix] * count)
        waiting.extend([self.queued] * count)
        # Summed one by one, as walking would: the same bits.
        sums = list(accumulate([fix] * count, initial=self.fix_total))
        self.prefix_fix[s + 2 : t0 + end + 1] = sums[1:]
        self.fix_total = sums[-1]
        self.frozen_until = t0 + end
        self.walked -= count

    def _pass_frozen(self, k: int, t1: int, fix: float, still: float) -> int:
        """Whole blocks after block k (which ends at t1), frozen as the end of its walk
        was, while the autoscaler provably keeps the replicas. Returns how many."""
        period, blocks, replicas = self.period, self.blocks, self.replicas
        horizon = self._frozen_horizon(k, t1)
        periods = horizon // period - k - 1
        if periods <= 0:
            return 0
        sums = list(accumulate([fix] * (periods * period), initial=self.fix_total))
        prefix_fix = self.prefix_fix
        prefix_fix[t1 + 1 : t1 + periods * period + 1] = sums[1:]
        window_low = blocks.window_low
        metrics = np.array(
            [
                self._metric(tick, prefix_fix[tick * period], prefix_fix[window_low.item(tick)])
                for tick in range(k + 1, k + 1 + periods)
            ]
        )
        idle_for = None
        if self.autoscaler.uses_idle:
            if fix > EPS:  # in flight up to each tick
                idle_for = np.zeros(periods)
            else:
                idle_for = blocks.ticks[k + 1 : k + 1 + periods] - self.last_active
        periods = self.autoscaler.quiet(k + 1, metrics, replicas.pods, idle_for)
        if periods:
            seconds = periods * period
            self.segments.append((t1, [fix] * seconds, [still] * seconds))
            self.fix_total = sums[seconds]
            self.fixed_to = self.fix_end = t1 + seconds
            if fix > EPS:
                self.last_active = t1 + seconds
        return periods

    def _frozen_horizon(self, k: int, t1: int) -> int:
        """Where a frozen stretch from t1 ends at the latest: a replica gets ready, the
        oldest request times out, or something arrives (within the lookahead)."""
        horizon = min(self.length, (k + 1 + _LOOKAHEAD) * self.period)
        if self.replicas.next_ready < horizon:
            horizon = math.ceil(self.replicas.next_ready)
        if self.hold is not None:
            horizon = min(horizon, int(self.queue[0].arrived) + self.hold)
        if horizon - t1 >= self.period:
            arrivals = self.trace.arrivals
            hits = np.flatnonzero((self.unqueued[t1:horizon] != 0.0) | (arrivals[t1:horizon] > 0))
            if hits.size:
                horizon = t1 + int(hits[0])
        return horizon

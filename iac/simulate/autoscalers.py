"""The two autoscalers the simulator compares.

`KedaHpa` is what the compiled objects do on a cluster: KEDA scales 0 → 1 when the
interceptor reports a request and 1 → 0 at the first poll more than `cooldownPeriod` after
the last one; between 1 and max the HPA, every sync period, takes `ceil(metric / target)`
(unless metric / (target × replicas) is within its tolerance of 1), stabilizes it over the
behavior's windows (scale-down: the highest recommendation of the window) and limits the
change by the policies (kube-controller-manager's `normalizeDesiredReplicasWithBehaviors`).

`Baseten` is the algorithm Baseten documents (reference/baseten.md §5.2): scale up at once
to `ceil(load / (concurrency_target × utilization))`; scale down only after load has stayed
below for a full `scale_down_delay`, by at most `max_scale_down_rate` % of the running
replicas (at least one), then wait a full delay again.

Both decide one tick at a time (`decide`), and can also prove for a run of ticks at once,
from their metrics, that the replica count stays as it is (`quiet`): the simulator skips
such runs without walking them.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from iac.simulate.setup import Rules, Scaler

_EPS = 1e-9
FloatArray = npt.NDArray[np.float64]


class Autoscaler(Protocol):
    name: str
    window: int
    """Seconds its load metric is averaged over; 0 for the current in-flight count."""
    uses_idle: bool
    """Whether `quiet` needs the seconds since the last request (scale to zero)."""

    def reset(self, ticks: int, replicas: int) -> None:
        """Forget history: `ticks` decisions will follow, from `replicas` that have been
        running (and recommended) until now."""
        ...

    def activation(self) -> int:
        """Replicas started when a request arrives with none running."""
        ...

    def decide(self, now: int, metric: float, current: int, idle_for: float) -> int:
        """Replicas wanted at `now`, given the metric, the replicas that exist (ready or
        starting) and the seconds since a request was last in flight."""
        ...

    def quiet(
        self, first: int, metrics: FloatArray, current: int, idle_for: FloatArray | None
    ) -> int:
        """How many ticks from tick number `first`, with these metrics, keep `current`
        replicas; those are recorded as decided."""
        ...


class KedaHpa:
    name = "compiled"

    def __init__(self, scaler: Scaler) -> None:
        self.scaler = scaler
        self.window = scaler.window
        self.uses_idle = scaler.min_replicas == 0
        self.hpa_min = max(1, scaler.min_replicas)
        self._down_span = max(1, math.ceil(scaler.down.window / scaler.sync))
        self._up_span = max(1, math.ceil(scaler.up.window / scaler.sync))
        self._longest = max(
            (p for rules in (scaler.up, scaler.down) for _, _, p in rules.policies), default=0
        )
        self.reset(0, 0)

    def reset(self, ticks: int, replicas: int) -> None:
        self._recs = [-1] * ticks  # recommendation per tick; -1: the HPA did not run
        self._prior = replicas if replicas > 0 else -1  # recommended before the start
        self._added: list[tuple[int, int]] = []  # (time, replicas) scale-up events
        self._removed: list[tuple[int, int]] = []
        s = self.scaler
        self._ticks = np.arange(ticks)
        self._window_first = self._ticks - (self._down_span - 1)
        # Ticks at which KEDA does not poll (none when it polls every sync period).
        self._no_poll = (
            (self._ticks * s.sync) % s.polling >= s.sync if s.polling != s.sync else None
        )

    def activation(self) -> int:
        return self.hpa_min

    def _keda_zero(self, now: int, idle_for: float) -> bool:
        s = self.scaler
        return s.min_replicas == 0 and idle_for > s.cooldown and now % s.polling < s.sync

    def decide(self, now: int, metric: float, current: int, idle_for: float) -> int:
        s = self.scaler
        if current == 0:
            return 0  # the HPA does nothing at zero; KEDA activates on a request
        if self._keda_zero(now, idle_for):
            return 0  # KEDA: inactive for longer than cooldownPeriod
        if current > s.max_replicas:
            desired = s.max_replicas
        elif current < self.hpa_min:
            desired = self.hpa_min
        else:
            ratio = metric / (s.target * current)
            if abs(1.0 - ratio) <= s.tolerance:
                recommendation = current
            else:
                recommendation = math.ceil(metric / s.target - _EPS)
            tick = now // s.sync
            desired = self._limit(now, current, self._stabilize(tick, current, recommendation))
        if desired > current:
            self._added.append((now, desired - current))
        elif desired < current:
            self._removed.append((now, current - desired))
        for events in (self._added, self._removed):
            while events and events[0][0] <= now - self._longest:
                events.pop(0)  # older than any policy's period
        return desired

    def _stabilize(self, tick: int, current: int, recommendation: int) -> int:
        """Not above the lowest recommendation of the scale-up window, not below the
        highest of the scale-down window (each window includes this recommendation)."""
        recs = self._recs
        start = tick - self._down_span + 1
        highest = max(recs[max(0, start) : tick], default=recommendation)
        highest = max(highest, recommendation, self._prior if start <= 0 else -1)
        lowest = recommendation
        start = tick - self._up_span + 1
        if self._up_span > 1:
            lowest = min((r for r in recs[max(0, start) : tick] if r >= 0), default=lowest)
            lowest = min(lowest, recommendation)
        if start <= 0 and self._prior >= 0:
            lowest = min(lowest, self._prior)
        if tick < len(recs):
            recs[tick] = recommendation
        return min(max(current, lowest), highest)

    def _limit(self, now: int, current: int, desired: int) -> int:
        s = self.scaler
        if desired > current >= s.max_replicas or desired < current <= self.hpa_min:
            return current  # (the bounds alone keep it)
        if desired > current:
            limit = max(self._rate(now, current, s.up, up=True), current)
            return min(desired, s.max_replicas, limit)
        if desired < current:
            limit = min(self._rate(now, current, s.down, up=False), current)
            return max(desired, self.hpa_min, limit)
        return desired

    def _rate(self, now: int, current: int, rules: Rules, *, up: bool) -> int:
        """The furthest the policies allow from the replicas at the start of each period."""
        if rules.select == "Disabled" or not rules.policies:
            return current
        results = []
        for kind, value, period in rules.policies:
            added = sum(n for t, n in self._added if t > now - period)
            removed = sum(n for t, n in self._removed if t > now - period)
            start = current - added + removed
            if up:
                results.append(
                    start + value if kind == "Pods" else math.ceil(start * (1 + value / 100))
                )
            else:
                results.append(start - value if kind == "Pods" else int(start * (1 - value / 100)))
        # Max picks the largest change: the highest limit up, the lowest down.
        if (rules.select == "Max") == up:
            return max(results)
        return min(results)

    def quiet(
        self, first: int, metrics: FloatArray, current: int, idle_for: FloatArray | None
    ) -> int:
        s = self.scaler
        n = metrics.size
        if current == 0 or n == 0:
            return n
        if current > s.max_replicas or current < self.hpa_min:
            return 0
        ratio = metrics / (s.target * current)
        recs = np.where(
            np.abs(1.0 - ratio) <= s.tolerance, current, np.ceil(metrics / s.target - _EPS)
        ).astype(np.int64)
        ok = (recs <= current) if current < s.max_replicas else np.ones(n, dtype=bool)
        if current > self.hpa_min:
            # Scale-down needs every recommendation of the window below `current`.
            ticks = self._ticks[first : first + n]
            marks = np.where(recs >= current, ticks, -1)
            low = max(0, first - self._down_span + 1)
            # The last tick of the window before `first` recommending `current` or more.
            found = next((i for i in range(first - 1, low - 1, -1) if self._recs[i] >= current), -1)
            if found >= 0:
                marks[0] = max(int(marks[0]), found)
            elif self._prior >= current:
                marks[0] = max(int(marks[0]), 0)  # counts as long as tick 0 is in the window
            kept = np.maximum.accumulate(marks) >= self._window_first[first : first + n]
            if not kept.all():
                kept |= self._down_blocked(first, n, current, kept)
            ok &= kept
        if self.uses_idle and idle_for is not None:
            if self._no_poll is None:
                ok &= idle_for <= s.cooldown
            else:
                ok &= (idle_for <= s.cooldown) | self._no_poll[first : first + n]
        count = int(ok.argmin())
        if ok[count]:
            count = n
        self._recs[first : first + count] = recs[:count].tolist()
        return count

    def _down_blocked(
        self, first: int, n: int, current: int, kept: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """The ticks (of `n` from `first`) at which the scale-down policies allow no
        removal (replicas removed within a policy's period): the count stays as `decide`
        would keep it. Checked from the first tick the window would scale down at, one
        policy period at a time (the limit only changes when a removal leaves a period)."""
        s = self.scaler
        blocked = np.zeros(n, dtype=bool)
        i = int(np.argmin(kept))
        while i < n:
            now = (first + i) * s.sync
            if self._rate(now, current, s.down, up=False) < current:
                break
            leaves = [
                t + period
                for _, _, period in s.down.policies
                for t, _ in (*self._added, *self._removed)
                if t + period > now
            ]
            j = n if not leaves else max(i + 1, min(n, -(-min(leaves) // s.sync) - first))
            blocked[i:j] = True
            rest = kept[j:]
            i = n if rest.all() else j + int(np.argmin(rest))
        return blocked


class Baseten:
    name = "baseten"

    def __init__(self, scaler: Scaler) -> None:
        settings = scaler.settings
        self.delay = settings.scale_down_delay
        self.rate = settings.max_scale_down_rate
        self.window = settings.autoscaling_window
        self.capacity = settings.target_per_replica
        self.min = scaler.min_replicas
        self.max = scaler.max_replicas
        self.sync = scaler.sync
        self.uses_idle = False
        self._below_since: int | None = None

    def reset(self, ticks: int, replicas: int) -> None:
        self._below_since = None

    def activation(self) -> int:
        return max(1, self.min)

    def decide(self, now: int, metric: float, current: int, idle_for: float) -> int:
        desired = min(max(math.ceil(metric / self.capacity - _EPS), self.min), self.max)
        if desired >= current:
            self._below_since = None
            return desired
        if self._below_since is None:
            self._below_since = now
        if now - self._below_since < self.delay:
            return current
        self._below_since = now  # the next step waits a full delay again
        step = max(1, math.floor(current * self.rate / 100))
        return current - min(current - desired, step)

    def quiet(
        self, first: int, metrics: FloatArray, current: int, idle_for: FloatArray | None
    ) -> int:
        n = metrics.size
        desired = np.clip(np.ceil(metrics / self.capacity - _EPS), self.min, self.max)
        below = desired < current
        times = (np.arange(first, first + n) * self.sync).astype(np.float64)
        before = self._below_since is not None
        previous = np.concatenate(([before], below[:-1]))
        starts = np.where(below & ~previous, times, -np.inf)
        initial = float(self._below_since) if self._below_since is not None else -np.inf
        since = np.maximum.accumulate(np.concatenate(([initial], starts)))[1:]
        bad = (desired > current) | (below & (times - since >= self.delay))
        count = n if not bad.any() else int(np.argmax(bad))
        if count:
            self._below_since = int(since[count - 1]) if below[count - 1] else None
        return count

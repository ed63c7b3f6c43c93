"""The replicas of one deployment, the nodes they run on, and what is paid for.

New replicas start on the emptied node that serves soonest, else on a free GPU, else on a
new node. Scaling down removes starting replicas first, as a ReplicaSet does; removed
replicas finish what they hold, and leave their node idle (ours: kept for `node_grace`
seconds, then given back; existing nodes: billed no more at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from iac.simulate.setup import ColdStart

Event = tuple[int, int, int, int]
"""(second, change of replicas, change of ready replicas, change of billed units)."""


@dataclass(slots=True, eq=False)  # removed by identity
class Starting:
    """A replica on its way to ready."""

    ready_at: float
    """The second it serves from (inf: slower than the startup budget, never)."""
    node_ready_at: float
    image_done_at: float
    """When its node holds the image (an idle node it leaves behind keeps it from then)."""


@dataclass(slots=True, eq=False)  # removed by identity
class IdleNode:
    """A node (or GPU) a removed replica left, where the next one starts faster."""

    available_at: float
    expires_at: float
    """When it is given back (inf: not ours to give back)."""
    image_cached: bool


@dataclass(slots=True)
class Replicas:
    cold: ColdStart
    ready: int
    pods: int
    """Replicas that exist: ready or starting."""
    free_gpus: float
    never_ready: bool
    """A start takes longer than the startup budget: new replicas never serve."""
    starting: list[Starting] = field(default_factory=list)
    idle: list[IdleNode] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    cold_starts: int = 0
    next_ready: float = math.inf
    """The earliest `ready_at` of the starting replicas (checked every second walked)."""

    @classmethod
    def of(cls, cold: ColdStart, count: int) -> Replicas:
        never = cold.on_warm_node > cold.startup_timeout
        return cls(cold, count, count, cold.free_gpus, never)

    def scale_to(self, now: int, wanted: int) -> None:
        if wanted > self.pods:
            self.start(now, wanted - self.pods)
        elif wanted < self.pods:
            self.stop(now, self.pods - wanted)
        self.pods = wanted

    def start(self, now: int, how_many: int) -> None:
        cold = self.cold
        for _ in range(how_many):
            serves_at, node, on_free_gpu = self._best_place(now)
            if node is not None:
                self.idle.remove(node)
                node_ready = max(now, node.available_at)
                image_done = node_ready + (0 if node.image_cached else cold.image.seconds)
            else:
                if on_free_gpu:
                    self.free_gpus -= 1
                    node_ready = now
                else:
                    node_ready = now + cold.node.seconds
                image_done = node_ready + cold.image.seconds
                if cold.nodes_ours:  # a new node (or GPU) of ours is billed
                    self.events.append((now, 0, 0, 1))
            if not cold.nodes_ours:  # on existing nodes each replica is billed
                self.events.append((now, 0, 0, 1))
            ready_at = math.inf if self.never_ready else math.ceil(serves_at)
            self.starting.append(Starting(ready_at, node_ready, image_done))
            self.events.append((now, 1, 0, 0))
            self.cold_starts += 1
            self.next_ready = min(self.next_ready, ready_at)

    def _best_place(self, now: int) -> tuple[float, IdleNode | None, bool]:
        """When a replica started now would serve, the idle node it would use (None: none
        is as soon), and whether it would use a free GPU (else a new node)."""
        cold = self.cold
        best: float = now + cold.on_new_node
        choice: IdleNode | None = None
        on_free_gpu = False
        if self.free_gpus >= 1 and now + cold.on_free_gpu <= best:
            best, on_free_gpu = now + cold.on_free_gpu, True
        for node in self.idle:
            if node.expires_at > now:
                at = max(now, node.available_at) + (0 if node.image_cached else cold.image.seconds)
                if at + cold.on_warm_node <= best:
                    best, choice, on_free_gpu = at + cold.on_warm_node, node, False
        return best, choice, on_free_gpu

    def stop(self, now: int, how_many: int) -> None:
        for _ in range(how_many):
            if self.starting:
                # The one that would be ready last (the first of them), as a ReplicaSet does.
                latest = max(self.starting, key=lambda pod: pod.ready_at)
                self.starting.remove(latest)
                self._release(now, max(now, latest.node_ready_at), latest.image_done_at <= now)
                self.events.append((now, -1, 0, 0))
            else:
                self.ready -= 1
                self._release(now, now, True)
                self.events.append((now, -1, -1, 0))
        self.next_ready = min((pod.ready_at for pod in self.starting), default=math.inf)

    def _release(self, now: int, available: float, cached: bool) -> None:
        if self.cold.nodes_ours:
            expires = max(now, available) + self.cold.node_grace
            self.idle.append(IdleNode(available, expires, cached))
        else:
            self.idle.append(IdleNode(available, math.inf, cached))
            self.events.append((now, 0, 0, -1))

    def become_ready(self, upto: int) -> None:
        """Those whose start ends by `upto` serve."""
        still: list[Starting] = []
        for pod in self.starting:
            if pod.ready_at <= upto:
                self.ready += 1
                self.events.append((int(pod.ready_at), 0, 1, 0))
            else:
                still.append(pod)
        self.starting = still
        self.next_ready = min((pod.ready_at for pod in self.starting), default=math.inf)

    def expire(self, upto: float) -> None:
        """Idle nodes whose grace has passed by `upto` are given back."""
        kept: list[IdleNode] = []
        for node in self.idle:
            if node.expires_at <= upto:
                if self.cold.nodes_ours:
                    self.events.append((math.ceil(node.expires_at), 0, 0, -1))
            else:
                kept.append(node)
        self.idle = kept

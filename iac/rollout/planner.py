"""The steps of a promotion, following Baseten's promotions (reference/baseten.md §3.3-3.5).

A step is a state both deployments are held at (replicas, and the candidate's share of the
traffic); `iac up` applies one step at a time. Within a step, replicas taken down go at once
and replicas brought up are not ready until they have loaded (a GPU cold start), so the
replicas ready during a step are those both it and the step before hold:
`Step.ready_replicas`. Traffic only ever moves onto candidate replicas that were ready
before the step.

`immediate`: bring the candidate up to the environment's replicas and wait until it is
ready, move all traffic at once, then clean up the previous deployment.

`rolling` (replica-based), in batches (docs/rollouts.md):
- `max_surge_percent` (rounded up): bring a batch of candidates up beside the previous
  deployment; once ready, they take their share of the traffic and as many previous
  replicas go, while the next batch comes up. Nothing serving is taken down before its
  replacement is ready.
- `max_unavailable_percent` (rounded down, never every replica): take a batch of previous
  replicas down and bring as many candidates up; traffic follows the ready replicas. Where
  the percent rounds down to no replica, one surge replica is added instead (the plan says
  so), unless `allow_unavailable` insists on taking one down (a policy finding says what that
  costs when it leaves nothing ready).
From a traffic split, the candidate starts from its share (its weight, and its share of the
replicas, both ready) and the traffic never moves back below it. Wait `stabilization` after
each traffic shift. `replica_overhead_percent` first adds headroom
to the previous deployment, which serves until the candidates have replaced it.

The plan is computed from a replica count (the environment's replicas when it starts); the
executor admits each step on ready replicas, as Baseten does, so live progress may be slower
but never ahead of this plan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from iac.compile.release.split import side_bounds
from iac.spec.stack import Promotion


@dataclass(frozen=True, slots=True)
class Step:
    action: str
    """`prepare` (headroom), `scale-up` (candidates come, no traffic moves), `shift`,
    `cleanup`."""
    previous_replicas: int
    candidate_replicas: int
    candidate_weight: int
    """Percent of the environment's traffic on the candidate during this step."""
    wait_seconds: int
    """Stabilization after the step, before the next."""
    peak_replicas: int
    """Replicas of both deployments at the fullest moment of the step."""
    ready_replicas: int
    """Ready replicas of both deployments at the emptiest moment of the step: those it keeps
    that the step before held too (the replicas it brings up are still loading)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    model: str
    environment: str
    previous: str | None
    candidate: str
    strategy: str
    replicas: int
    steps: tuple[Step, ...]
    cleanup: str
    surge_added: int = 0
    """Surge replicas the plan brings up although `max_surge_percent` is 0: where
    `max_unavailable_percent` rounds down to no replica, the one that keeps the environment
    serving."""
    note: str = ""
    """Why the steps differ from the percents as written (rounding), for the plan's reader."""
    from_traffic: tuple[tuple[str, int], ...] = ()
    """The environment's weights before, when it was split: the candidate starts from its
    share, and every other side is cleaned up."""
    chain: str | None = None
    """Set on a chain's promotion: this plan is its entrypoint's (whose route switches),
    `chainlets` the other chainlets' (no route); `iac up` moves them all in the same stages,
    so the route switches only once every chainlet of the candidate is ready."""
    chainlets: tuple[RolloutPlan, ...] = ()
    """A chain's other chainlets' plans (same environment, deployments and steps)."""

    @property
    def label(self) -> str:
        """How progress messages name it: the model, or `chain rag`."""
        return f"chain {self.chain}" if self.chain is not None else self.model

    @property
    def moved(self) -> tuple[RolloutPlan, ...]:
        """Every plan this rollout moves: itself, and a chain's other chainlets."""
        return (self, *self.chainlets)

    @property
    def leaving(self) -> tuple[str, ...]:
        """The deployments that stop serving the environment (cleanup applies to each)."""
        if self.from_traffic:
            return tuple(name for name, _ in self.from_traffic if name != self.candidate)
        return (self.previous,) if self.previous else ()

    @property
    def minimum_seconds(self) -> int:
        """Time the steps take at least: their waits (readiness comes on top)."""
        return sum(step.wait_seconds for step in self.steps)

    @property
    def peak_replicas(self) -> int:
        """Most replicas of both deployments at once: what the node pool must hold."""
        return max((step.peak_replicas for step in self.steps), default=self.replicas)

    @property
    def min_ready_replicas(self) -> int:
        """Fewest ready replicas serving the environment during the promotion (0 for a first
        binding, which had nothing serving before)."""
        return min((step.ready_replicas for step in self.steps), default=0)

    def to_dict(self) -> dict[str, Any]:
        found = self._fields()
        if self.chain is not None:
            found["chain"] = self.chain
            found["chainlets"] = [plan._fields() for plan in self.chainlets]
        return found

    def _fields(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "environment": self.environment,
            "from": self.previous,
            "to": self.candidate,
            "strategy": self.strategy,
            "replicas": self.replicas,
            "cleanup": self.cleanup,
            "from_traffic": dict(self.from_traffic) or None,
            "minimum_seconds": self.minimum_seconds,
            "peak_replicas": self.peak_replicas,
            "min_ready_replicas": self.min_ready_replicas,
            "surge_added": self.surge_added,
            "note": self.note,
            "steps": [step.to_dict() for step in self.steps],
        }


Draft = tuple[str, int, int, int, int]
"""A step before its readiness is known: action, previous, candidate, weight, wait."""


def plan_rollout(
    model: str,
    environment: str,
    previous: str | None,
    candidate: str,
    promotion: Promotion,
    replicas: int,
    from_traffic: tuple[tuple[str, int], ...] = (),
) -> RolloutPlan:
    """Steps to move `environment` from `previous` to `candidate` at `replicas` replicas;
    from a split (`from_traffic`), from the candidate's share of it (its weight, and the
    replicas that share of `replicas` gives it)."""
    replicas = max(1, replicas)
    weight = dict(from_traffic).get(candidate, 0)
    # What each side runs at the start: all of it on the previous deployment, or the split's
    # shares of the environment's floor (iac.compile.release.split).
    running = (
        side_bounds(replicas, replicas, from_traffic)
        if from_traffic
        else {previous or "": (replicas, replicas)}
    )
    start = (
        running.get(previous or "", (0, 0))[0] if previous else 0,
        running.get(candidate, (0, 0))[0],
    )
    rolling = previous is not None and promotion.strategy == "rolling" and weight < 100
    states: list[Draft]
    if weight >= 100:
        states = []  # it has every request already: only the cleanup is left
    elif rolling:
        states = _rolling(promotion, replicas, start, weight)
    else:
        before = start[0]
        states = [
            ("scale-up", before, replicas, weight, 0),
            ("shift", before, replicas, 100, 0),
        ]
    if previous is not None:
        # `keep` leaves what still runs of the previous deployment running.
        last = states[-1][1] if states else start[0]
        kept = last if promotion.cleanup == "keep" else 0
        states.append(("cleanup", kept, replicas, 100, 0))
    added = rolling and promotion.max_surge_percent == 0
    surge_added = promotion.surge_replicas(replicas) if added else 0
    return RolloutPlan(
        model=model,
        environment=environment,
        previous=previous,
        candidate=candidate,
        strategy=promotion.strategy if previous else "immediate",
        replicas=replicas,
        steps=_with_readiness(states, start),
        cleanup=promotion.cleanup,
        surge_added=surge_added,
        note=_note(promotion, replicas, previous or "", candidate) if rolling else "",
        from_traffic=from_traffic,
    )


def _rolling(
    promotion: Promotion, replicas: int, start: tuple[int, int], weight: int
) -> list[Draft]:
    """Steps from `start` (previous, candidate) replicas, all ready, with `weight` % of the
    requests on the candidate (0, or its share of a split)."""
    states: list[Draft] = []
    previous, ready = start  # ready: candidates brought up before, ready when a step starts
    if promotion.replica_overhead_percent:
        previous += math.ceil(replicas * promotion.replica_overhead_percent / 100)
        states.append(("prepare", previous, ready, weight, 0))
    surge = promotion.surge_replicas(replicas)
    batch = surge or promotion.unavailable_replicas(replicas)
    newly_ready = 0
    while True:
        candidate = min(replicas, ready + batch)
        if ready == replicas:
            previous = 0
        elif surge:
            # As many previous replicas go as candidates became ready, never below what the
            # ready candidates leave to serve: the headroom goes first.
            previous = max(previous - newly_ready, replicas - ready)
        else:
            # Down first, as many as come up; the headroom absorbs them first.
            previous = max(previous - batch, replicas - candidate)
        # Traffic follows the ready replicas, and never moves back from the candidate's share.
        moved = max(weight, _weight(ready, previous, replicas))
        action = "shift" if moved > weight else "scale-up"
        weight = moved
        done = weight == 100
        wait = promotion.stabilization if action == "shift" and not done else 0
        states.append((action, previous, candidate, weight, wait))
        if done:
            return states
        newly_ready, ready = candidate - ready, candidate


def _weight(ready: int, previous: int, replicas: int) -> int:
    """The candidate's share of the traffic, by ready replicas: while both deployments hold
    at least `replicas` ready, each ready candidate takes one replica's share and the
    previous deployment's headroom absorbs the rest; with fewer (replicas unavailable), the
    traffic is spread over the ready replicas."""
    if ready == 0:
        return 0
    serving = min(replicas, previous + ready)
    if ready >= serving:
        return 100
    return min(99, max(1, round(100 * ready / serving)))


def _with_readiness(states: list[Draft], start: tuple[int, int]) -> tuple[Step, ...]:
    """Steps with their peak and ready replicas, from `start` (previous, candidate) replicas
    serving."""
    steps = []
    before = start
    for action, previous, candidate, weight, wait in states:
        peak = previous + candidate
        ready = min(before[0], previous) + min(before[1], candidate)
        steps.append(Step(action, previous, candidate, weight, wait, peak, ready))
        before = (previous, candidate)
    return tuple(steps)


def _note(promotion: Promotion, replicas: int, previous: str, candidate: str) -> str:
    """What the plan's reader should know about how the percents were rounded."""
    if promotion.max_surge_percent > 0 or promotion.max_unavailable_percent == 0:
        return ""
    percent = promotion.max_unavailable_percent
    exact = replicas * percent // 100
    unavailable = promotion.unavailable_replicas(replicas)
    of = f"max_unavailable_percent {percent} of {replicas} replica{'s' * (replicas > 1)}"
    if unavailable == 0:
        return (
            f"1 surge replica added (max_surge_percent is 0): {of} rounds down to none, so "
            f"each {previous} replica serves until a {candidate} one is ready to replace it"
        )
    if unavailable > exact:
        ready = replicas - unavailable
        return (
            f"{of} rounds down to none; allow_unavailable takes {unavailable} down per step "
            f"anyway, leaving {ready} ready"
        )
    if exact > unavailable:
        return f"{of} would take every replica down: {unavailable} per step, so one stays ready"
    return ""

"""The steps of a promotion, following Baseten's promotions (reference/baseten.md §3.3-3.5).

`immediate`: bring the candidate up to the environment's replicas and wait until it is
ready, move all traffic at once, then clean up the previous deployment.

`rolling` (replica-based): repeat until the candidate carries everything: with
`max_surge_percent`, scale the candidate up by a step, shift traffic in proportion to the
replicas, then scale the previous deployment down by the same step; with
`max_unavailable_percent`, scale the previous deployment down first. Wait `stabilization`
after each shift. `replica_overhead_percent` first adds headroom to the previous deployment.

The plan is computed from a replica count (the environment's replicas when it starts); the
executor admits each step on ready replicas, as Baseten does, so live progress may be slower
but never ahead of this plan.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from iac.compile.split import side_bounds
from iac.spec.stack import Promotion


@dataclass(frozen=True, slots=True)
class Step:
    action: str
    """`prepare` (headroom), `scale-up`, `shift`, `cleanup`."""
    previous_replicas: int
    candidate_replicas: int
    candidate_weight: int
    """Percent of the environment's traffic on the candidate after this step."""
    wait_seconds: int
    """Stabilization after the step, before the next."""
    peak_replicas: int
    """Replicas of both deployments at the fullest moment of the step."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    model: str
    environment: str
    previous: str | None
    """The deployment replaced (of a split, the one with the most traffic besides the
    candidate)."""
    candidate: str
    strategy: str
    replicas: int
    steps: tuple[Step, ...]
    cleanup: str
    from_traffic: tuple[tuple[str, int], ...] = ()
    """The environment's weights before, when it was split: the candidate starts from its
    share, and every other side is cleaned up."""

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

    def to_dict(self) -> dict[str, Any]:
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
            "steps": [step.to_dict() for step in self.steps],
        }


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
    start = dict(from_traffic).get(candidate, 0)
    # What each side runs at the start: all of it on the previous deployment, or the split's
    # shares of the environment's floor (iac.compile.split).
    running = (
        side_bounds(replicas, replicas, from_traffic)
        if from_traffic
        else {previous or "": (replicas, replicas)}
    )
    candidate_start = running.get(candidate, (0, 0))[0]
    before = running.get(previous or "", (0, 0))[0] if previous else 0
    if start >= 100:
        steps: list[Step] = []  # it has every request already: only the cleanup is left
    elif previous is None or promotion.strategy == "immediate":
        steps = [
            Step("scale-up", before, replicas, start, 0, before + replicas),
            Step("shift", before, replicas, 100, 0, before + replicas),
        ]
    else:
        steps = _rolling(promotion, replicas, before, candidate_start, start)
    if previous is not None:
        # `keep` leaves what still runs of the previous deployment running.
        last = steps[-1].previous_replicas if steps else before
        kept = last if promotion.cleanup == "keep" else 0
        steps.append(Step("cleanup", kept, replicas, 100, 0, kept + replicas))
    return RolloutPlan(
        model=model,
        environment=environment,
        previous=previous,
        candidate=candidate,
        strategy=promotion.strategy if previous else "immediate",
        replicas=replicas,
        steps=tuple(steps),
        cleanup=promotion.cleanup,
        from_traffic=from_traffic,
    )


def _rolling(
    promotion: Promotion, replicas: int, previous: int, candidate: int, weight: int
) -> list[Step]:
    """Steps from `previous` and `candidate` replicas (`weight` % of the requests on the
    candidate: 0, or its share of a split) until the candidate runs `replicas`."""
    steps: list[Step] = []
    if promotion.replica_overhead_percent:
        previous += math.ceil(replicas * promotion.replica_overhead_percent / 100)
        steps.append(Step("prepare", previous, candidate, weight, 0, previous + candidate))
    surge = promotion.max_surge_percent > 0
    percent = promotion.max_surge_percent if surge else promotion.max_unavailable_percent
    size = max(1, math.ceil(replicas * percent / 100))
    while candidate < replicas:
        before = (previous, candidate)
        candidate = min(replicas, candidate + size)
        last = candidate == replicas
        # The previous deployment keeps the rest (and its headroom until the last step).
        previous = 0 if last else max(previous - size, replicas - candidate)
        # Surge adds candidates before removing previous replicas; unavailable the reverse.
        peak = before[0] + candidate if surge else previous + before[1]
        # Traffic follows the replicas, and never moves back from the candidate's share.
        weight = max(weight, round(100 * candidate / replicas))
        wait = 0 if last else promotion.stabilization
        steps.append(Step("shift", previous, candidate, weight, wait, peak))
    return steps

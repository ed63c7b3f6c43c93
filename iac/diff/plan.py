"""`iac plan`: what a change to the declarations will do, in the words of the domain.

A plan compares a base and a head compiled stack: lifecycle events (design §5), findings,
the object-level diff, the monthly cost before and after, and the rollout of each
promotion. It is the review surface: what CI prints on a pull request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iac.compile import Compiled
from iac.compile.pricing import CostLine, release_cost
from iac.diagnostics import Diagnostic
from iac.diff.endpoints import EndpointChanges, endpoint_changes, endpoint_findings
from iac.diff.events import Event, lifecycle_events
from iac.diff.findings import Finding, findings, from_diagnostic
from iac.diff.objects import ObjectDiff, diff_cloud, diff_objects, joined
from iac.gc_pause import without_gc
from iac.rollout.planner import RolloutPlan, plan_rollout
from iac.spec.stack import Pricing


@dataclass(frozen=True, slots=True)
class Plan:
    events: list[Event]
    findings: list[Finding]
    objects: ObjectDiff
    cost: dict[str, Any]
    rollouts: list[RolloutPlan]
    endpoints: EndpointChanges
    """Endpoint URLs that appear, move or disappear."""
    simulations: list[dict[str, Any]] = field(default_factory=list)
    """Replays of environments' traces before and after (`environments.<env>.trace`)."""

    @property
    def changed(self) -> bool:
        return bool(self.events) or not self.objects.empty

    @property
    def failed(self) -> bool:
        return any(f.level == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `iac plan --format json` (design §6), plus `rollouts`."""
        return {
            "events": self.events,
            "findings": [f.to_dict() for f in self.findings],
            "objects": self.objects.to_dict(),
            "cost": self.cost,
            "rollouts": [r.to_dict() for r in self.rollouts],
            "endpoints": self.endpoints.to_dict(),
            "simulations": self.simulations,
        }


@without_gc
def make_plan(
    base: Compiled | None,
    head: Compiled,
    base_pricing: Pricing | None = None,
    head_pricing: Pricing | None = None,
    head_warnings: list[Diagnostic] | None = None,
    simulations: list[dict[str, Any]] | None = None,
) -> Plan:
    events = lifecycle_events(base.release if base else None, head.release)
    objects = joined(
        diff_objects(base.objects if base else [], head.objects),
        diff_cloud(base.cloud if base else [], head.cloud),
    )
    rollouts = promotion_rollouts(events, head)
    found = findings(base, head, events, objects, rollouts)
    endpoints = endpoint_changes(base.release if base else None, head.release)
    found.extend(endpoint_findings(endpoints))
    found.extend(from_diagnostic(d) for d in head_warnings or [])
    order = {"error": 0, "warning": 1, "info": 2}
    found.sort(key=lambda f: (order[f.level], f.model or "", f.id, f.message))
    cost = _cost(
        release_cost(base.release, base_pricing) if base else [],
        release_cost(head.release, head_pricing),
    )
    return Plan(events, found, objects, cost, rollouts, endpoints, simulations or [])


def promotion_rollouts(events: list[Event], head: Compiled) -> list[RolloutPlan]:
    """The rollout of each promotion among `events` (what `iac up` stages, and what the
    Pulumi program stages for a rolling one)."""
    plans = []
    for event in events:
        traffic = event.get("changes", {}).get("traffic")
        if event["kind"] != "promote" or event["to"] is None:
            continue
        if traffic and len(traffic["to"]) > 1:
            continue  # a traffic split is moved by hand, weight by weight
        model = head.release.models[event["model"]]
        env = model.environments[event["environment"]]
        candidate = model.deployments[event["to"]]
        plans.append(
            plan_rollout(
                model.name,
                env.name,
                event["from"],
                candidate.name,
                env.promotion,
                candidate.autoscaling.min_replicas,
                # Out of a split: the candidate starts from its share, the others leave.
                tuple(traffic["from"].items()) if traffic else (),
            )
        )
    return plans


def _cost(base: list[CostLine], head: list[CostLine]) -> dict[str, Any]:
    def totals(lines: list[CostLine]) -> dict[str, float]:
        return {
            "floor": round(sum(line.floor for line in lines), 2),
            "ceiling": round(sum(line.ceiling for line in lines), 2),
        }

    keyed_base = {(line.model, line.environment): line for line in base}
    keyed_head = {(line.model, line.environment): line for line in head}
    lines = []
    for key in sorted(set(keyed_base) | set(keyed_head), key=lambda k: (k[0], k[1] or "")):
        before, after = keyed_base.get(key), keyed_head.get(key)
        entry = {
            "model": key[0],
            "environment": key[1],
            "base": totals([before] if before else []),
            "head": totals([after] if after else []),
        }
        if entry["base"] != entry["head"]:
            lines.append(entry)
    base_total, head_total = totals(base), totals(head)
    return {
        "currency": "USD",
        "period": "month (730 h)",
        "base": base_total,
        "head": head_total,
        "delta": {k: round(head_total[k] - base_total[k], 2) for k in head_total},
        "lines": lines,
        "unpriced": sorted({a for line in head for a in line.unpriced}),
    }

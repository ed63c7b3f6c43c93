"""`iac plan`: what a change to the declarations will do, in the words of the domain.

A plan compares a base and a head compiled stack: lifecycle events (design §5), findings,
the object-level diff, the monthly cost before and after, and the rollout of each
promotion. It is the review surface: what CI prints on a pull request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iac.compile import Compiled
from iac.compile.capacity.pricing import CostLine, release_cost
from iac.compile.names import object_id
from iac.compile.release import Release
from iac.diagnostics import Diagnostic, Severity, format_path
from iac.diff.access import access_findings
from iac.diff.chain_cost import chain_costs
from iac.diff.chain_events import chain_events, chain_findings, chain_rollouts
from iac.diff.endpoints import EndpointChanges, endpoint_changes, endpoint_findings
from iac.diff.events import Event, lifecycle_events
from iac.diff.findings import Finding, findings, from_diagnostic
from iac.diff.objects import ObjectDiff, diff_cloud, diff_objects, joined
from iac.rollout.planner import RolloutPlan, plan_rollout
from iac.spec.policies import Policies
from iac.spec.resolved import ChainMember
from iac.spec.stack import Pricing

DRIFT = "drift"
"""The finding id of a declared field changed on the cluster (`iac.preflight.drift`)."""


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
        """Lifecycle events, object changes, or drift (a hand change on the cluster that the
        next apply undoes: a change too, as `terraform plan -detailed-exitcode` counts it)."""
        return (
            bool(self.events) or not self.objects.empty or any(f.id == DRIFT for f in self.findings)
        )

    @property
    def failed(self) -> bool:
        return any(f.level is Severity.ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `iac plan --format json` (design §6), plus `rollouts`, `endpoints`,
        `simulations` and `errors` (empty: a plan was made; see `errors_to_dict`)."""
        return {
            "events": self.events,
            "findings": [f.to_dict() for f in self.findings],
            "objects": self.objects.to_dict(),
            "cost": self.cost,
            "rollouts": [r.to_dict() for r in self.rollouts],
            "endpoints": self.endpoints.to_dict(),
            "simulations": self.simulations,
            "errors": [],
        }


def errors_to_dict(errors: list[Diagnostic], problem: str | None = None) -> dict[str, Any]:
    """The JSON of `iac plan --format json` when no plan could be made (an invalid head):
    every key of a plan, empty, and `errors`, each located (`file`, `line`, `column`) with
    its key `path` where it has one; `problem`: what stopped the plan where no file is at
    fault (a git revision that does not exist), with null `file`, `line` and `column`."""
    empty = Plan([], [], ObjectDiff((), (), ()), {}, [], EndpointChanges([], [], []))
    found: list[dict[str, Any]] = []
    if problem is not None:
        found.append({"file": None, "line": None, "column": None, "message": problem})
    for error in errors:
        entry: dict[str, Any] = {
            "file": error.location.file,
            "line": error.location.line,
            "column": error.location.column,
            "message": error.message,
        }
        if error.path:
            entry["path"] = format_path(error.path)
        found.append(entry)
    return {**empty.to_dict(), "errors": found}


def make_plan(
    base: Compiled | None,
    head: Compiled,
    base_pricing: Pricing | None = None,
    head_pricing: Pricing | None = None,
    head_warnings: list[Diagnostic] | None = None,
    simulations: list[dict[str, Any]] | None = None,
    policies: Policies | None = None,
    base_findings: list[Finding] | None = None,
) -> Plan:
    """`policies`: the head's (for the plan's own rules: `serving_removals`);
    `base_findings`: what the plan should say of its base (`iac.diff.base`: a base that
    could only be read in part; with `--base live`, what the cluster lacks,
    `iac.preflight`)."""
    events = lifecycle_events(base.release if base else None, head.release)
    objects = joined(
        diff_objects(base.objects if base else [], head.objects),
        diff_cloud(base.cloud if base else [], head.cloud),
    )
    events = with_restarts(events, objects, head)
    rollouts = promotion_rollouts(events, head)
    found = findings(base, head, events, objects, rollouts, policies)
    found.extend(access_findings(base, head, policies or Policies()))
    endpoints = endpoint_changes(base.release if base else None, head.release)
    found.extend(endpoint_findings(endpoints))
    found.extend(from_diagnostic(d) for d in head_warnings or [])
    found.extend(base_findings or [])
    found = chain_findings(found, base.release if base else None, head.release)
    order = {"error": 0, "warning": 1, "info": 2}
    found.sort(key=lambda f: (order[f.level], f.about or "", f.id, f.message))
    cost = _cost(
        release_cost(base.release, base_pricing) if base else [],
        release_cost(head.release, head_pricing),
        _chainlets(base.release if base else None, head.release),
    )
    # Reported: a chain's lifecycle as one event each (the findings and rollouts above are
    # the chainlets', as models).
    reported = chain_events(events, base.release if base else None, head.release)
    # A chain's promotion is one rollout: `iac up` moves its chainlets in the same stages.
    staged = chain_rollouts(rollouts, head.release)
    return Plan(reported, found, objects, cost, staged, endpoints, simulations or [])


RESTARTING_KINDS = ("image", "resources", "container")
"""Events of what runs in the pods: `iac plan` says whether each restarts them."""


def with_restarts(events: list[Event], objects: ObjectDiff, head: Compiled) -> list[Event]:
    """`events` with `restarts` on each change of what runs in a deployment's pods: true
    when its Deployment's pod template changes while it is active (Kubernetes then replaces
    every pod, one at a time: iac.compile.serving.workload's rolling update), false when only other
    objects change (a PodMonitor) or no pod runs (inactive)."""
    if not any(event["kind"] in RESTARTING_KINDS for event in events):
        return events
    namespace = head.release.cluster.namespace
    templates = {
        change.id
        for change in objects.changed
        if any(path.startswith("spec.template.") for path in change.paths)
    }
    found = []
    for event in events:
        if event["kind"] in RESTARTING_KINDS:
            deployment = head.release.models[event["model"]].deployments[event["deployment"]]
            workload = object_id(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": deployment.object_name, "namespace": namespace},
                }
            )
            event = {**event, "restarts": deployment.active and workload in templates}
        found.append(event)
    return found


def promotion_rollouts(events: list[Event], head: Compiled) -> list[RolloutPlan]:
    """The rollout of each promotion among `events` (what `iac up` stages, and what the
    Pulumi program stages for a rolling one).

    A deployment the change deletes cannot serve through the steps (the head has no
    objects for it): a promotion away from one moves all the traffic at once, once the
    candidate is ready, and the plan says so where the environment asks for rolling steps.
    """
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
        # Out of a split: the candidate starts from its share, the others leave.
        from_traffic = tuple(traffic["from"].items()) if traffic else ()
        leaving = [n for n, _ in from_traffic if n != candidate.name] or [event["from"]]
        deleted = [name for name in leaving if name and name not in model.deployments]
        promotion = env.promotion
        if deleted and promotion.strategy == "rolling":
            promotion = promotion.model_copy(update={"strategy": "immediate"})
        rollout = plan_rollout(
            model.name,
            env.name,
            event["from"],
            candidate.name,
            promotion,
            candidate.autoscaling.min_replicas,
            from_traffic,
        )
        if promotion is not env.promotion and any(s.action == "shift" for s in rollout.steps):
            rollout = replace(
                rollout,
                note=f"{' and '.join(deleted)} {'is' if len(deleted) == 1 else 'are'} deleted "
                "by this change, so cannot serve through rolling steps: all the traffic moves "
                f"to {candidate.name} at once, once it is ready",
            )
        plans.append(rollout)
    return plans


def _chainlets(base: Release | None, head: Release) -> dict[str, ChainMember]:
    """Each chainlet's model, by name, in either release."""
    models = {**(base.models if base else {}), **head.models}
    return {name: m.chain for name, m in models.items() if m.chain is not None}


def _cost(
    base: list[CostLine], head: list[CostLine], chainlets: Mapping[str, ChainMember]
) -> dict[str, Any]:
    """`cost` of the plan's JSON: totals, each (model, environment) line that changes (a
    chainlet's with its `chain` and `chainlet`), and `chains` (`iac.diff.chain_cost`)."""

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
        member = chainlets.get(key[0])
        if member is not None:
            entry.update(chain=member.chain, chainlet=member.chainlet)
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
        "chains": chain_costs(base, head, chainlets),
    }

"""Findings: what a reviewer should know about a change, with stable IDs and levels.

IDs are stable so that CI rules and suppressions can name them. Levels: `error` fails the
plan, `warning` asks for attention, `info` explains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from iac.compile import Compiled
from iac.compile.release import DeploymentRelease, Release
from iac.compile.scaling import COLD_NODE_SECONDS
from iac.diagnostics import Diagnostic, Severity
from iac.diff.events import Event
from iac.diff.objects import ObjectDiff
from iac.rollout.planner import RolloutPlan
from iac.spec.types import format_duration, parse_accelerator

LEVELS = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    level: str
    message: str
    model: str | None = None
    environment: str | None = None
    deployment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"id": self.id, "level": self.level, "message": self.message}
        for key in ("model", "environment", "deployment"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found


_CODE = re.compile(r"\s*\[([a-z0-9-]+)\]$")


def from_diagnostic(diagnostic: Diagnostic) -> Finding:
    """A compile warning (`... [pool-cap-below-demand]`) as a finding."""
    match = _CODE.search(diagnostic.message)
    code = match.group(1) if match else "compile-warning"
    message = _CODE.sub("", diagnostic.message)
    level = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(diagnostic.severity, "info")
    model = str(diagnostic.path[1]) if diagnostic.path[:1] == ("models",) else None
    return Finding(code, level, f"{diagnostic.location}: {message}", model)


def findings(
    base: Compiled | None,
    head: Compiled,
    events: list[Event],
    objects: ObjectDiff,
    rollouts: list[RolloutPlan],
) -> list[Finding]:
    found: list[Finding] = []
    created = {(e["model"], e["deployment"]) for e in events if e["kind"] == "create_deployment"}
    for event in events:
        if event["kind"] == "delete_deployment" and base is not None:
            served = _serving(base.release, event["model"], event["deployment"])
            if served:
                found.append(
                    Finding(
                        "delete-serving-deployment",
                        "error",
                        f"{event['deployment']} serves {served} before this change and is deleted "
                        "by it: if the new deployment fails there is nothing to roll back to. "
                        "Promote first; delete in a later change",
                        event["model"],
                        served,
                        event["deployment"],
                    )
                )
        elif event["kind"] == "promote":
            found.extend(_promotion_findings(event, head.release, created))
        elif event["kind"] == "resources":
            accelerator = event["changes"].get("accelerator")
            if accelerator and _kind(accelerator["from"]) != _kind(accelerator["to"]):
                found.append(
                    Finding(
                        "gpu-type-change",
                        "warning",
                        f"{event['deployment']} moves from {accelerator['from'] or 'CPU'} to "
                        f"{accelerator['to'] or 'CPU'}: every pod is rescheduled onto other "
                        "nodes and reloads its model. A new deployment promoted in its place "
                        "keeps serving while that happens",
                        event["model"],
                        None,
                        event["deployment"],
                    )
                )
    touched = {(e["model"], e.get("environment")) for e in events}
    for model in head.release.models.values():
        env = model.environments.get("production")
        if env is None:
            continue
        for name, weight in env.traffic:
            if weight == 0:
                continue  # dark: production sends it nothing
            deployment = model.deployments.get(name)
            cold = deployment and deployment.active and deployment.autoscaling.min_replicas == 0
            was_cold = base is not None and _cold_production(base.release, model.name)
            # Said when this change makes or touches it, not on every plan of the stack.
            if cold and (not was_cold or (model.name, "production") in touched):
                found.append(
                    Finding(
                        "production-min-zero",
                        "warning",
                        f"production of {model.name} may scale to zero: the first request after "
                        "an idle spell waits for a cold start. Set min_replicas ≥ 1 (Baseten "
                        "recommends 2)",
                        model.name,
                        "production",
                        name,
                    )
                )
    found.extend(_surge_findings(head.release, rollouts))
    found.extend(_gateway_timeout_findings(head.release))
    for change in objects.changed:
        if change.replaced_by:
            found.append(
                Finding(
                    "replace-object",
                    "warning",
                    f"{change.id} is replaced (deleted, then created) because "
                    f"{', '.join(change.replaced_by)} cannot change in place",
                )
            )
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(found, key=lambda f: (order[f.level], f.model or "", f.id, f.message))


def _gateway_timeout_findings(head: Release) -> list[Finding]:
    """A request that wakes a deployment from zero waits for the whole cold start; a Gateway
    that gives up sooner turns every wake-up into an error."""
    timeout = head.cluster.gateway_timeout
    if timeout is None:
        return []
    found = []
    for model in head.models.values():
        for deployment in model.deployments.values():
            budget = deployment.health.startup_timeout + COLD_NODE_SECONDS
            if deployment.active and deployment.autoscaling.min_replicas == 0 and budget > timeout:
                found.append(
                    Finding(
                        "cold-start-exceeds-gateway-timeout",
                        "warning",
                        f"{deployment.name} may scale to zero, and waking it can take up to "
                        f"{format_duration(budget)} (node, image, startup budget), but the "
                        f"Gateway gives up after {format_duration(timeout)}: keep min_replicas "
                        "≥ 1, keep warm capacity, or raise the Gateway's timeout",
                        model.name,
                        deployment.environment,
                        deployment.name,
                    )
                )
    return found


def _cold_production(release: Release, model_name: str) -> bool:
    model = release.models.get(model_name)
    env = model.environments.get("production") if model else None
    if model is None or env is None:
        return False
    return any(
        model.deployments[name].autoscaling.min_replicas == 0
        for name, weight in env.traffic
        if weight > 0 and name in model.deployments
    )


def _kind(accelerator: str | None) -> str | None:
    return parse_accelerator(accelerator)[0] if accelerator else None


def _serving(release: Release, model: str, deployment: str) -> str | None:
    found = release.models.get(model)
    item = found.deployments.get(deployment) if found else None
    return item.environment if item else None


def _promotion_findings(
    event: Event, head: Release, created: set[tuple[str, str]]
) -> list[Finding]:
    model, env_name = event["model"], event["environment"]
    found = []
    target = event["to"]
    if target and (model, target) in created:
        found.append(
            Finding(
                "promote-new-deployment",
                "info",
                f"{target} is new in this change and has never been ready: the rollout waits "
                f"for it before moving {env_name}'s traffic",
                model,
                env_name,
                target,
            )
        )
    release_model = head.models[model]
    env = release_model.environments.get(env_name)
    if env is None:
        return found
    # Out of a split, the environment's cleanup applies to every side that leaves it.
    traffic = event.get("changes", {}).get("traffic")
    before = list(traffic["from"] or {}) if traffic else [event["from"]]
    for previous in before:
        old = release_model.deployments.get(previous) if previous else None
        if old is not None and previous != target and old.environment != env_name:
            found.extend(_cleanup_findings(model, env_name, env.promotion.cleanup, old))
    return found


def _cleanup_findings(
    model: str, env_name: str, cleanup: str, old: DeploymentRelease
) -> list[Finding]:
    """Whether a deployment that stopped serving `env_name` is left as its cleanup says."""
    previous = old.name
    expected = {
        "deactivate": ("inactive", "set `state: inactive` on it (or run `iac promote`)"),
        "scale_to_zero": ("active", "leave it active; it scales to zero on its own"),
        "keep": ("active", "leave it active"),
    }[cleanup]
    if old.state != expected[0]:
        return [
            Finding(
                "cleanup-policy-mismatch",
                "warning",
                f"{env_name}'s cleanup is `{cleanup}`, but {previous} is left {old.state}: "
                f"{expected[1]}",
                model,
                env_name,
                previous,
            )
        ]
    if cleanup == "scale_to_zero" and old.autoscaling.min_replicas > 0:
        return [
            Finding(
                "cleanup-policy-mismatch",
                "warning",
                f"{env_name}'s cleanup is `scale_to_zero`, but {previous} keeps "
                f"min_replicas {old.autoscaling.min_replicas}: set it to 0 (or run `iac promote`)",
                model,
                env_name,
                previous,
            )
        ]
    return []


def _surge_findings(head: Release, rollouts: list[RolloutPlan]) -> list[Finding]:
    pools = {pool.name: pool for pool in head.pools}
    limits: dict[str, int] = {}  # a pool's limit sums its whole demand: once per pool
    found = []
    for rollout in rollouts:
        model = head.models[rollout.model]
        candidate = model.deployments.get(rollout.candidate)
        if candidate is not None and candidate.node_pool in pools:
            pool = pools[candidate.node_pool]
            resources = candidate.container.resources
            count = parse_accelerator(resources.accelerator or "")[1] if resources else 0
            needed = rollout.peak_replicas * count
            if pool.name not in limits:
                limits[pool.name] = pool.limit_devices
            if needed > limits[pool.name]:
                found.append(
                    Finding(
                        "surge-exceeds-pool-cap",
                        "warning",
                        f"promoting {rollout.candidate} into {rollout.environment} needs up to "
                        f"{needed} GPUs at once in pool {pool.name}, which may hold "
                        f"{limits[pool.name]}: the rollout stalls waiting for capacity",
                        model.name,
                        rollout.environment,
                        rollout.candidate,
                    )
                )
    return found

"""Findings of deployments that may scale to zero where that costs a request its answer:
production waiting for a cold start, a Gateway giving up before a wake-up ends."""

from __future__ import annotations

from iac.compile import Compiled
from iac.compile.release import ModelRelease, Release
from iac.compile.serving.scaling import COLD_NODE_SECONDS
from iac.diagnostics import Severity
from iac.diff.events import Event
from iac.diff.finding import Finding
from iac.spec.types import format_duration

MIN_REPLICAS: tuple[str, ...] = ("autoscaling", "min_replicas")
"""The setting that keeps a deployment from zero, under its environment."""


def production_min_zero(
    base: Compiled | None, head: Compiled, events: list[Event]
) -> list[Finding]:
    """Production served by a deployment that may scale to zero; said when this change
    makes or touches it, not on every plan of the stack. `events`: per model (a chain's
    chainlets each have theirs), as `iac.diff.events` finds them."""
    found = []
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
            if cold and (not was_cold or (model.name, "production") in touched):
                found.append(_cold_production_finding(model, name))
    return found


def _cold_production_finding(model: ModelRelease, deployment: str) -> Finding:
    member = model.chain
    if member is None:
        return Finding(
            "production-min-zero",
            Severity.WARNING,
            f"production of {model.name} may scale to zero: the first request after an idle "
            "spell waits for a cold start. Set min_replicas ≥ 1 (Baseten recommends 2)",
            model.name,
            "production",
            deployment,
            setting=MIN_REPLICAS,
        )
    where = f"chains.{member.chain}.environments.production.autoscaling.{member.chainlet}"
    waits = (
        "the first request after an idle spell waits for its cold start"
        if member.entrypoint
        else "a request that calls it after an idle spell waits for its cold start"
    )
    return Finding(
        "production-min-zero",
        Severity.WARNING,
        f"production of chain {member.chain} may scale to zero at chainlet {member.chainlet}: "
        f"{waits}. Set `min_replicas: 1` or more in `{where}` (Baseten recommends 2)",
        model.name,
        "production",
        deployment,
        chain=member.chain,
        chainlet=member.chainlet,
        setting=MIN_REPLICAS,
    )


def gateway_timeout_findings(head: Release) -> list[Finding]:
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
                        Severity.WARNING,
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

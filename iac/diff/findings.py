"""Findings: what a reviewer should know about a change (`iac.diff.finding`), found.

IDs are stable so that CI rules and suppressions can name them. Levels: `error` fails the
plan, `warning` asks for attention, `info` explains.
"""

from __future__ import annotations

from dataclasses import replace

from iac.compile import Compiled
from iac.compile.release import DeploymentRelease, EnvironmentRelease, ModelRelease, Release
from iac.diagnostics import Severity
from iac.diff.events import Event
from iac.diff.finding import Finding, from_diagnostic
from iac.diff.objects import ObjectDiff
from iac.diff.scale_to_zero import gateway_timeout_findings, production_min_zero
from iac.rollout.planner import RolloutPlan
from iac.spec.policies import Policies, Waiver
from iac.spec.types import parse_accelerator

LEVELS = (Severity.ERROR, Severity.WARNING, Severity.INFO)

__all__ = ["LEVELS", "Finding", "findings", "from_diagnostic", "removal_findings"]


def findings(
    base: Compiled | None,
    head: Compiled,
    events: list[Event],
    objects: ObjectDiff,
    rollouts: list[RolloutPlan],
    policies: Policies | None = None,
) -> list[Finding]:
    """What a reviewer should know of the change; `policies` are the head's (the level of
    `serving-removals` findings, and their waivers)."""
    found: list[Finding] = []
    created = {(e["model"], e["deployment"]) for e in events if e["kind"] == "create_deployment"}
    if base is not None:
        found.extend(removal_findings(base, head, events, policies or Policies()))
    for event in events:
        if event["kind"] == "promote":
            found.extend(_promotion_findings(event, head.release, created))
        elif event["kind"] == "resources":
            found.extend(_gpu_type_change(event))
    found.extend(production_min_zero(base, head, events))
    found.extend(_surge_findings(head.release, rollouts))
    found.extend(gateway_timeout_findings(head.release))
    for change in objects.changed:
        if change.replaced_by:
            found.append(
                Finding(
                    "replace-object",
                    Severity.WARNING,
                    f"{change.id} is replaced (deleted, then created) because "
                    f"{', '.join(change.replaced_by)} cannot change in place",
                )
            )
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(found, key=lambda f: (order[f.level], f.about or "", f.id, f.message))


def _gpu_type_change(event: Event) -> list[Finding]:
    """A deployment moving to another kind of GPU (or to or from CPU): every pod moves."""
    accelerator = event["changes"].get("accelerator")
    if not accelerator or _kind(accelerator["from"]) == _kind(accelerator["to"]):
        return []
    return [
        Finding(
            "gpu-type-change",
            Severity.WARNING,
            f"{event['deployment']} moves from {accelerator['from'] or 'CPU'} to "
            f"{accelerator['to'] or 'CPU'}: every pod is rescheduled onto other "
            "nodes and reloads its model. A new deployment promoted in its place "
            "keeps serving while that happens",
            event["model"],
            None,
            event["deployment"],
        )
    ]


def _kind(accelerator: str | None) -> str | None:
    return parse_accelerator(accelerator)[0] if accelerator else None


SERVING_REMOVALS = "serving-removals"
"""The policy rule (`policies.serving_removals`) that sets the level of removal findings."""

_CLEANUP_DONE = {
    "scale_to_zero": "scales to zero",
    "keep": "keeps running",
    "deactivate": "is deactivated",
}
"""What an environment's cleanup does to the deployment a promotion replaces."""


def removal_findings(
    base: Compiled, head: Compiled, events: list[Event], policies: Policies
) -> list[Finding]:
    """Removals of what serves an environment, each naming the endpoint that stops
    answering: a model (`delete-serving-model`), an environment (`delete-environment`), a
    side of a split (`delete-split-deployment`), at the level `policies.serving_removals`
    sets (a warning by default); and the deletion of the one deployment an environment had
    (`delete-serving-deployment`, an error: there is nothing left to roll back to)."""
    rule = policies.serving_removals
    level = Severity(rule.level)
    found: list[Finding] = []
    promotions = {(e["model"], e["environment"]): e for e in events if e["kind"] == "promote"}
    for event in events:
        kind, model = event["kind"], event["model"]
        before = base.release.models.get(model) if model else None
        after = head.release.models.get(model) if model else None
        if before is None:
            continue
        if kind == "delete_model":
            found.extend(_model_removed(before, head, level))
        elif kind == "delete_environment" and after is not None:
            found.append(_environment_removed(before, after, event["environment"], level))
        elif kind == "delete_deployment" and after is not None:
            old = before.deployments[event["deployment"]]
            env = before.environments.get(old.environment or "")
            if env is None or env.name not in after.environments or old.dark:
                continue  # serves nothing, or its environment goes too (said of it)
            serving = [name for name, weight in env.traffic if weight > 0]
            if serving == [old.name]:
                found.append(
                    _serving_deployment_deleted(
                        before, after, old, promotions.get((model, env.name))
                    )
                )
            else:
                found.append(_split_side_removed(before, after, old, env, level))
    if not rule.enabled:
        found = [f for f in found if f.id == "delete-serving-deployment"]
    return [_waived(f, policies.waivers) for f in found]


def _model_removed(before: ModelRelease, head: Compiled, level: Severity) -> list[Finding]:
    """`delete-serving-model`: the environments' URLs that stop answering (a rename that
    keeps them loses none)."""
    renamed = next((name for name, old in head.model_aliases.items() if before.name in old), None)
    after = head.release.models.get(renamed) if renamed else None
    kept = {after.endpoints.environment_url(env) for env in after.environments} if after else set()
    lost = [
        (env, before.endpoints.environment_url(env))
        for env in sorted(before.environments)
        if before.endpoints.environment_url(env) not in kept
    ]
    if not lost:
        return []
    endpoints = _endpoints(lost)
    if renamed:
        what = (
            f"{before.name} is renamed {renamed} (`previous_names`), and {endpoints} "
            f"{'answers' if len(lost) == 1 else 'answer'} 404 once this is applied: "
            f"{renamed} answers on {_urls(after, [env for env, _ in lost])}. Update the "
            "clients first, or keep the old host (the model's `hostname`)"
        )
    else:
        what = (
            f"{before.name} is removed with {endpoints}, which "
            f"{'answers' if len(lost) == 1 else 'answer'} 404 once this is applied. Move the "
            "clients first, or keep the model"
        )
    environment = lost[0][0] if len(lost) == 1 else None
    return [Finding("delete-serving-model", level, what, before.name, environment)]


def _endpoints(lost: list[tuple[str, str]]) -> str:
    """`the endpoint of production (URL)`, `the endpoints of production (URL) and staging
    (URL)`."""
    named = [f"{env} ({url})" for env, url in lost]
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return f"the endpoint{'s' if len(lost) > 1 else ''} of {listed}"


def _urls(model: ModelRelease | None, environments: list[str]) -> str:
    if model is None:
        return "other URLs"
    found = [
        model.endpoints.environment_url(env) for env in environments if env in model.environments
    ]
    return ", ".join(found) if found else "other URLs"


def _environment_removed(
    before: ModelRelease, after: ModelRelease, name: str, level: Severity
) -> Finding:
    """`delete-environment`: its URL stops answering; what becomes of who served it."""
    env = before.environments[name]
    fates = []
    for deployment, _ in env.traffic:
        kept = after.deployments.get(deployment)
        if kept is None:
            fates.append(f"{deployment}, which served it, is deleted too")
        elif kept.environment is None and kept.routed:
            fates.append(
                f"{deployment}, which served it, keeps its own URL "
                f"{after.endpoints.deployment_url(deployment)}"
            )
    fate = f" ({'; '.join(fates)})" if fates else ""
    return Finding(
        "delete-environment",
        level,
        f"the {name} environment of {before.name} is removed: its endpoint "
        f"{before.endpoints.environment_url(name)} answers 404 once this is applied{fate}. "
        "Move its clients first, or keep the environment",
        before.name,
        name,
    )


def _serving_deployment_deleted(
    before: ModelRelease, after: ModelRelease, old: DeploymentRelease, promote: Event | None
) -> Finding:
    """`delete-serving-deployment`: the environment's only deployment is deleted in the
    change that replaces it, so nothing is left to go back to."""
    env_name = old.environment or ""
    env = after.environments[env_name]
    candidate = (promote or {}).get("to") or "its replacement"
    takes = f"{candidate} takes all of {env_name}'s traffic once ready"
    if env.promotion.strategy == "rolling":
        takes += " (at once, not in rolling steps: a deleted deployment cannot serve them)"
    gone = (
        f"its pods go and its URL {before.endpoints.deployment_url(old.name)} answers 404"
        if old.routed
        else "its objects go"
    )
    return Finding(
        "delete-serving-deployment",
        Severity.ERROR,
        f"{old.name} serves {env_name} before this change and is deleted by it: {takes}, "
        f"then {old.name} is deleted ({gone}), leaving nothing to roll back to if "
        f"{candidate} misbehaves. Promote first ({old.name} then "
        f"{_CLEANUP_DONE[env.promotion.cleanup]}, {env_name}'s cleanup) and delete it in a "
        "later change",
        before.name,
        env_name,
        old.name,
    )


def _split_side_removed(
    before: ModelRelease,
    after: ModelRelease,
    old: DeploymentRelease,
    env: EnvironmentRelease,
    level: Severity,
) -> Finding:
    """`delete-split-deployment`: a side of a split goes; the others take its share."""
    now = [(name, weight) for name, weight in after.environments[env.name].traffic if weight]
    shares = (
        f"all of {env.name}'s requests go to {now[0][0]}"
        if len(now) == 1
        else f"{env.name}'s requests go to " + " / ".join(f"{n} {w} %" for n, w in now)
    )
    url = (
        f", and {old.name}'s own URL {before.endpoints.deployment_url(old.name)} answers 404 "
        "once this is applied"
        if old.routed
        else ""
    )
    return Finding(
        "delete-split-deployment",
        level,
        f"{old.name} gets {old.weight} % of {env.name}'s requests before this change and is "
        f"deleted by it: {shares} at once (its endpoint keeps answering){url}",
        before.name,
        env.name,
        old.name,
    )


def _waived(finding: Finding, waivers: list[Waiver]) -> Finding:
    """A removal a waiver of `serving-removals` covers: a note with its reason."""
    if finding.id == "delete-serving-deployment":
        return finding
    for waiver in waivers:
        if waiver.rule == SERVING_REMOVALS and all(
            getattr(waiver, key) is None or getattr(waiver, key) == getattr(finding, key)
            for key in ("model", "environment", "deployment")
        ):
            return replace(
                finding, level=Severity.INFO, message=f"waived ({waiver.reason}): {finding.message}"
            )
    return finding


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
                Severity.INFO,
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
                Severity.WARNING,
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
                Severity.WARNING,
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
                        Severity.WARNING,
                        f"promoting {rollout.candidate} into {rollout.environment} needs up to "
                        f"{needed} GPUs at once in pool {pool.name}, which may hold "
                        f"{limits[pool.name]}: the rollout stalls waiting for capacity",
                        model.name,
                        rollout.environment,
                        rollout.candidate,
                    )
                )
    return found

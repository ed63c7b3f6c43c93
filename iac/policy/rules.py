"""The rules: small pure functions over deployment facts, one per policy.

Each takes the facts, its configuration and the shared context, and returns violations.
A violation names the model / environment / deployment and the setting to change (`field`,
a key path under the deployment or environment), so callers can point at the line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iac.catalog import catalog
from iac.compile.capacity.pricing import HOURS_PER_MONTH
from iac.compile.quantity import memory_bytes
from iac.compile.release.split import floor_giving
from iac.diagnostics import Severity
from iac.policy.facts import DeploymentFacts
from iac.rollout.planner import plan_rollout
from iac.spec import policies as p
from iac.spec.types import format_duration, parse_accelerator

VRAM_HEADROOM = 0.9
"""Share of accelerator memory weights may take: the rest is KV cache, activations and the
CUDA context."""


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    level: Severity
    message: str
    fix: str
    model: str | None = None
    environment: str | None = None
    deployment: str | None = None
    field: tuple[str, ...] = ()
    """Key path of the setting to change, under the deployment (or, with no deployment,
    under the environment; with neither, from the top of the stack file)."""
    waived: str | None = None
    """The waiver's reason, when a waiver covers it."""


@dataclass(frozen=True, slots=True)
class Context:
    price: Callable[[DeploymentFacts], float | None]
    """A deployment → USD per accelerator-hour (a MIG slice its share) of its replicas on
    its pool's machines, None when unpriced or CPU only."""
    ceilings: Callable[[], Mapping[str | None, float]] | None = None
    """USD per month at max replicas by environment, exactly as `iac cost` counts it, with
    what serves no environment (deployments of none, capacity kept warm, whole nodes beyond
    the replicas' GPUs) under None; None where only the objects are known (the policy
    pack), and the rules price the facts instead."""


RuleFunction = Callable[[Sequence[DeploymentFacts], Any, Context], list[Violation]]


def _violation(rule: str, config: p.Rule, message: str, fix: str, **where: Any) -> Violation:
    return Violation(rule, Severity(config.level), message, fix, **where)


def allowed_accelerators(
    facts: Sequence[DeploymentFacts], config: p.AllowedAccelerators, context: Context
) -> list[Violation]:
    allowed = {
        env: {parse_accelerator(a)[0] for a in kinds} for env, kinds in config.environments.items()
    }
    found = []
    for f in facts:
        if f.active and f.environment in allowed and f.accelerator:
            permitted = allowed[f.environment]
            if f.accelerator not in permitted:
                found.append(
                    _violation(
                        "allowed-accelerators",
                        config,
                        f"{f.deployment} serves {f.environment} on {f.accelerator}, but "
                        f"{f.environment} allows only {', '.join(sorted(permitted))}",
                        f"use one of {', '.join(sorted(permitted))}",
                        model=f.model,
                        environment=f.environment,
                        deployment=f.deployment,
                        field=("resources", "accelerator"),
                    )
                )
    return found


def gpu_quota(
    facts: Sequence[DeploymentFacts], config: p.GpuQuota, context: Context
) -> list[Violation]:
    per_model: dict[str, int] = defaultdict(int)
    per_pool: dict[str, int] = defaultdict(int)
    for f in facts:
        if f.active and f.accelerator:
            per_model[f.model] += f.max_replicas * f.units
            if f.node_pool:
                per_pool[f.node_pool] += f.max_replicas * f.units
    found = []
    if config.per_model is not None:
        for model, gpus in sorted(per_model.items()):
            if gpus > config.per_model:
                found.append(
                    _violation(
                        "gpu-quota",
                        config,
                        f"{model} may use {gpus} GPUs at max replicas; the quota is "
                        f"{config.per_model} per model",
                        "lower max_replicas, or raise policies.gpu_quota.per_model",
                        model=model,
                    )
                )
    for pool, quota in sorted((config.per_pool or {}).items()):
        if per_pool.get(pool, 0) > quota:
            found.append(
                _violation(
                    "gpu-quota",
                    config,
                    f"pool {pool} may be asked for {per_pool[pool]} GPUs at max replicas; the "
                    f"quota is {quota}",
                    "lower max_replicas of its deployments, or raise the quota",
                    field=("policies", "gpu_quota", "per_pool", pool),
                )
            )
    return found


def budget(facts: Sequence[DeploymentFacts], config: p.Budget, context: Context) -> list[Violation]:
    """The stack's ceiling (what `iac cost` totals: with whole nodes and warm capacity where
    the release is known) against `monthly`, each environment's replicas against its own."""
    by_env: dict[str, float] = defaultdict(float)
    if context.ceilings is not None:
        ceilings = context.ceilings()
        total = sum(ceilings.values())
        by_env.update({env: value for env, value in ceilings.items() if env is not None})
    else:
        total = 0.0
        for f in facts:
            if f.active and f.accelerator:
                hourly = context.price(f)
                if hourly is not None:
                    monthly = f.max_replicas * f.units * hourly * HOURS_PER_MONTH
                    total += monthly
                    if f.environment:
                        by_env[f.environment] += monthly
    found = []
    if config.monthly is not None and total > config.monthly:
        found.append(
            _violation(
                "budget",
                config,
                f"at max replicas the stack costs ${total:,.0f} a month, over its budget of "
                f"${config.monthly:,.0f}",
                "lower max_replicas, use cheaper accelerators, or raise the budget",
                field=("policies", "budget", "monthly"),
            )
        )
    for env, ceiling in sorted((config.environments or {}).items()):
        if by_env.get(env, 0.0) > ceiling:
            found.append(
                _violation(
                    "budget",
                    config,
                    f"at max replicas {env} costs ${by_env[env]:,.0f} a month, over its budget "
                    f"of ${ceiling:,.0f}",
                    "lower max_replicas there, or raise the budget",
                    field=("policies", "budget", "environments", env),
                )
            )
    return found


def min_replicas(
    facts: Sequence[DeploymentFacts], config: p.MinReplicas, context: Context
) -> list[Violation]:
    return [
        _violation(
            "min-replicas",
            config,
            f"{f.environment} of {f.model} runs {f.min_replicas} replica(s) at least"
            f"{_side(f)}; the policy asks for {config.min}",
            _min_replicas_fix(f, config.min),
            model=f.model,
            environment=f.environment,
            deployment=f.deployment,
            field=("autoscaling", "min_replicas"),
        )
        for f in facts
        if f.active
        and not f.dark
        and f.environment == config.environment
        and f.min_replicas < config.min
    ]


def _side(f: DeploymentFacts) -> str:
    """` on v4, which gets 10 % of its requests` for a side of a split; nothing alone."""
    if len(f.traffic) < 2:
        return ""
    return f" on {f.deployment}, which gets {dict(f.traffic)[f.deployment]} % of its requests"


def _min_replicas_fix(f: DeploymentFacts, wanted: int) -> str:
    """What to set so that this deployment keeps `wanted` replicas. A side of a split keeps
    its weight's share of the environment's min_replicas (iac.compile.release.split): the hint names
    the environment's floor that gives it enough, and the ways out."""
    floor = floor_giving(f.deployment, wanted, f.traffic) if len(f.traffic) > 1 else None
    if floor is None:
        return f"set min_replicas: {wanted} on the environment"
    return (
        f"set min_replicas: {floor} on the environment (and max_replicas ≥ {floor}), as each "
        f"side of a split keeps its weight's share of it; or give {f.deployment} more weight, "
        "or end the split"
    )


def no_scale_to_zero(
    facts: Sequence[DeploymentFacts], config: p.NoScaleToZero, context: Context
) -> list[Violation]:
    return [
        _violation(
            "no-scale-to-zero",
            config,
            f"{f.environment} of {f.model} may scale to zero: its first request after an idle "
            "spell waits for a cold start",
            "set min_replicas ≥ 1 on the environment",
            model=f.model,
            environment=f.environment,
            deployment=f.deployment,
            field=("autoscaling", "min_replicas"),
        )
        for f in facts
        if f.active and not f.dark and f.environment in config.environments and f.min_replicas == 0
    ]


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_tag(image: str) -> str | None:
    """`repo:5000/a/b:1.2@sha256:…` → `1.2`; None when the image names no tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def pinned_images(
    facts: Sequence[DeploymentFacts], config: p.PinnedImages, context: Context
) -> list[Violation]:
    found = []
    for f in facts:
        has_digest = bool(_DIGEST.search(f.image))
        tag = image_tag(f.image)
        problem = None
        if config.require_digest and not has_digest:
            problem = "names no digest (tags can be moved to other builds)"
        elif not has_digest and tag in (None, "latest"):
            problem = "is not pinned: `latest` (or no tag) changes under you"
        if problem:
            found.append(
                _violation(
                    "pinned-images",
                    config,
                    f"image {f.image} of {f.deployment} {problem}",
                    "name a version tag, or better a digest (`image@sha256:…`)",
                    model=f.model,
                    deployment=f.deployment,
                    field=("image",),
                )
            )
    return found


def resources_declared(
    facts: Sequence[DeploymentFacts], config: p.ResourcesDeclared, context: Context
) -> list[Violation]:
    found = []
    for f in facts:
        missing = [name for name, value in (("cpu", f.cpu), ("memory", f.memory)) if value is None]
        if f.from_stack and f.active and missing:
            found.append(
                _violation(
                    "resources-declared",
                    config,
                    f"{f.deployment} declares no {' or '.join(missing)}: the defaults (1 CPU, "
                    "2Gi) rarely fit a model server",
                    "set resources.cpu and resources.memory",
                    model=f.model,
                    deployment=f.deployment,
                    field=("resources",),
                )
            )
    return found


def weights_fit(
    facts: Sequence[DeploymentFacts], config: p.WeightsFit, context: Context
) -> list[Violation]:
    found = []
    for f in facts:
        if not (f.from_stack and f.weights_size and f.accelerator):
            continue
        total_gib = catalog().accelerators[f.accelerator].memory_gib * f.units
        if memory_bytes(f.weights_size) / 2**30 > total_gib * VRAM_HEADROOM:
            found.append(
                _violation(
                    "weights-fit",
                    config,
                    f"weights of {f.weights_size} do not fit {f.units}× {f.accelerator} "
                    f"({total_gib} GiB, of which about {VRAM_HEADROOM:.0%} can hold weights)",
                    "use more or larger accelerators, or a quantized model",
                    model=f.model,
                    deployment=f.deployment,
                    field=("weights_size",),
                )
            )
    return found


def rolling_promotion(
    facts: Sequence[DeploymentFacts], config: p.RollingPromotion, context: Context
) -> list[Violation]:
    seen = set()
    found = []
    for f in facts:
        key = (f.model, f.environment)
        if f.from_stack and f.environment in config.environments and key not in seen:
            seen.add(key)
            if f.promotion_strategy != "rolling":
                found.append(
                    _violation(
                        "rolling-promotion",
                        config,
                        f"{f.environment} of {f.model} promotes all at once "
                        f"(`strategy: {f.promotion_strategy}`)",
                        "set promotion: {strategy: rolling, max_surge_percent: 25}",
                        model=f.model,
                        environment=f.environment,
                        field=("promotion", "strategy"),
                    )
                )
    return found


def rollout_keeps_ready(
    facts: Sequence[DeploymentFacts], config: p.RolloutKeepsReady, context: Context
) -> list[Violation]:
    serving: dict[tuple[str, str], list[DeploymentFacts]] = defaultdict(list)
    for f in facts:
        if f.from_stack and f.active and f.environment and f.promotion is not None:
            serving[(f.model, f.environment)].append(f)
    found = []
    for (model, environment), (f, *split) in sorted(serving.items()):
        # A split is moved by hand, weight by weight; the promotion that ends it is planned
        # (and judged) when the environment names one deployment again.
        if split or f.promotion is None or f.promotion.strategy != "rolling":
            continue
        plan = plan_rollout(
            model, environment, "previous", f.deployment, f.promotion, f.min_replicas
        )
        empty = [i for i, step in enumerate(plan.steps, 1) if step.ready_replicas == 0]
        if empty:
            found.append(
                _violation(
                    "rollout-keeps-ready",
                    config,
                    f"a rolling promotion into {environment} of {model} leaves it no ready "
                    f"replica in step {empty[0]}, for a whole cold start of the new "
                    f"deployment: {plan.note}",
                    "remove allow_unavailable (a surge replica is then added), raise "
                    "min_replicas, or waive this with a reason",
                    model=model,
                    environment=environment,
                    deployment=f.deployment,
                    field=("promotion", "allow_unavailable"),
                )
            )
    return found


def scale_down_delay_floor(
    facts: Sequence[DeploymentFacts], config: p.ScaleDownDelayFloor, context: Context
) -> list[Violation]:
    return [
        _violation(
            "scale-down-delay-floor",
            config,
            f"{f.deployment} takes up to {format_duration(f.startup_seconds)} to start but "
            f"scales down after {format_duration(f.scale_down_delay)} of low load",
            f"set scale_down_delay to at least {format_duration(config.min)}",
            model=f.model,
            environment=f.environment,
            deployment=f.deployment,
            field=("autoscaling", "scale_down_delay"),
        )
        for f in facts
        if f.active
        and f.startup_seconds > config.when_startup_over
        and f.scale_down_delay < config.min
    ]


RULES: dict[str, tuple[str, RuleFunction]] = {
    "allowed-accelerators": ("allowed_accelerators", allowed_accelerators),
    "gpu-quota": ("gpu_quota", gpu_quota),
    "budget": ("budget", budget),
    "min-replicas": ("min_replicas", min_replicas),
    "no-scale-to-zero": ("no_scale_to_zero", no_scale_to_zero),
    "pinned-images": ("pinned_images", pinned_images),
    "resources-declared": ("resources_declared", resources_declared),
    "weights-fit": ("weights_fit", weights_fit),
    "rolling-promotion": ("rolling_promotion", rolling_promotion),
    "rollout-keeps-ready": ("rollout_keeps_ready", rollout_keeps_ready),
    "scale-down-delay-floor": ("scale_down_delay_floor", scale_down_delay_floor),
}
"""Rule ID → (its key under `policies:`, its function)."""


def evaluate(
    facts: Sequence[DeploymentFacts], policies: p.Policies, context: Context
) -> list[Violation]:
    """Every enabled rule, with waivers applied."""
    found: list[Violation] = []
    for key, function in RULES.values():
        config = getattr(policies, key)
        if config is not None and config.enabled:
            found.extend(function(facts, config, context))
    return [_waive(v, policies.waivers) for v in found]


def _waive(violation: Violation, waivers: list[p.Waiver]) -> Violation:
    for waiver in waivers:
        if waiver.rule != violation.rule:
            continue
        if all(
            getattr(waiver, key) is None or getattr(waiver, key) == getattr(violation, key)
            for key in ("model", "environment", "deployment")
        ):
            return Violation(
                violation.rule,
                Severity.INFO,
                violation.message,
                violation.fix,
                violation.model,
                violation.environment,
                violation.deployment,
                violation.field,
                waived=waiver.reason,
            )
    return violation

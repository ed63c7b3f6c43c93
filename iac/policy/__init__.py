"""Guardrails before apply: the stack's `policies:` checked on the compiled release.

`policy_diagnostics` locates each violation in the stack file for `iac validate` and
`iac plan`; the CrossGuard pack (`iac.policy_pack`) runs the same rules on what Pulumi
registers.
"""

from __future__ import annotations

from iac.compile.capacity.pricing import (
    WARM_CAPACITY,
    WHOLE_NODES,
    deployment_unit_price,
    device_price,
    release_cost,
    unit_price,
)
from iac.compile.identities import check_unique_objects
from iac.compile.release import Release, build_release
from iac.compile.release.node_pools import CLOUD_OF
from iac.diagnostics import Diagnostic, Diagnostics, KeyPath, Location
from iac.errors import StackInvalid
from iac.policy.facts import DeploymentFacts, facts_from_release
from iac.policy.rules import RULES, Context, Violation, evaluate
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.validate import check_stack

__all__ = [
    "RULES",
    "Violation",
    "check_with_policies",
    "policy_diagnostics",
    "pricing_context",
    "violations",
]


def check_with_policies(
    path: str, diagnostics: Diagnostics | None = None
) -> tuple[ResolvedStack, Release]:
    """Everything `iac validate` checks: the stack, its release (names two objects would
    share included), its policies. Raises StackInvalid with all errors; warnings and notes
    stay in `diagnostics`."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    stack = check_stack(path, diagnostics)
    release = build_release(stack, diagnostics)
    check_unique_objects(stack, release, diagnostics)
    diagnostics.extend(policy_diagnostics(stack, release))
    if diagnostics.has_errors():
        raise StackInvalid(diagnostics.sorted())
    return stack, release


def pricing_context(
    pricing: Pricing | None, provisioner: str, release: Release | None = None
) -> Context:
    """Prices for the rules: with the release, what `iac cost` says of each deployment (the
    machine a GKE pool gets, the instance a Karpenter replica fits on:
    iac.compile.capacity.pricing.deployment_unit_price) and its ceilings, whole nodes included
    (`release_cost`); without (the policy pack sees objects only), the cheapest machine
    carrying the accelerator."""
    cloud = (pricing.cloud if pricing and pricing.cloud else None) or CLOUD_OF.get(provisioner)

    def price(facts: DeploymentFacts) -> float | None:
        if facts.accelerator is None:
            return None
        model = release.models.get(facts.model) if release is not None else None
        if release is not None and model is not None and facts.deployment in model.deployments:
            found = deployment_unit_price(release, facts.model, facts.deployment, pricing)
        elif release is not None:
            found = unit_price(release, facts.accelerator, facts.node_pool, pricing)
        else:
            found = device_price(facts.accelerator, cloud, pricing)
        return found.hourly if found else None

    if release is None:
        return Context(price=price)
    found: dict[str | None, float] = {}

    def ceilings() -> dict[str | None, float]:
        """Computed once, and only for a rule that asks (`budget`)."""
        if not found:
            found[None] = 0.0
            for line in release_cost(release, pricing):
                own = line.model not in (WARM_CAPACITY, WHOLE_NODES)
                env = line.environment if own else None
                found[env] = found.get(env, 0.0) + line.ceiling
        return found

    return Context(price=price, ceilings=ceilings)


def violations(stack: ResolvedStack, release: Release) -> list[Violation]:
    context = pricing_context(stack.spec.pricing, stack.spec.cluster.provisioner, release)
    return evaluate(facts_from_release(release), stack.spec.policies, context)


def policy_diagnostics(stack: ResolvedStack, release: Release) -> list[Diagnostic]:
    found = []
    for violation in violations(stack, release):
        location, path = locate(stack, violation)
        said = f"{_whose(stack, violation)}{violation.message}"
        if violation.waived:
            message = f"waived ({violation.waived}): {said} [{violation.rule}]"
        else:
            message = f"{said}; {violation.fix} [{violation.rule}]"
        found.append(Diagnostic(location, message, path, violation.level))
    return found


def locate(stack: ResolvedStack, violation: Violation) -> tuple[Location, KeyPath]:
    """Where to change what a violation is about."""
    model = stack.models.get(violation.model or "")
    field = violation.field
    if model is not None and violation.environment in model.environments:
        env = model.environments[violation.environment or ""]
        # Scaling and promotion of a bound deployment are the environment's settings.
        if violation.deployment is None or field[:1] in (("autoscaling",), ("promotion",)):
            return env.origins(field), env.origins.path(field)
    if model is not None and violation.deployment in model.deployments:
        origins = model.deployments[violation.deployment or ""].origins
        if model.chain is not None and origins.find(field) is origins.anchor:
            # Not written for this chainlet: set where its every deployment reads it.
            return model.origins(field), model.origins.path(field)
        return origins(field), origins.path(field)
    if model is not None:
        return model.origins(), model.origins.path()
    return stack.source.value(field), field


def _whose(stack: ResolvedStack, violation: Violation) -> str:
    """`chainlet 'llm' of chain 'rag': ` before what a violation says of a chainlet's model
    (its deployments are the chain's: `v1` alone would not say whose), else nothing."""
    model = stack.models.get(violation.model or "")
    member = model.chain if model is not None else None
    return f"chainlet '{member.chainlet}' of chain '{member.chain}': " if member else ""

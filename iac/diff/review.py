"""What `iac plan` runs, in the order that makes a review fast and its errors useful.

1. The base is read and compiled first (a stack file, `git:REF`, or the release the Pulumi
   stack runs: the caller says how, with a `BaseReader`), so that the head's compile can
   reuse the objects of the models that did not change, most of them in a review
   (`compile_stack(reuse=...)`).
2. When the base cannot be read at all, the head's own errors come first: a broken head is
   what the author has to fix.
3. The head is loaded and compiled, its policies checked (an error fails the plan), the
   cluster consulted where the caller can (preflight and drift, `ClusterCheck`), and each
   environment that names a trace replayed before and after.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostics
from iac.diff.base import Base, base_stack_path, read_base
from iac.diff.findings import Finding
from iac.diff.located import located
from iac.diff.plan import Plan, make_plan
from iac.errors import IacError
from iac.policy import policy_diagnostics
from iac.simulate import simulate_delta
from iac.simulate.sources import load
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.validate import check_stack


@dataclass(frozen=True)
class FoundBase:
    """A base as read: the compiled release (or part of it) and the prices it was costed at
    (None when unknown, as for a live release)."""

    base: Base
    pricing: Pricing | None


BaseReader = Callable[[], FoundBase]
"""Reads the base; raises IacError when it cannot be read at all."""
ClusterCheck = Callable[[Compiled | None, Compiled], list[Finding]]
"""(the base's objects, the head's) → what the cluster says of them, as findings."""


def plan_change(stack: str, read_base_: BaseReader, cluster: ClusterCheck | None = None) -> Plan:
    """The plan of changing the base `read_base_` reads into the stack file `stack`."""
    warnings = Diagnostics()
    try:
        found = read_base_()
    except IacError:
        compile_head(check_stack(stack, Diagnostics()), Diagnostics())  # the head's errors first
        raise
    base = found.base
    head_stack = check_stack(stack, warnings)
    head = compile_head(head_stack, warnings, base.compiled)
    cluster_findings = cluster(base.compiled, head) if cluster is not None else []
    plan = make_plan(
        base.compiled,
        head,
        found.pricing,
        head_stack.spec.pricing,
        warnings.sorted(),
        simulations(head_stack, base.compiled, head, found.pricing),
        policies=head_stack.spec.policies,
        base_findings=[*base.findings, *cluster_findings],
    )
    return replace(plan, findings=located(plan.findings, head_stack))


def file_base(base: str, stack: str) -> BaseReader:
    """The base named on the command line: a stack file, or `git:REF` (`stack` at REF)."""

    def read() -> FoundBase:
        with base_stack_path(base, stack) as path:
            found = read_base(path) if path else Base(None, None)
        pricing = found.stack.spec.pricing if found.compiled and found.stack else None
        return FoundBase(found, pricing)

    return read


def compile_head(
    stack: ResolvedStack, warnings: Diagnostics, reuse: Compiled | None = None
) -> Compiled:
    """The head's objects, reusing the base's where a model is unchanged; its policies become
    findings (an error fails the plan)."""
    compiled = compile_stack(stack, warnings, reuse=reuse)
    warnings.extend(policy_diagnostics(stack, compiled.release))
    return compiled


def simulations(
    stack: ResolvedStack, base: Compiled | None, head: Compiled, base_pricing: Pricing | None
) -> list[dict[str, Any]]:
    """Each head environment that names a trace, replayed before and after the change."""
    folder = os.path.dirname(stack.file)
    found = []
    for model in sorted(stack.spec.models):
        environments = stack.spec.models[model].environments
        for env in sorted(environments):
            written = environments[env].trace
            if not written:
                continue
            relative = os.path.join(folder, written)
            trace = load(relative if os.path.exists(relative) else written)
            found.append(
                simulate_delta(
                    base,
                    head,
                    model,
                    env,
                    trace,
                    base_pricing=base_pricing,
                    head_pricing=stack.spec.pricing,
                )
            )
    return found

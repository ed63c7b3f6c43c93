"""Chains in a release: each chainlet told where the chainlets it calls are.

A chainlet's deployment `v2` calls the `v2` deployments of its callees (a request never
crosses chain versions half way), through environment variables of its container
(docs/chains.md):

    IAC_CHAINLET_<NAME>_URL     http://<callee's Service>.<namespace>.svc.cluster.local:<port>,
                                or the KEDA HTTP add-on's interceptor when the callee is
                                reached through it (it may scale to zero: the interceptor
                                holds the call while a replica starts)
    IAC_CHAINLET_<NAME>_HEADER  only through the interceptor: the header to send with each
                                call (`x-iac-backend: <callee's Service>`), which tells the
                                interceptor which deployment the call is for

`<NAME>` is the callee's chainlet name in capitals, `-` as `_` (`llm-judge` →
`IAC_CHAINLET_LLM_JUDGE_URL`): chainlet names are DNS labels, so no two give one name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from iac.spec.stack import Cluster

if TYPE_CHECKING:  # the package imports this module
    from iac.compile.release import DeploymentRelease, ModelRelease

BACKEND_HEADER = "x-iac-backend"
"""Header that tells the interceptor which deployment a request is for (the Gateway sets it
on routes; a chainlet sends it on calls)."""


def chainlet_variable(chainlet: str, what: str) -> str:
    """`IAC_CHAINLET_<NAME>_<WHAT>` for a callee's chainlet name."""
    return f"IAC_CHAINLET_{chainlet.upper().replace('-', '_')}_{what}"


def wire_chains(models: Mapping[str, ModelRelease], cluster: Cluster) -> dict[str, ModelRelease]:
    """`models` with each chainlet's deployments given their chain and their callees'
    variables."""
    wired = dict(models)
    for name, model in models.items():
        member = model.chain
        if member is None:
            continue
        callees = [(c, models.get(f"{member.chain}-{c}")) for c in member.calls]
        deployments = {
            d: replace(deployment, chain=member.chain, chain_env=_variables(d, callees, cluster))
            for d, deployment in model.deployments.items()
        }
        wired[name] = replace(model, deployments=deployments)
    return wired


def _variables(
    deployment: str, callees: list[tuple[str, ModelRelease | None]], cluster: Cluster
) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for chainlet, model in callees:
        callee = model.deployments.get(deployment) if model is not None else None
        if callee is None:  # a chainlet that did not load: the stack is invalid anyway
            continue
        found.extend(callee_variables(chainlet, callee, cluster))
    return tuple(sorted(found))


def callee_variables(
    chainlet: str, callee: DeploymentRelease, cluster: Cluster
) -> list[tuple[str, str]]:
    """The variables that tell a caller where `callee` (of chainlet `chainlet`) is."""
    if callee.via_interceptor:
        add_on = cluster.scale_from_zero
        url = (
            f"http://{add_on.interceptor_service}.{add_on.namespace}.svc.cluster.local:"
            f"{add_on.interceptor_port}"
        )
        return [
            (chainlet_variable(chainlet, "URL"), url),
            (chainlet_variable(chainlet, "HEADER"), f"{BACKEND_HEADER}: {callee.object_name}"),
        ]
    url = f"http://{callee.object_name}.{cluster.namespace}.svc.cluster.local:{callee.port}"
    return [(chainlet_variable(chainlet, "URL"), url)]

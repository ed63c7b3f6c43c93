"""Replica maxima no cluster can reach, so that a ceiling (`iac cost`, a pool's size) is
not read as something the stack could run.

Maxima above what a pool's cap allows are reported with the pool (`pool-cap-below-demand`,
`iac.compile.release.node_pools`), above a GPU quota by the `gpu-quota` policy; this module reports
a deployment that may scale to more pods than a Kubernetes cluster holds, and capacity kept
warm past it, a warning at the number to lower.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from iac.diagnostics import Diagnostics
from iac.spec.resolved import ResolvedStack

if TYPE_CHECKING:  # the release is built by iac.compile.release, which calls this module
    from iac.compile.release import ModelRelease

RULE = "max-replicas-unreachable"
CLUSTER_PODS = 150_000
"""Pods a Kubernetes cluster is built to hold ("Considerations for large clusters",
kubernetes.io: no more than 150,000 pods, 5,000 nodes, 110 pods per node)."""


def check_maxima(
    stack: ResolvedStack, models: Mapping[str, ModelRelease], diagnostics: Diagnostics
) -> None:
    """A warning at each max_replicas, and each `warm:` count, above the pods a cluster
    holds."""
    _check_warm(stack, diagnostics)
    for model in models.values():
        for deployment in model.deployments.values():
            wanted = deployment.autoscaling.max_replicas
            if not deployment.active or wanted <= CLUSTER_PODS:
                continue
            written = stack.models[model.name]
            env = written.environments.get(deployment.environment or "")
            origins = env.origins if env else written.deployments[deployment.name].origins
            where = ("autoscaling", "max_replicas")
            diagnostics.warning(
                origins(where),
                f"{model.name}/{deployment.name} may scale to {wanted:,} replicas, but a "
                f"Kubernetes cluster is built for at most {CLUSTER_PODS:,} pods: the ceilings "
                "`iac cost` shows count replicas that can never run. Lower max_replicas, or "
                f"split the stack over clusters [{RULE}]",
                origins.path(where),
            )


def _check_warm(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    spec = stack.spec
    places: list[tuple[tuple[str, ...], object]] = [
        (("node_pools", name), pool.warm) for name, pool in getattr(spec, "node_pools", {}).items()
    ]
    for name, model in spec.models.items():
        for env_name, env in model.environments.items():
            places.append((("models", name, "environments", env_name), env.warm))
    for path, warm in places:
        for key in ("nodes", "replicas"):
            count = getattr(warm, key, None)
            if count is not None and count > CLUSTER_PODS:
                where = (*path, "warm", key)
                diagnostics.warning(
                    stack.source.value(where),
                    f"{count:,} placeholders kept warm, but a Kubernetes cluster is built for at "
                    f"most {CLUSTER_PODS:,} pods: `iac cost` counts capacity that can never be "
                    f"there. Lower it [{RULE}]",
                    where,
                )

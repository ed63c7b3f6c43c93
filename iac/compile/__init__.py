"""Stack → Release → Kubernetes objects, as plain dicts in apply order.

Pure and deterministic: the same stack gives byte-identical objects whatever the order of
keys in its files, so what `iac render` shows a reviewer is exactly what the Pulumi program
applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iac.compile import labels, options
from iac.compile.coldstart import prepull_objects, warm_chunks, warm_objects
from iac.compile.gke import gke_node_pools
from iac.compile.karpenter import karpenter_objects
from iac.compile.monitoring import monitoring_objects
from iac.compile.names import object_id
from iac.compile.options import ObjectOptions
from iac.compile.release import Release, build_release
from iac.compile.routes import interceptor_grant, model_routes
from iac.compile.scaling import interceptor_route, scaled_object
from iac.compile.weights import weights_claims
from iac.compile.workload import (
    deployment_object,
    disruption_budget,
    network_policy,
    service_object,
)
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.gc_pause import without_gc
from iac.spec.resolved import ResolvedStack

__all__ = ["APPLY_ORDER", "Compiled", "compile_release", "compile_stack", "object_id"]

APPLY_ORDER: tuple[str, ...] = (
    "EC2NodeClass",
    "NodePool",
    "PriorityClass",
    "Namespace",
    "ConfigMap",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "PodTemplate",
    "CapacityBuffer",
    "DaemonSet",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "PodMonitor",
    "InterceptorRoute",
    "ScaledObject",
    "ReferenceGrant",
    "HTTPRoute",
    "PrometheusRule",
)
"""Kinds in the order they are applied: what others refer to comes first (a ScaledObject
needs its Deployment, a route its Services), and routes last, once their backends exist."""

_RANK = {kind: index for index, kind in enumerate(APPLY_ORDER)}


@dataclass(frozen=True, slots=True)
class Compiled:
    release: Release
    objects: list[dict[str, Any]]
    """Kubernetes objects in apply order."""
    options: dict[str, ObjectOptions] = field(default_factory=dict)
    """Pulumi resource options the stack asks for, by `object_id` (only objects that have
    some: protected ones, renamed ones with their aliases)."""
    model_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Model → its previous names (aliases of the model's component)."""
    cloud: list[dict[str, Any]] = field(default_factory=list)
    """Cloud resources the Pulumi program creates beside them (GKE node pools, as
    `iac.compile.gke` declares them); not Kubernetes objects."""


@without_gc
def compile_stack(stack: ResolvedStack, diagnostics: Diagnostics | None = None) -> Compiled:
    """Compile a checked stack. Raises StackInvalid on a problem only compiling reveals (two
    deployments whose object names collide); warnings go to `diagnostics`."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    return compile_release(stack, build_release(stack, diagnostics), diagnostics)


def compile_release(
    stack: ResolvedStack,
    release: Release,
    diagnostics: Diagnostics | None = None,
    *,
    with_options: bool = True,
) -> Compiled:
    """The objects of a release (of `stack`). A rollout compiles adjusted releases of the
    same stack for its intermediate steps."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    cluster = release.cluster
    objects: list[dict[str, Any]] = []
    if cluster.create_namespace:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": cluster.namespace, "labels": {labels.MANAGED_BY: "iac"}},
            }
        )
    if cluster.network_policy and release.models:
        objects.append(network_policy(cluster))
    pools = {plan.name: plan for plan in release.pools}
    if cluster.provisioner == "karpenter":
        objects.extend(karpenter_objects(release.pools, cluster))
    cloud = gke_node_pools(stack, release, diagnostics) if cluster.provisioner == "gke" else []
    needs_interceptor = False
    for model in release.models.values():
        for deployment in model.deployments.values():
            origins = stack.models[model.name].deployments[deployment.name].origins
            objects.append(service_object(deployment, cluster))
            pool = pools.get(deployment.node_pool or "")
            objects.append(deployment_object(deployment, cluster, pool))
            budget = disruption_budget(deployment, cluster)
            if budget is not None:
                objects.append(budget)
            if deployment.via_interceptor:
                needs_interceptor = True
                objects.append(interceptor_route(deployment, cluster))
            objects.append(scaled_object(deployment, cluster, origins, diagnostics))
        objects.extend(model_routes(model, cluster))
    if needs_interceptor and cluster.scale_from_zero.namespace != cluster.namespace:
        objects.append(interceptor_grant(cluster))
    if cluster.monitoring:
        objects.extend(monitoring_objects(release))
    deployments = [d for m in release.models.values() for d in m.deployments.values()]
    objects.extend(weights_claims(deployments, cluster))
    objects.extend(prepull_objects(release, cluster))
    objects.extend(warm_objects(warm_chunks(release, stack.spec.pricing), cluster))
    if diagnostics.has_errors():
        raise StackInvalid(diagnostics.sorted())
    objects.sort(
        key=lambda o: (_RANK[o["kind"]], o["metadata"].get("namespace", ""), o["metadata"]["name"])
    )
    options = object_options(stack, objects) if with_options else {}
    model_aliases = {
        name: tuple(spec.previous_names)
        for name, spec in sorted(stack.spec.models.items())
        if spec.previous_names
    }
    return Compiled(
        release=release, objects=objects, options=options, model_aliases=model_aliases, cloud=cloud
    )


def object_options(stack: ResolvedStack, objects: list[dict[str, Any]]) -> dict[str, ObjectOptions]:
    """`protect` and aliases per object (iac.compile.options)."""
    protected = options.protected_ids(stack, objects)
    aliases: dict[str, list[str]] = {}
    if options.renames(stack):

        def compile_objects(renamed: ResolvedStack) -> list[dict[str, Any]]:
            release = build_release(renamed, Diagnostics())
            return compile_release(renamed, release, Diagnostics(), with_options=False).objects

        aliases = options.alias_ids(stack, objects, compile_objects)
    return {
        oid: ObjectOptions(protect=oid in protected, aliases=tuple(aliases.get(oid, ())))
        for oid in sorted(protected | set(aliases))
    }

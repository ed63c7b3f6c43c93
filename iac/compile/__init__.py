"""Stack → Release → Kubernetes objects, as plain dicts in apply order.

Pure and deterministic: the same stack gives byte-identical objects whatever the order of
keys in its files, so what `iac render` shows a reviewer is exactly what the Pulumi program
applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iac.compile import labels, options
from iac.compile.capacity.coldstart import prepull_objects, warm_chunks, warm_objects
from iac.compile.capacity.fit import unfit_replicas
from iac.compile.capacity.gke import gke_node_pools
from iac.compile.capacity.karpenter import karpenter_objects
from iac.compile.identities import check_unique_objects
from iac.compile.monitoring import chain_dashboards, model_monitoring
from iac.compile.names import identity, object_id
from iac.compile.options import ObjectOptions
from iac.compile.release import ModelRelease, Release, build_release
from iac.compile.release.node_pools import PoolPlan, node_labels
from iac.compile.serving.auth import security_policies
from iac.compile.serving.routes import interceptor_grant, model_routes
from iac.compile.serving.scaling import interceptor_route, scaled_object, scaling_diagnostics
from iac.compile.serving.weights import weights_claims
from iac.compile.serving.workload import (
    chain_models,
    chain_network_policy,
    deployment_object,
    disruption_budget,
    network_policy,
    service_object,
)
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Cluster

__all__ = [
    "APPLY_ORDER",
    "Compiled",
    "ModelObjects",
    "compile_release",
    "compile_stack",
    "object_id",
]

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
    "SecurityPolicy",
    "HTTPRoute",
    "PrometheusRule",
)
"""Kinds in the order they are applied: what others refer to comes first (a ScaledObject
needs its Deployment, a route its Services), and routes last, once their backends exist and
the policies asking for their API keys are in place (a route never answers before them)."""

_RANK = {kind: index for index, kind in enumerate(APPLY_ORDER)}


@dataclass(frozen=True, slots=True)
class ModelObjects:
    """The objects one model compiles to on its own, and everything they depend on.

    `key` is what `_model_objects` reads: the model's release (dataclass equality, with the
    order of its deployments and environments), the cluster, and for each deployment the
    node labels it selects on its pool (not the whole pool: a pool's demand changes with
    every model on it, its labels do not). Two models with equal keys compile to equal
    objects, so a compile may take another's (`compile_release(reuse=...)`).
    """

    key: tuple[Any, ...]
    serving: tuple[dict[str, Any], ...]
    """Services, Deployments, PDBs, InterceptorRoutes, ScaledObjects, HTTPRoutes, then
    SecurityPolicies."""
    monitoring: tuple[dict[str, Any], ...]
    """PodMonitors, the PrometheusRule and the dashboard (empty without monitoring)."""
    needs_interceptor: bool


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
    `iac.compile.capacity.gke` declares them); not Kubernetes objects."""
    models: Mapping[str, ModelObjects] = field(default_factory=dict)
    """Each model's own objects (the same dicts as in `objects`), with their key: what a
    later compile may reuse (`compile_release(reuse=...)`)."""


def compile_stack(
    stack: ResolvedStack, diagnostics: Diagnostics | None = None, *, reuse: Compiled | None = None
) -> Compiled:
    """Compile a checked stack. Raises StackInvalid on a problem only compiling reveals (two
    objects that would have one name, `iac.compile.identities`); warnings go to
    `diagnostics`. `reuse`: another compile whose unchanged models' objects are taken as they
    are (`compile_release`)."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    release = build_release(stack, diagnostics)
    check_unique_objects(stack, release, diagnostics)
    compiled = compile_release(stack, release, diagnostics, reuse=reuse)
    _assert_unique(compiled.objects)
    return compiled


def compile_release(
    stack: ResolvedStack,
    release: Release,
    diagnostics: Diagnostics | None = None,
    *,
    with_options: bool = True,
    reuse: Compiled | None = None,
) -> Compiled:
    """The objects of a release (of `stack`). A rollout compiles adjusted releases of the
    same stack for its intermediate steps.

    `reuse`: another compile (the base of a plan) whose per-model objects are taken, as the
    same dicts, for each model whose key (`ModelObjects.key`) is equal here; the others are
    built. The result is equal to a compile without it, and the warnings are this stack's
    (located in its file). Compiled objects are read-only: with `reuse`, two compiles share
    them, and parts common to many objects (a probe, a toleration, a scrape endpoint) are
    one dict or list shared by all of them (see `iac.compile.serving.workload`)."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    cluster = release.cluster
    objects = _cluster_objects(stack, release, diagnostics)
    cloud = gke_node_pools(stack, release, diagnostics) if cluster.provisioner == "gke" else []
    per_model = _models_objects(stack, release, reuse, diagnostics)
    for found in per_model.values():
        objects.extend(found.serving)
    if (
        any(m.needs_interceptor for m in per_model.values())
        and cluster.scale_from_zero.namespace != cluster.namespace
    ):
        objects.append(interceptor_grant(cluster))
    for name in sorted(per_model):  # monitoring_objects' order
        objects.extend(per_model[name].monitoring)
    if cluster.monitoring:  # a chain's dashboard reads all its chainlets: built each time
        objects.extend(chain_dashboards(release))
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
        release=release,
        objects=objects,
        options=options,
        model_aliases=model_aliases,
        cloud=cloud,
        models=per_model,
    )


def _cluster_objects(
    stack: ResolvedStack, release: Release, diagnostics: Diagnostics
) -> list[dict[str, Any]]:
    """The namespace, its network policy and Karpenter's node pools; on nodes iac does not
    size (Karpenter, existing), a warning for replicas that fit on none."""
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
        for chain, members in chain_models(release).items():
            objects.append(chain_network_policy(chain, members, cluster))
    if cluster.provisioner == "karpenter":
        objects.extend(karpenter_objects(release.pools, cluster))
    if cluster.provisioner in ("karpenter", "existing"):
        unfit_replicas(stack, release, diagnostics)
    return objects


def _models_objects(
    stack: ResolvedStack, release: Release, reuse: Compiled | None, diagnostics: Diagnostics
) -> dict[str, ModelObjects]:
    """Each model's objects, in the release's order: taken from `reuse` when its key is
    equal (its warnings given again, located in this stack), else built."""
    cluster = release.cluster
    pools = {plan.name: plan for plan in release.pools}
    reusable = reuse.models if reuse is not None else {}
    per_model: dict[str, ModelObjects] = {}
    for model in release.models.values():
        key = _model_key(model, cluster, pools)
        found = reusable.get(model.name)
        if found is not None and found.key == key:
            for deployment in model.deployments.values():
                origins = stack.models[model.name].deployments[deployment.name].origins
                scaling_diagnostics(deployment, origins, diagnostics)
        else:
            found = _model_objects(stack, model, cluster, pools, key, diagnostics)
        per_model[model.name] = found
    return per_model


def _assert_unique(objects: list[dict[str, Any]]) -> None:
    """Each object exactly once. `check_unique_objects` reports, located, the names a stack's
    names make alike; two objects it did not foresee are a compiler bug, never applied.
    (Not in `compile_release`: the stack with its `previous_names`, compiled to pair renamed
    objects, may make one name twice, and pairs no alias for it.)"""
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        found = identity(obj)
        if found in seen:
            raise ValueError(f"compiled two objects named {'/'.join(found)}")
        seen.add(found)


def _model_key(
    model: ModelRelease, cluster: Cluster, pools: Mapping[str, PoolPlan]
) -> tuple[Any, ...]:
    """Everything `_model_objects` reads (see `ModelObjects.key`). Dict orders are part of
    it where the objects follow them (`==` on dicts ignores order)."""
    placement = []
    for deployment in model.deployments.values():
        pool = pools.get(deployment.node_pool or "")
        placement.append(tuple(node_labels(pool, cluster.provisioner).items()) if pool else None)
    return (
        model,
        tuple(model.deployments),
        tuple(model.environments),
        cluster,
        tuple(placement),
    )


def _model_objects(
    stack: ResolvedStack,
    model: ModelRelease,
    cluster: Cluster,
    pools: Mapping[str, PoolPlan],
    key: tuple[Any, ...],
    diagnostics: Diagnostics,
) -> ModelObjects:
    """One model's objects. Reads only what `_model_key` covers (and the stack's origins,
    for warnings)."""
    serving: list[dict[str, Any]] = []
    needs_interceptor = False
    for deployment in model.deployments.values():
        origins = stack.models[model.name].deployments[deployment.name].origins
        serving.append(service_object(deployment, cluster))
        pool = pools.get(deployment.node_pool or "")
        serving.append(deployment_object(deployment, cluster, pool))
        budget = disruption_budget(deployment, cluster)
        if budget is not None:
            serving.append(budget)
        if deployment.via_interceptor:
            needs_interceptor = True
            # A chainlet called inside the cluster: any host, told apart by the header.
            host = model.endpoints.host if model.routed else None
            serving.append(interceptor_route(deployment, cluster, host))
        serving.append(scaled_object(deployment, cluster, origins, diagnostics))
    serving.extend(model_routes(model, cluster))
    serving.extend(security_policies(model, cluster))
    monitoring = model_monitoring(model, cluster) if cluster.monitoring else []
    return ModelObjects(key, tuple(serving), tuple(monitoring), needs_interceptor)


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

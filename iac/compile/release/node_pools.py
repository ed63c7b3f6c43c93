"""GPU node pools: which pool each deployment runs on, and how large each pool may grow.

One pool per accelerator type in use (`gpu-h100`), unless the stack declares pools; a
deployment may name its pool (`resources.node_pool`). A pool's capacity is what its
deployments can ask for at once: the sum of max replicas × devices per replica, plus the
extra replicas a rolling promotion brings up (its surge). An explicit `max_gpus` caps it,
and a warning says when the cap is below that demand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from iac.catalog import AcceleratorType, catalog
from iac.catalog.node_labels import gpu_labels_of
from iac.compile import labels
from iac.diagnostics import Diagnostics, did_you_mean
from iac.spec.resolved import Locator, ResolvedDeployment
from iac.spec.stack import Stack, Warm
from iac.spec.types import parse_accelerator

CLOUD_OF = {"karpenter": "aws", "gke": "gcp"}
"""The cloud whose instance types a provisioner launches."""


@dataclass(frozen=True, slots=True)
class Demand:
    """What one deployment may ask of its pool at once."""

    model: str
    deployment: str
    replicas: int
    """Max replicas, plus the surge of a rolling promotion into its environment."""
    units_per_replica: int
    """Accelerators one replica requests (GPUs, or MIG slices)."""


@dataclass(frozen=True, slots=True)
class PoolPlan:
    name: str
    accelerator: AcceleratorType
    declared: bool
    capacity_type: str
    demand: tuple[Demand, ...]
    max_gpus: int | None
    instance_types: tuple[str, ...]
    labels: Mapping[str, str]
    node_class: str | None
    warm: Warm | None = None
    """Capacity kept ready in the pool."""

    @property
    def demand_devices(self) -> int:
        """Physical devices for everything at once (MIG slices of several pods share one)."""
        return devices(self.accelerator, sum(d.replicas * d.units_per_replica for d in self.demand))

    @property
    def limit_devices(self) -> int:
        """Devices the pool may hold: the explicit cap, else the demand."""
        return self.max_gpus if self.max_gpus is not None else self.demand_devices

    @property
    def largest_replica(self) -> int:
        """Physical devices the largest replica needs on one node."""
        return devices(self.accelerator, max((d.units_per_replica for d in self.demand), default=1))


def derived_pool_name(accelerator_type: str) -> str:
    """`H100_40GB` → `gpu-h100-40gb`."""
    return "gpu-" + accelerator_type.lower().replace("_", "-")


def devices(kind: AcceleratorType, count: int) -> int:
    """Physical devices `count` units of `kind` occupy (MIG slices share a device)."""
    return math.ceil(count / kind.mig.per_device) if kind.mig else count


def place(stack: Stack, deployment: ResolvedDeployment, diagnostics: Diagnostics) -> str | None:
    """The pool a deployment runs on; None for CPU-only or on error (reported)."""
    resources = deployment.container.resources
    named = resources.node_pool if resources else None
    accelerator = resources.accelerator if resources else None
    origins = deployment.origins
    if accelerator is None:
        if named is not None:
            diagnostics.error(
                origins(("resources", "node_pool")),
                f"node pool '{named}' is for GPU nodes, but this deployment sets no "
                "`resources.accelerator`",
                origins.path(("resources", "node_pool")),
            )
        return None
    kind = parse_accelerator(accelerator)[0]
    if not _servable(stack, kind, deployment, diagnostics):
        return None
    if named is not None:
        return _named_pool(stack, named, kind, deployment, diagnostics)
    for name in sorted(stack.node_pools):
        if parse_accelerator(stack.node_pools[name].accelerator)[0] == kind:
            return name
    derived = derived_pool_name(kind)
    taken = stack.node_pools.get(derived)
    if taken is not None:
        # One name, two pools: the deployment would land on the declared pool's nodes.
        where = ("resources", "accelerator")
        diagnostics.error(
            origins(where),
            f"no declared node pool has {kind} nodes, and the name of the pool iac makes for "
            f"them, '{derived}', is taken by `node_pools.{derived}` ({taken.accelerator}); "
            f"declare a pool with `accelerator: {kind}`, or rename `node_pools.{derived}`",
            origins.path(where),
        )
        return None
    return derived


def _named_pool(
    stack: Stack, named: str, kind: str, deployment: ResolvedDeployment, diagnostics: Diagnostics
) -> str | None:
    """The pool `resources.node_pool` names: a declared one, or one derived from an
    accelerator type (`gpu-l4`, as `iac cost` shows it), which is created for the
    deployments that name it; None (reported) when there is none of that name and type."""
    origins = deployment.origins
    where = ("resources", "node_pool")
    pool = stack.node_pools.get(named)
    pool_kind = parse_accelerator(pool.accelerator)[0] if pool is not None else None
    if pool is None:
        pool_kind = derived_kind(named)
    if pool_kind is None:
        usable = sorted(
            {n for n, p in stack.node_pools.items() if parse_accelerator(p.accelerator)[0] == kind}
            | {derived_pool_name(kind)}
        )
        declared = ", ".join(sorted(stack.node_pools)) or "none"
        diagnostics.error(
            origins(where),
            f"no node pool '{named}'{did_you_mean(named, usable)} (pools of {kind} nodes: "
            f"{', '.join(usable)}; declared: {declared})",
            origins.path(where),
        )
        return None
    if pool_kind != kind:
        diagnostics.error(
            origins(where),
            f"node pool '{named}' has {pool_kind} nodes, but this deployment needs {kind}",
            origins.path(where),
        )
        return None
    return named


def _servable(
    stack: Stack, kind: str, deployment: ResolvedDeployment, diagnostics: Diagnostics
) -> bool:
    """Whether the provisioner can bring up nodes with this accelerator at all."""
    provisioner = stack.cluster.provisioner
    where = ("resources", "accelerator")
    known = catalog()
    accelerator = known.accelerators[kind]
    if gpu_labels_of(provisioner, stack.cluster.gpu_label) == "gke" and not (
        accelerator.gke_accelerator
    ):
        offered = ", ".join(sorted(n for n, a in known.accelerators.items() if a.gke_accelerator))
        if provisioner == "gke":
            message = (
                f"GKE offers no {kind} nodes; choose one of {offered} (or `provisioner: "
                "existing` with your own nodes)"
            )
        else:  # nodes made elsewhere, selected by GKE's label (`gpu_label: gke`)
            message = (
                f"GKE offers no {kind} nodes, so none carries the "
                "`cloud.google.com/gke-accelerator` label `gpu_label: gke` selects; choose one "
                f"of {offered}, or set `cluster.gpu_label` to what labels your {kind} nodes"
            )
        diagnostics.error(deployment.origins(where), message, deployment.origins.path(where))
        return False
    cloud = CLOUD_OF.get(provisioner)
    if cloud is None:
        return True
    physical = accelerator.mig.parent if accelerator.mig else kind
    if not known.instances.get(cloud) or known.instances_for(cloud, physical):
        return True
    added = ((stack.pricing.instance_types or {}) if stack.pricing else {}).values()
    if not any(parse_accelerator(item.accelerator)[0] == physical for item in added):
        diagnostics.error(
            deployment.origins(where),
            f"no {cloud.upper()} instance type in the catalog carries {physical}; choose "
            "another accelerator, or add the instance under `pricing.instance_types`",
            deployment.origins.path(where),
        )
        return False
    return True


def plan_pools(
    stack: Stack,
    source: Locator,
    demands: Iterable[tuple[str, Demand]],
    diagnostics: Diagnostics,
) -> list[PoolPlan]:
    """Pools to provision: every declared pool, and each derived pool something runs on."""
    by_pool: dict[str, list[Demand]] = {}
    for pool, demand in demands:
        by_pool.setdefault(pool, []).append(demand)
    plans = []
    for name in sorted(set(by_pool) | set(stack.node_pools)):
        wanted = tuple(sorted(by_pool.get(name, []), key=lambda d: (d.model, d.deployment)))
        declared = stack.node_pools.get(name)
        if declared is not None:
            kind = catalog().accelerators[parse_accelerator(declared.accelerator)[0]]
            plan = PoolPlan(
                name=name,
                accelerator=kind,
                declared=True,
                capacity_type=declared.capacity_type,
                demand=wanted,
                max_gpus=declared.max_gpus,
                instance_types=tuple(declared.instance_types or ()),
                labels=dict(sorted((declared.labels or {}).items())),
                node_class=declared.node_class,
                warm=declared.warm,
            )
        else:
            kind = catalog().accelerators[_kind_of_derived(name)]
            plan = PoolPlan(name, kind, False, "on-demand", wanted, None, (), {}, None)
        if plan.max_gpus is not None and plan.max_gpus < plan.demand_devices:
            parts = ", ".join(
                f"{d.model}/{d.deployment} {d.replicas}×{d.units_per_replica}" for d in wanted
            )
            diagnostics.warning(
                source.value(("node_pools", name, "max_gpus")),
                f"max_gpus {plan.max_gpus} is below the {plan.demand_devices} GPUs its "
                f"deployments can ask for at once ({parts}); past the cap, replicas stay "
                "pending. Raise max_gpus or lower max_replicas [pool-cap-below-demand]",
                ("node_pools", name, "max_gpus"),
            )
        plans.append(plan)
    return plans


def derived_kind(name: str) -> str | None:
    """The accelerator type of the pool derived under `name` (`gpu-l4` → `L4`), if any."""
    for kind in catalog().accelerators:
        if derived_pool_name(kind) == name:
            return kind
    return None


def _kind_of_derived(name: str) -> str:
    kind = derived_kind(name)
    if kind is None:
        raise ValueError(f"not a derived pool name: {name}")
    return kind


POOL_LABEL = labels.NODE_POOL


def node_labels(plan: PoolPlan, provisioner: str) -> dict[str, str]:
    """Labels the pool's nodes carry and its workloads select: one function for both, so the
    pool and the pods placed on it never disagree."""
    if provisioner == "existing":
        return dict(plan.labels)
    return {POOL_LABEL: plan.name, **plan.labels}


def gpu_taint() -> dict[str, str]:
    """The taint on every GPU node, which only GPU workloads tolerate."""
    return {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}

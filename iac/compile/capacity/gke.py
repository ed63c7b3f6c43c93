"""GKE node pools (`provisioner: gke`): one `pulumi_gcp.container.NodePool` per pool, as
plain data the Pulumi program registers unchanged and `iac render` shows.

Per pool: the cheapest GCP machine type of the catalog (or of the pool's `instance_types`)
that carries its accelerator and on which every replica placed on the pool fits whole
(its GPUs, CPU and memory, less what GKE reserves on a node); the GPUs as guest
accelerators with the driver installed by GKE, partitioned for a MIG slice; autoscaling
from 0 to the nodes the pool's deployments can fill at once (or its `max_gpus` cap); spot
VMs for `capacity_type: spot`; the node labels the workloads select (`node_labels`, the
same function placement uses) and the GPU taint they tolerate.

A declaration is `{"type": NODE_POOL_TYPE, "name": <logical name>, "properties": {...}}`,
whose properties are the resource's inputs under Pulumi's (camelCase) names, exactly what
the program sends. No Pulumi import here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from iac.catalog import catalog
from iac.compile.capacity.machines import (
    Machine,
    Replica,
    largest_machine,
    machine_size,
    machines,
    per_node,
    physical,
    pool_machines,
    pool_replicas,
    replica_location,
    replica_shape,
)
from iac.compile.release import Release
from iac.compile.release.node_pools import PoolPlan, node_labels
from iac.diagnostics import Diagnostics, KeyPath
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.spec.types import INT32_MAX

NODE_POOL_TYPE = "gcp:container/nodePool:NodePool"
"""Pulumi's type token of `pulumi_gcp.container.NodePool`."""
GPU_DRIVER_VERSION = "LATEST"
"""GKE installs the newest NVIDIA driver its node version supports (no driver DaemonSet)."""
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
"""The taint GKE itself puts on GPU nodes (set explicitly: GKE skips it in clusters whose
pools all have GPUs). Workloads tolerate `nvidia.com/gpu` with any value."""
SPOT_OR_FLEX_START_ONLY = frozenset({"a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g"})
"""Machine types offered only as Spot or Flex-start VMs (see iac/catalog/instances.yaml):
never chosen for an on-demand pool unless the pool names them in `instance_types`."""
NODE_POOL_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
"""What GKE accepts as a node pool name: at most 40 characters, starting with a letter."""


def gke_node_pools(
    stack: ResolvedStack, release: Release, diagnostics: Diagnostics
) -> list[dict[str, Any]]:
    """The GKE node pools of a release; problems (no machine fits) go to `diagnostics`."""
    declarations = []
    for plan in release.pools:
        declaration = node_pool_declaration(stack, release, plan, diagnostics)
        if declaration is not None:
            declarations.append(declaration)
    return declarations


def node_pool_declaration(
    stack: ResolvedStack, release: Release, plan: PoolPlan, diagnostics: Diagnostics
) -> dict[str, Any] | None:
    gke = release.cluster.gke
    if gke is None:  # iac.validate reports it: a stack that reaches here has `cluster.gke`
        raise ValueError("provisioner gke without cluster.gke")
    replicas = pool_replicas(release, plan)
    machine = choose_machine(stack, plan, replicas, diagnostics)
    if machine is None:
        return None
    nodes = max_nodes(plan, machine, replicas)
    if nodes > INT32_MAX:
        location, path = replica_location(stack, plan, max(replicas, key=lambda r: r.replicas))
        diagnostics.error(
            location,
            f"node pool '{plan.name}' would grow to {nodes:,} {machine.name} nodes for its "
            f"deployments' max replicas, past the {INT32_MAX:,} nodes GKE's totalMaxNodeCount "
            f"holds: {'set its' if plan.declared else 'declare it with a'} max_gpus, or lower "
            "max_replicas",
            path,
        )
        return None
    spot = plan.capacity_type == "spot"
    device = physical(plan)
    kind = catalog().accelerators[device]
    accelerator: dict[str, Any] = {
        "type": kind.gke_accelerator_of_series.get(machine.series, kind.gke_accelerator),
        "count": machine.gpus,
        "gpuDriverInstallationConfig": {"gpuDriverVersion": GPU_DRIVER_VERSION},
    }
    if plan.accelerator.mig:
        accelerator["gpuPartitionSize"] = plan.accelerator.mig.profile
    node_config: dict[str, Any] = {
        "machineType": machine.machine_type,
        "guestAccelerators": [accelerator],
        "labels": node_labels(plan, "gke"),
        "taints": [dict(GPU_TAINT)],
    }
    if spot:
        node_config["spot"] = True
    properties: dict[str, Any] = {
        "name": plan.name,
        "cluster": gke.cluster,
        "location": gke.location,
        **({"project": gke.project} if gke.project else {}),
        "initialNodeCount": 0,
        "autoscaling": {
            "totalMinNodeCount": 0,
            "totalMaxNodeCount": nodes,
            # Spot: wherever capacity is (GKE's advice for Spot VMs); else spread over zones.
            "locationPolicy": "ANY" if spot else "BALANCED",
        },
        "management": {"autoRepair": True, "autoUpgrade": True},
        "nodeConfig": node_config,
    }
    return {"type": NODE_POOL_TYPE, "name": plan.name, "properties": properties}


def resource_id(declaration: dict[str, Any]) -> str:
    """`gcp:container/nodePool:NodePool/gpu-h100`: unique among a stack's cloud resources."""
    return f"{declaration['type']}/{declaration['name']}"


def pool_machine(release: Release, plan: PoolPlan, pricing: Pricing | None) -> Machine | None:
    """The machine type of the pool's nodes, exactly as its declaration gets it (for what
    else depends on it: prices, warm nodes); None where compiling reports an error."""
    candidates, unknown = _candidates(plan, pricing)
    if unknown:
        return None
    fitting = _fitting(plan, candidates, pool_replicas(release, plan))
    return min(fitting, key=_cost_order) if fitting else None


def choose_machine(
    stack: ResolvedStack, plan: PoolPlan, replicas: list[Replica], diagnostics: Diagnostics
) -> Machine | None:
    """The cheapest machine on which each replica fits whole (fewest GPUs first among
    unpriced ones); None, with an error, when there is none."""
    device = physical(plan)
    candidates, unknown = _candidates(plan, stack.spec.pricing)
    if unknown:
        known = sorted(m.name for m in machines(stack.spec.pricing, device))
        where: KeyPath = ("node_pools", plan.name, "instance_types")
        diagnostics.error(
            stack.source.value(where),
            f"{', '.join(unknown)}: not a GCP machine type carrying {device} (known: "
            f"{', '.join(known) or 'none'}); a GKE node pool needs the "
            "machine's GPU count, so add others under `pricing.instance_types`",
            where,
        )
        return None
    if not candidates:  # a declared pool nothing is placed on (placement checks the others)
        where = ("node_pools", plan.name, "accelerator")
        diagnostics.error(
            stack.source.value(where),
            f"no GCP machine type in the catalog carries {device}; choose another "
            "accelerator, or add the machine type under `pricing.instance_types`",
            where,
        )
        return None
    fitting = _fitting(plan, candidates, replicas)
    if fitting:
        return min(fitting, key=_cost_order)
    largest = largest_machine(candidates)
    misfits = [r for r in replicas if per_node(plan, largest, r) < 1] or replicas[:1]
    remedy = (
        "widen the pool's `instance_types`"
        if plan.instance_types
        else "name a larger machine type in `pricing.instance_types`"
    )
    for replica in misfits:
        location, path = replica_location(stack, plan, replica)
        diagnostics.error(
            location,
            f"no GCP machine type for node pool '{plan.name}' fits a replica of "
            f"{replica.model}/{replica.deployment} ({replica_shape(plan, replica)}) on one "
            f"node; the largest is {largest.name} ({machine_size(largest)}, less what GKE "
            f"reserves). Lower the replica's resources, or {remedy}",
            path,
        )
    return None


def _candidates(plan: PoolPlan, pricing: Pricing | None) -> tuple[list[Machine], list[str]]:
    """The machines a pool may get, and the names in its `instance_types` that carry no
    such device (an error). Unless named, Spot-only machines are left to Spot pools."""
    candidates, unknown = pool_machines(plan, pricing, "gcp")
    if not plan.instance_types and plan.capacity_type != "spot":
        on_demand = [m for m in candidates if m.name not in SPOT_OR_FLEX_START_ONLY]
        candidates = on_demand or candidates
    return candidates, unknown


def _fitting(plan: PoolPlan, candidates: list[Machine], replicas: list[Replica]) -> list[Machine]:
    return [m for m in candidates if all(per_node(plan, m, r) >= 1 for r in replicas)]


def max_nodes(plan: PoolPlan, machine: Machine, replicas: Iterable[Replica]) -> int:
    """Nodes the pool may grow to: its `max_gpus` cap in whole nodes, else enough nodes for
    every replica at once, each deployment's replicas packed as many per node as fit
    (a replica never spans nodes). At least 1, so the pool stays valid for GKE."""
    if plan.max_gpus is not None:
        return max(1, math.ceil(plan.max_gpus / machine.gpus))
    return max(1, sum(math.ceil(r.replicas / per_node(plan, machine, r)) for r in replicas))


def _cost_order(machine: Machine) -> tuple[bool, float, int, float, float, str]:
    # Priced before unpriced; then the smallest machine.
    return (
        machine.hourly is None,
        machine.hourly or 0.0,
        machine.gpus,
        machine.vcpu or 0.0,
        machine.memory_gib or 0.0,
        machine.name,
    )

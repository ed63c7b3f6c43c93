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
from dataclasses import dataclass
from typing import Any

from iac.catalog import catalog
from iac.compile.node_pools import PoolPlan, node_labels
from iac.compile.quantity import memory_bytes
from iac.compile.release import Release
from iac.compile.workload import DEFAULT_CPU, DEFAULT_MEMORY
from iac.diagnostics import Diagnostics, KeyPath, Location
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator

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
ACCELERATOR_OF_SERIES = {"a3-megagpu": "nvidia-h100-mega-80gb"}
"""Machine series whose GPUs GKE names differently from the catalog's `gke_accelerator`."""
NODE_POOL_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
"""What GKE accepts as a node pool name: at most 40 characters, starting with a letter."""
SYSTEM_PODS_CPU = 0.5
SYSTEM_PODS_MEMORY = 2**30
"""Room left on every node for DaemonSets (GKE's logging, metrics, kube-proxy, device
plugin; iac's image pre-pull): an allowance, not a measured figure."""


@dataclass(frozen=True, slots=True)
class Machine:
    """A GCP machine type carrying the pool's accelerator."""

    name: str
    """As the catalog (or `pricing.instance_types`) names it: `n1-standard-8+1xT4`."""
    gpus: int
    vcpu: float | None
    """None when unknown (an instance type added by the stack): only GPUs are checked."""
    memory_gib: float | None
    hourly: float | None

    @property
    def machine_type(self) -> str:
        """GKE's machine type: an N1 composition `n1-standard-8+1xT4` is `n1-standard-8`."""
        return self.name.split("+", 1)[0]

    @property
    def series(self) -> str:
        return self.machine_type.rsplit("-", 1)[0]


@dataclass(frozen=True, slots=True)
class Replica:
    """What one replica of a deployment on the pool asks of one node."""

    model: str
    deployment: str
    replicas: int
    units: int
    """Accelerators (GPUs, or MIG slices)."""
    cpu: float
    memory: int
    """Bytes."""


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
    spot = plan.capacity_type == "spot"
    physical = _physical(plan)
    accelerator: dict[str, Any] = {
        "type": ACCELERATOR_OF_SERIES.get(
            machine.series, catalog().accelerators[physical].gke_accelerator
        ),
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
            "totalMaxNodeCount": max_nodes(plan, machine, replicas),
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


def machines(pricing: Pricing | None, accelerator: str, cloud: str = "gcp") -> list[Machine]:
    """Machine (instance) types of `cloud` carrying `accelerator`: the catalog's and the
    stack's own (`pricing.instance_types`), with the stack's `pricing.instance_hourly` prices."""
    overrides = (pricing.instance_hourly or {}) if pricing else {}
    found = {
        i.name: Machine(i.name, i.gpus, i.vcpu, i.memory_gib, overrides.get(i.name, i.hourly))
        for i in catalog().instances_for(cloud, accelerator)
    }
    for name, item in ((pricing.instance_types or {}) if pricing else {}).items():
        if parse_accelerator(item.accelerator)[0] == accelerator:
            found[name] = Machine(name, item.gpus, None, None, overrides.get(name, item.hourly))
    return list(found.values())


def pool_replicas(release: Release, plan: PoolPlan) -> list[Replica]:
    """What each deployment placed on the pool asks of one node."""
    return [replica_of(release, d.model, d.deployment, d.replicas, d.units_per_replica)
            for d in plan.demand]  # fmt: skip


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
    physical = _physical(plan)
    candidates, unknown = _candidates(plan, stack.spec.pricing)
    if unknown:
        known = sorted(m.name for m in machines(stack.spec.pricing, physical))
        where: KeyPath = ("node_pools", plan.name, "instance_types")
        diagnostics.error(
            stack.source.value(where),
            f"{', '.join(unknown)}: not a GCP machine type carrying {physical} (known: "
            f"{', '.join(known) or 'none'}); a GKE node pool needs the "
            "machine's GPU count, so add others under `pricing.instance_types`",
            where,
        )
        return None
    if not candidates:  # a declared pool nothing is placed on (placement checks the others)
        where = ("node_pools", plan.name, "accelerator")
        diagnostics.error(
            stack.source.value(where),
            f"no GCP machine type in the catalog carries {physical}; choose another "
            "accelerator, or add the machine type under `pricing.instance_types`",
            where,
        )
        return None
    fitting = _fitting(plan, candidates, replicas)
    if fitting:
        return min(fitting, key=_cost_order)
    largest = max(candidates, key=lambda m: (m.gpus, m.vcpu or 0, m.memory_gib or 0, m.name))
    misfits = [r for r in replicas if per_node(plan, largest, r) < 1] or replicas[:1]
    remedy = (
        "widen the pool's `instance_types`"
        if plan.instance_types
        else "name a larger machine type in `pricing.instance_types`"
    )
    for replica in misfits:
        location, path = _where(stack, plan, replica)
        diagnostics.error(
            location,
            f"no GCP machine type for node pool '{plan.name}' fits a replica of "
            f"{replica.model}/{replica.deployment} ({_shape(plan, replica)}) on one node; the "
            f"largest is {largest.name} ({_size(largest)}, less what GKE reserves). Lower "
            f"the replica's resources, or {remedy}",
            path,
        )
    return None


def _physical(plan: PoolPlan) -> str:
    """The device a pool's nodes carry (a MIG slice's parent)."""
    return plan.accelerator.mig.parent if plan.accelerator.mig else plan.accelerator.name


def _candidates(plan: PoolPlan, pricing: Pricing | None) -> tuple[list[Machine], list[str]]:
    """The machines a pool may get, and the names in its `instance_types` that carry no
    such device (an error)."""
    carrying = {m.name: m for m in machines(pricing, _physical(plan))}
    if plan.instance_types:
        unknown = [name for name in plan.instance_types if name not in carrying]
        return [carrying[n] for n in plan.instance_types if n in carrying], unknown
    candidates = list(carrying.values())
    if plan.capacity_type != "spot":
        on_demand = [m for m in candidates if m.name not in SPOT_OR_FLEX_START_ONLY]
        candidates = on_demand or candidates
    return candidates, []


def _fitting(plan: PoolPlan, candidates: list[Machine], replicas: list[Replica]) -> list[Machine]:
    return [m for m in candidates if all(per_node(plan, m, r) >= 1 for r in replicas)]


def max_nodes(plan: PoolPlan, machine: Machine, replicas: Iterable[Replica]) -> int:
    """Nodes the pool may grow to: its `max_gpus` cap in whole nodes, else enough nodes for
    every replica at once, each deployment's replicas packed as many per node as fit
    (a replica never spans nodes). At least 1, so the pool stays valid for GKE."""
    if plan.max_gpus is not None:
        return max(1, math.ceil(plan.max_gpus / machine.gpus))
    return max(1, sum(math.ceil(r.replicas / per_node(plan, machine, r)) for r in replicas))


def allocatable(machine: Machine) -> tuple[float | None, float | None]:
    """CPU (cores) and memory (bytes) a node leaves to pods: GKE's documented reservations
    for the kubelet and system (plus the 100 MiB eviction threshold), less the allowance
    for DaemonSets. None where the machine's size is unknown."""
    cpu = None
    if machine.vcpu is not None:
        reserved = _tiers(machine.vcpu, [(1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025)])
        cpu = machine.vcpu - reserved - SYSTEM_PODS_CPU
    memory = None
    if machine.memory_gib is not None:
        gib = machine.memory_gib
        tiers = [(4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02)]
        reserved_gib = 0.25 if gib < 1 else _tiers(gib, tiers)
        memory = (gib - reserved_gib) * 2**30 - 100 * 2**20 - SYSTEM_PODS_MEMORY
    return cpu, memory


def _tiers(amount: float, tiers: list[tuple[float, float]]) -> float:
    """Σ share × the part of `amount` in each successive tier of the given size."""
    total, left = 0.0, amount
    for size, share in tiers:
        part = min(left, size)
        total += part * share
        left -= part
        if left <= 0:
            break
    return total


def node_units(plan: PoolPlan, machine: Machine) -> int:
    """Accelerator units (GPUs, or MIG slices) one of the pool's nodes offers."""
    return machine.gpus * (plan.accelerator.mig.per_device if plan.accelerator.mig else 1)


def per_node(plan: PoolPlan, machine: Machine, replica: Replica) -> int:
    """Replicas of this shape one node holds (0: it does not fit). GKE's reservations are
    taken off the node; Karpenter's pricing uses the same as an estimate for EKS nodes."""
    slots = node_units(plan, machine)
    counts = [slots // replica.units if replica.units else slots]
    cpu, memory = allocatable(machine)
    if cpu is not None:
        counts.append(math.floor(cpu / replica.cpu) if replica.cpu else slots)
    if memory is not None:
        counts.append(math.floor(memory / replica.memory) if replica.memory else slots)
    return max(0, min(counts))


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


def replica_of(release: Release, model: str, deployment: str, count: int, units: int) -> Replica:
    """What a replica of the deployment asks of a node (its resources, or the defaults)."""
    resources = release.models[model].deployments[deployment].container.resources
    cpu = (resources.cpu if resources else None) or DEFAULT_CPU
    memory = (resources.memory if resources else None) or DEFAULT_MEMORY
    return Replica(model, deployment, count, units, _cores(cpu), memory_bytes(memory))


def _cores(quantity: str) -> float:
    """`8` → 8.0, `500m` → 0.5 (validated by the spec)."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _where(stack: ResolvedStack, plan: PoolPlan, replica: Replica) -> tuple[Location, KeyPath]:
    if plan.declared:
        path: KeyPath = ("node_pools", plan.name)
        return stack.source.key(path), path
    origins = stack.models[replica.model].deployments[replica.deployment].origins
    return origins(("resources",)), origins.path(("resources",))


def _shape(plan: PoolPlan, replica: Replica) -> str:
    units = f"{replica.units} × {plan.accelerator.name}"
    return f"{units}, {replica.cpu:g} CPU, {replica.memory / 2**30:g} GiB memory"


def _size(machine: Machine) -> str:
    parts = [f"{machine.gpus} GPU{'s' if machine.gpus != 1 else ''}"]
    if machine.vcpu is not None:
        parts.append(f"{machine.vcpu:g} vCPUs")
    if machine.memory_gib is not None:
        parts.append(f"{machine.memory_gib:g} GiB")
    return ", ".join(parts)

"""Machines (cloud instance types) and the replicas placed on them: what a node of a pool
offers, what a replica asks, and how many fit, for GKE's choice of a pool's machine
(`iac.compile.capacity.gke`), Karpenter's fit check and the prices of both
(`iac.compile.capacity.prices`).

A node's allocatable CPU and memory follow GKE's documented reservations; for an EKS node
launched by Karpenter they are an estimate (EKS keeps less memory back on most sizes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from iac.catalog import catalog
from iac.compile.quantity import memory_bytes
from iac.compile.release import Release
from iac.compile.release.node_pools import PoolPlan
from iac.diagnostics import KeyPath, Location
from iac.spec.container import DEFAULT_CPU, DEFAULT_MEMORY
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator

SYSTEM_PODS_CPU = 0.5
SYSTEM_PODS_MEMORY = 2**30
"""Room left on every node for DaemonSets (GKE's logging, metrics, kube-proxy, device
plugin; iac's image pre-pull): an allowance, not a measured figure."""


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine (instance) type carrying a pool's accelerator."""

    name: str
    """As the catalog (or `pricing.instance_types`) names it: `n1-standard-8+1xT4`."""
    gpus: int
    vcpu: float | None
    """None when unknown (an instance type added by the stack): only GPUs are checked."""
    memory_gib: float | None
    hourly: float | None

    @property
    def machine_type(self) -> str:  # GKE
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


def physical(plan: PoolPlan) -> str:
    """The device a pool's nodes carry (a MIG slice's parent)."""
    return plan.accelerator.mig.parent if plan.accelerator.mig else plan.accelerator.name


def pool_machines(
    plan: PoolPlan, pricing: Pricing | None, cloud: str
) -> tuple[list[Machine], list[str]]:
    """The machine types of `cloud` a pool may get (its `instance_types`, else any carrying
    its device), and the names in its `instance_types` that carry no such device."""
    carrying = {m.name: m for m in machines(pricing, physical(plan), cloud)}
    if plan.instance_types:
        unknown = [name for name in plan.instance_types if name not in carrying]
        return [carrying[n] for n in plan.instance_types if n in carrying], unknown
    return list(carrying.values()), []


def largest_machine(candidates: list[Machine]) -> Machine:
    """The machine most likely to hold a large replica: most GPUs, then CPU, then memory."""
    return max(candidates, key=lambda m: (m.gpus, m.vcpu or 0, m.memory_gib or 0, m.name))


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
    """Replicas of this shape one node holds (0: it does not fit)."""
    slots = node_units(plan, machine)
    counts = [slots // replica.units if replica.units else slots]
    cpu, memory = allocatable(machine)
    if cpu is not None:
        counts.append(math.floor(cpu / replica.cpu) if replica.cpu else slots)
    if memory is not None:
        counts.append(math.floor(memory / replica.memory) if replica.memory else slots)
    return max(0, min(counts))


def replica_of(release: Release, model: str, deployment: str, count: int, units: int) -> Replica:
    """What a replica of the deployment asks of a node (its resources, or the defaults)."""
    resources = release.models[model].deployments[deployment].container.resources
    cpu = (resources.cpu if resources else None) or DEFAULT_CPU
    memory = (resources.memory if resources else None) or DEFAULT_MEMORY
    return Replica(model, deployment, count, units, cores(cpu), memory_bytes(memory))


def cores(quantity: str) -> float:
    """A CPU quantity in cores: `8` → 8.0, `500m` → 0.5 (validated by the spec)."""
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def replica_location(
    stack: ResolvedStack, plan: PoolPlan, replica: Replica
) -> tuple[Location, KeyPath]:
    """Where to report a replica that fits no machine: its pool's declaration, or (a pool
    derived from the accelerator) the deployment's `resources`."""
    if plan.declared:
        path: KeyPath = ("node_pools", plan.name)
        return stack.source.key(path), path
    origins = stack.models[replica.model].deployments[replica.deployment].origins
    return origins(("resources",)), origins.path(("resources",))


def replica_shape(plan: PoolPlan, replica: Replica) -> str:
    """`2 × H100, 8 CPU, 64 GiB memory`."""
    units = f"{replica.units} × {plan.accelerator.name}"
    return f"{units}, {replica.cpu:g} CPU, {replica.memory / 2**30:g} GiB memory"


def machine_size(machine: Machine) -> str:
    """`8 GPUs, 208 vCPUs, 1872 GiB`."""
    parts = [f"{machine.gpus} GPU{'s' if machine.gpus != 1 else ''}"]
    if machine.vcpu is not None:
        parts.append(f"{machine.vcpu:g} vCPUs")
    if machine.memory_gib is not None:
        parts.append(f"{machine.memory_gib:g} GiB")
    return ", ".join(parts)


def pool_replicas(release: Release, plan: PoolPlan) -> list[Replica]:
    """What each deployment placed on the pool asks of one node."""
    return [replica_of(release, d.model, d.deployment, d.replicas, d.units_per_replica)
            for d in plan.demand]  # fmt: skip


def nodes_needed(plan: PoolPlan, machine: Machine, replicas: Sequence[tuple[Replica, int]]) -> int:
    """Nodes of `machine` that hold `count` replicas of each shape (GPUs, CPU, memory):
    largest shapes first, each replica on the first node with room for it (first-fit
    decreasing), new nodes as full as they get. Exact for one shape; for several, what a
    scheduler filling nodes in turn gets, which may be a node more than the least possible.
    Shapes that fit no node (`per_node` 0) are left out: compiling the pool reports them."""
    cpu, memory = allocatable(machine)
    fresh = (
        node_units(plan, machine),
        math.inf if cpu is None else math.floor(cpu * 1000 + 1e-6),
        math.inf if memory is None else math.floor(memory),
    )
    # Nodes in the order they were opened, those with the same room left side by side:
    # (room left: units, millicores, bytes; how many nodes).
    opened: list[tuple[tuple[float, float, float], int]] = []
    shapes = sorted(
        (r for r in replicas if r[1] > 0),
        key=lambda item: (item[0].units, item[0].cpu, item[0].memory),
        reverse=True,
    )
    for replica, count in shapes:
        asks = (replica.units, round(replica.cpu * 1000), replica.memory)
        per_fresh = _room_for(fresh, asks)
        if per_fresh < 1:
            continue
        updated = []
        for room, nodes in opened:
            each = _room_for(room, asks) if count else 0
            if each >= 1:
                full = min(nodes, count // each)
                if full:
                    updated.append((_less(room, asks, each), full))
                    count -= full * each
                    nodes -= full
                if count and nodes and count < each:
                    updated.append((_less(room, asks, count), 1))
                    count = 0
                    nodes -= 1
            if nodes:
                updated.append((room, nodes))
        full, rest = divmod(count, per_fresh)
        if full:
            updated.append((_less(fresh, asks, per_fresh), full))
        if rest:
            updated.append((_less(fresh, asks, rest), 1))
        opened = updated
    return sum(nodes for _, nodes in opened)


def _room_for(room: tuple[float, float, float], asks: tuple[int, int, int]) -> int:
    """Replicas asking `asks` that fit in `room`."""
    return int(min(room[i] // asks[i] if asks[i] else math.inf for i in range(3)))


def _less(
    room: tuple[float, float, float], asks: tuple[int, int, int], count: int
) -> tuple[float, float, float]:
    return (room[0] - asks[0] * count, room[1] - asks[1] * count, room[2] - asks[2] * count)

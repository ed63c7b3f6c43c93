"""Monthly cost of a release: a floor (min replicas always on) and a ceiling (max replicas),
per model and environment, at the prices of `iac.compile.capacity.prices` (re-exported here).

Each active deployment's replicas count their devices at their price; capacity kept warm
runs all month. Where the provisioner buys whole machines, the nodes a pool is billed for
are counted too (`whole_nodes`): on GKE the pool's one machine type, every replica and warm
placeholder packed onto it first-fit decreasing; on Karpenter, per replica shape, full nodes
of the instance type with the lowest price per replica and the cheapest instance that holds
the rest. What the nodes cost beyond the replicas' lines (GPUs no replica requests, room a
shape leaves) is a line of its own per pool, so the totals are what the cloud bills. Nodes
of `existing` pools are someone else's: there replicas count the GPUs they request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iac.compile.capacity.coldstart import warm_chunks
from iac.compile.capacity.gke import pool_machine
from iac.compile.capacity.machines import (
    Machine,
    Replica,
    cores,
    nodes_needed,
    per_node,
    replica_of,
)
from iac.compile.capacity.prices import (
    NodePrice,
    Price,
    deployment_unit_price,
    device_price,
    instance_price,
    karpenter_nodes,
    node_price,
    pricing_cloud,
    unit_price,
)
from iac.compile.quantity import memory_bytes
from iac.compile.release import Release
from iac.compile.release.node_pools import PoolPlan
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator

__all__ = [
    "HOURS_PER_MONTH",
    "WARM_CAPACITY",
    "WHOLE_NODES",
    "CostLine",
    "NodeGroup",
    "NodePrice",
    "PoolBill",
    "Price",
    "deployment_nodes",
    "deployment_unit_price",
    "device_price",
    "instance_price",
    "karpenter_nodes",
    "node_price",
    "pricing_cloud",
    "release_cost",
    "unit_price",
    "whole_nodes",
]

WARM_CAPACITY = "(warm capacity)"
"""The model name of cost lines for placeholders kept warm (per pool or environment)."""
WHOLE_NODES = "(whole nodes)"
"""The model name of cost lines for what a pool's whole nodes cost beyond the replicas'
lines (the environment is the pool): GPUs no replica requests, room a shape leaves."""
HOURS_PER_MONTH = 730
"""Hours in an average month (8,760 / 12), the figure cloud price lists use."""


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """A pool's nodes of one machine type, billed whole, at the floor and the ceiling."""

    machine: str
    devices: int
    """Physical GPUs on a node."""
    hourly: float
    """USD per node-hour."""
    basis: str
    floor_nodes: int
    ceiling_nodes: int
    floor_units: int
    """Accelerator units (GPUs, or MIG slices) the floor's replicas request on these nodes."""
    ceiling_units: int
    slices: int = 1
    """Units per GPU: a MIG profile's slices of a device, else 1."""

    @property
    def floor(self) -> float:
        return self.floor_nodes * self.hourly * HOURS_PER_MONTH

    @property
    def ceiling(self) -> float:
        return self.ceiling_nodes * self.hourly * HOURS_PER_MONTH

    @property
    def floor_devices(self) -> int:
        """GPUs the floor's replicas occupy (slices rounded up to whole GPUs)."""
        return math.ceil(self.floor_units / self.slices)

    @property
    def ceiling_devices(self) -> int:
        return math.ceil(self.ceiling_units / self.slices)

    @property
    def idle(self) -> tuple[int, int]:
        """Units on these nodes no replica requests (floor, ceiling)."""
        per_node = self.devices * self.slices
        return (
            self.floor_nodes * per_node - self.floor_units,
            self.ceiling_nodes * per_node - self.ceiling_units,
        )


@dataclass(frozen=True, slots=True)
class PoolBill:
    """What a pool's nodes cost where its provisioner buys whole machines (GKE, Karpenter),
    next to what its lines count (the replicas' units at their prices): the difference is
    the pool's `(whole nodes)` cost line."""

    pool: str
    provisioner: str
    groups: tuple[NodeGroup, ...]
    requested: tuple[float, float]
    """USD per month the lines of the replicas on these nodes count (floor, ceiling)."""
    capped: bool = False
    """The pool's `max_gpus` holds fewer nodes than the ceiling's replicas need."""

    @property
    def floor(self) -> float:
        return sum(group.floor for group in self.groups)

    @property
    def ceiling(self) -> float:
        return sum(group.ceiling for group in self.groups)

    @property
    def unused(self) -> tuple[float, float]:
        """What the nodes cost beyond the lines (floor, ceiling)."""
        return self.floor - self.requested[0], self.ceiling - self.requested[1]


@dataclass(frozen=True, slots=True)
class _OnPool:
    """Replicas of one shape on a pool: at the floor, at the ceiling, and what one costs."""

    replica: Replica
    floor: int
    ceiling: int
    hourly: float | None
    """USD per replica-hour as its cost line prices it; None: unpriced."""


def whole_nodes(release: Release, pricing: Pricing | None) -> list[PoolBill]:
    """The nodes each pool is billed for, where the provisioner buys whole machines: on GKE
    the pool's one machine type, with every replica (and warm placeholder) packed onto it;
    on Karpenter, for each replica shape, the instance type its price names (the cheapest
    per replica), replicas of that shape packed together. Nothing for `existing` nodes."""
    provisioner = release.cluster.provisioner
    cloud = pricing_cloud(release, pricing)
    if provisioner not in ("gke", "karpenter") or cloud is None:
        return []
    on_pool = _replicas_on_pools(release, pricing)
    bills = []
    for pool in release.pools:
        shapes = on_pool.get(pool.name, [])
        if provisioner == "gke":
            bill = _gke_bill(release, pool, pricing, shapes)
        else:
            bill = _karpenter_bill(pool, cloud, pricing, shapes)
        if bill is not None:
            bills.append(bill)
    return bills


def _gke_bill(
    release: Release, pool: PoolPlan, pricing: Pricing | None, shapes: list[_OnPool]
) -> PoolBill | None:
    node = node_price(release, pool, pricing)
    machine = pool_machine(release, pool, pricing)
    if node is None or machine is None:
        return None  # not GCP prices, or a machine without a price: GPUs as priced
    floor = nodes_needed(pool, machine, [(s.replica, s.floor) for s in shapes])
    ceiling = nodes_needed(pool, machine, [(s.replica, s.ceiling) for s in shapes])
    cap = math.ceil(pool.max_gpus / machine.gpus) if pool.max_gpus is not None else None
    capped = cap is not None and ceiling > cap
    group = NodeGroup(
        node.machine,
        node.devices,
        node.hourly,
        node.basis,
        min(floor, cap) if cap is not None else floor,
        min(ceiling, cap) if cap is not None else ceiling,
        sum(s.floor * s.replica.units for s in shapes),
        sum(s.ceiling * s.replica.units for s in shapes),
        _slices(pool),
    )
    return PoolBill(pool.name, "gke", (group,), _requested(shapes), capped)


@dataclass(slots=True)
class _Tally:
    """Nodes of one instance type being counted for a pool (Karpenter)."""

    devices: int
    hourly: float
    basis: str
    nodes: list[int]
    """At the floor, at the ceiling."""
    units: list[int]

    def group(self, machine: str, slices: int) -> NodeGroup:
        return NodeGroup(
            machine,
            self.devices,
            self.hourly,
            self.basis,
            self.nodes[0],
            self.nodes[1],
            self.units[0],
            self.units[1],
            slices,
        )


def _karpenter_bill(
    pool: PoolPlan, cloud: str, pricing: Pricing | None, shapes: list[_OnPool]
) -> PoolBill | None:
    tallies: dict[str, _Tally] = {}
    billed: list[_OnPool] = []
    for shape in shapes:
        if shape.hourly is None:
            continue  # unpriced: its line counts nothing, and neither do its nodes
        launched = [
            karpenter_nodes(pool, cloud, pricing, shape.replica, shape.floor),
            karpenter_nodes(pool, cloud, pricing, shape.replica, shape.ceiling),
        ]
        if shape.ceiling and not launched[1]:
            continue  # no priced instance type holds it: its line stays as priced
        for at, instances in enumerate(launched):
            for machine, nodes, replicas in instances:
                if machine.name not in tallies:
                    hourly, basis = _instance_hourly(pool, machine, cloud, pricing)
                    tallies[machine.name] = _Tally(machine.gpus, hourly, basis, [0, 0], [0, 0])
                tallies[machine.name].nodes[at] += nodes
                tallies[machine.name].units[at] += replicas * shape.replica.units
        billed.append(shape)
    if not tallies:
        return None
    groups = tuple(tally.group(name, _slices(pool)) for name, tally in sorted(tallies.items()))
    return PoolBill(pool.name, "karpenter", groups, _requested(billed))


def _instance_hourly(
    pool: PoolPlan, machine: Machine, cloud: str, pricing: Pricing | None
) -> tuple[float, str]:
    """What a whole instance of the pool costs per hour, and why: its GPUs at the stack's
    `gpu_hourly`, else its list price."""
    explicit = (pricing.gpu_hourly or {}) if pricing else {}
    physical = pool.accelerator.mig.parent if pool.accelerator.mig else pool.accelerator.name
    if physical in explicit:
        return (
            explicit[physical] * machine.gpus,
            f"{machine.name}: {machine.gpus} × stack pricing.gpu_hourly",
        )
    return machine.hourly or 0.0, f"{cloud} {machine.name} on-demand"


_MANY = 1 << 20
"""Enough replicas to fill whole nodes of the best instance type."""
NodesBilled = Callable[[int], tuple[float, int]]
"""A count of replicas → USD per hour and GPUs of the whole nodes they are billed on."""


def deployment_nodes(
    release: Release, model: str, deployment: str, pricing: Pricing | None
) -> tuple[NodesBilled, str] | None:
    """What whole nodes a deployment's replicas alone are billed on, as `whole_nodes` counts
    them (GKE: its pool's machine, as many replicas a node as fit; Karpenter: full nodes of
    the cheapest instance per replica, the cheapest holding the rest), and a description;
    None for `existing` nodes, or where no node is priced (its replicas are priced alone)."""
    provisioner = release.cluster.provisioner
    cloud = pricing_cloud(release, pricing)
    found = release.models[model].deployments[deployment]
    resources = found.container.resources
    pool = next((p for p in release.pools if p.name == found.node_pool), None)
    if pool is None or cloud is None or resources is None or resources.accelerator is None:
        return None
    replica = replica_of(release, model, deployment, 0, parse_accelerator(resources.accelerator)[1])
    if provisioner == "gke":
        node = node_price(release, pool, pricing)
        machine = pool_machine(release, pool, pricing)
        if node is None or machine is None or per_node(pool, machine, replica) < 1:
            return None
        fits = per_node(pool, machine, replica)
        gke_node = node

        def on_gke(count: int) -> tuple[float, int]:
            nodes = math.ceil(count / fits)
            return nodes * gke_node.hourly, nodes * gke_node.devices

        held = f"{fits} replica{'s' if fits != 1 else ''} a node"
        return on_gke, f"whole {node.machine} nodes ({node.devices} GPUs, {held})"
    full = (
        karpenter_nodes(pool, cloud, pricing, replica, _MANY) if provisioner == "karpenter" else []
    )
    if not full:
        return None
    machine, nodes, replicas = full[0]
    fits = replicas // nodes
    held = f"{fits} replica{'s' if fits != 1 else ''} each"
    if fits > 1:
        held += ", the cheapest instance that holds the rest"
    karpenter_pool, karpenter_cloud = pool, cloud

    def on_karpenter(count: int) -> tuple[float, int]:
        launched = karpenter_nodes(karpenter_pool, karpenter_cloud, pricing, replica, count)
        hourly = sum(
            nodes * _instance_hourly(karpenter_pool, machine, karpenter_cloud, pricing)[0]
            for machine, nodes, _ in launched
        )
        return hourly, sum(nodes * machine.gpus for machine, nodes, _ in launched)

    return on_karpenter, f"whole {machine.name} instances ({held})"


def _slices(pool: PoolPlan) -> int:
    return pool.accelerator.mig.per_device if pool.accelerator.mig else 1


def _requested(shapes: list[_OnPool]) -> tuple[float, float]:
    """What the lines of these replicas count per month (floor, ceiling)."""
    floor = sum(s.floor * (s.hourly or 0.0) for s in shapes) * HOURS_PER_MONTH
    ceiling = sum(s.ceiling * (s.hourly or 0.0) for s in shapes) * HOURS_PER_MONTH
    return floor, ceiling


def _replicas_on_pools(release: Release, pricing: Pricing | None) -> dict[str, list[_OnPool]]:
    """Each pool's replicas by shape, active deployments' and warm placeholders', with the
    price per replica-hour their cost lines use."""
    # (pool, shape, warm) → [floor, ceiling, $/replica-h]: a placeholder is priced as its
    # own line is, per device (`unit_price`), so it is kept apart from replicas like it.
    shapes: dict[tuple[str, Replica, bool], list[Any]] = {}
    # Thousands of deployments share a few resource settings: read each once.
    seen: dict[tuple[str | None, str, Any, Any], tuple[str, Replica, bool]] = {}
    for model in release.models.values():
        for deployment in model.deployments.values():
            resources = deployment.container.resources
            if not deployment.active or resources is None or resources.accelerator is None:
                continue
            written = (deployment.node_pool, resources.accelerator, resources.cpu, resources.memory)
            key = seen.get(written)
            if key is None:
                count = parse_accelerator(resources.accelerator)[1]
                asks = replica_of(release, model.name, deployment.name, 0, count)
                shape = Replica("", "", 0, asks.units, asks.cpu, asks.memory)
                key = seen[written] = (deployment.node_pool or "", shape, False)
                if key not in shapes:
                    price = deployment_unit_price(release, model.name, deployment.name, pricing)
                    shapes[key] = [0, 0, price.hourly * count if price else None]
            shapes[key][0] += deployment.autoscaling.min_replicas
            shapes[key][1] += deployment.autoscaling.max_replicas
    for chunk in warm_chunks(release, pricing):
        shape = Replica("", "", 0, chunk.units, cores(chunk.cpu), memory_bytes(chunk.memory))
        key = (chunk.pool.name, shape, True)
        if key not in shapes:
            price = unit_price(release, chunk.pool.accelerator.name, chunk.pool.name, pricing)
            shapes[key] = [0, 0, price.hourly * chunk.units if price else None]
        shapes[key][0] += chunk.count
        shapes[key][1] += chunk.count
    found: dict[str, list[_OnPool]] = {}
    for (pool, shape, _), (floor, ceiling, hourly) in shapes.items():
        found.setdefault(pool, []).append(_OnPool(shape, floor, ceiling, hourly))
    return found


@dataclass(frozen=True, slots=True)
class CostLine:
    model: str
    environment: str | None
    """The environment the deployments serve; None for those serving none."""
    floor: float
    """USD per month with min replicas always on."""
    ceiling: float
    """USD per month at max replicas."""
    unpriced: tuple[str, ...] = ()
    """Accelerators with no price (their replicas count as zero)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "environment": self.environment,
            "floor": round(self.floor, 2),
            "ceiling": round(self.ceiling, 2),
            "unpriced": list(self.unpriced),
        }


def release_cost(release: Release, pricing: Pricing | None) -> list[CostLine]:
    """The monthly floor and ceiling by model and environment (`iac plan` compares these;
    `iac cost` shows them per deployment): each active deployment's replicas at their
    price, capacity kept warm (model `(warm capacity)`), and, per pool whose provisioner
    buys whole machines, what its nodes cost beyond those lines (model `(whole nodes)`,
    environment the pool): together, what the cloud bills."""
    lines: dict[tuple[str, str | None], list[float]] = {}
    unpriced: dict[tuple[str, str | None], set[str]] = {}
    # Thousands of deployments share a few shapes on a few pools: price each once.
    prices: dict[tuple[str, str | None, int, Any, Any], Price | None] = {}
    for model in release.models.values():
        for deployment in model.deployments.values():
            key = (model.name, deployment.environment)
            totals = lines.setdefault(key, [0.0, 0.0])
            resources = deployment.container.resources
            if resources is None or resources.accelerator is None:
                continue  # CPU only: not priced
            kind, count = parse_accelerator(resources.accelerator)
            shape = (kind, deployment.node_pool, count, resources.cpu, resources.memory)
            if shape not in prices:
                prices[shape] = deployment_unit_price(release, model.name, deployment.name, pricing)
            price = prices[shape]
            if price is None:
                unpriced.setdefault(key, set()).add(kind)
                continue
            hourly = price.hourly * count
            if deployment.active:
                totals[0] += deployment.autoscaling.min_replicas * hourly * HOURS_PER_MONTH
                totals[1] += deployment.autoscaling.max_replicas * hourly * HOURS_PER_MONTH
    for chunk in warm_chunks(release, pricing):
        # Warm capacity runs all the time: its floor is its ceiling.
        price = unit_price(release, chunk.pool.accelerator.name, chunk.pool.name, pricing)
        key = (WARM_CAPACITY, chunk.name)
        totals = lines.setdefault(key, [0.0, 0.0])
        if price is None:
            unpriced.setdefault(key, set()).add(chunk.pool.accelerator.name)
            continue
        monthly = chunk.count * chunk.units * price.hourly * HOURS_PER_MONTH
        totals[0] += monthly
        totals[1] += monthly
    for bill in whole_nodes(release, pricing):
        floor, ceiling = bill.unused
        if round(floor, 2) or round(ceiling, 2):
            lines[(WHOLE_NODES, bill.pool)] = [floor, ceiling]
    return [
        CostLine(model, env, floor, ceiling, tuple(sorted(unpriced.get((model, env), ()))))
        for (model, env), (floor, ceiling) in sorted(
            lines.items(), key=lambda i: (i[0][0], i[0][1] or "")
        )
    ]

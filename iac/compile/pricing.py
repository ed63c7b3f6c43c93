"""Monthly cost of a release: a floor (min replicas always on) and a ceiling (max replicas),
per model and environment, from the catalog's prices and the stack's `pricing:`.

A replica costs its devices × the price of one device per hour. The device price is, in
order: the stack's `pricing.gpu_hourly`; the cheapest per-device price of a cloud instance
type carrying it (the stack's `pricing.instance_types` and `instance_hourly`, then the
catalog's), on the stack's cloud; Baseten's one-device price as a reference. A MIG slice
costs its share of a device. CPU-only replicas are not priced.

On GKE a pool's nodes are all one machine type, the one `iac.compile.gke` chooses, so a
device there costs that machine's price ÷ its GPUs (or `gpu_hourly`), not the cheapest
machine's. GKE bills nodes whole: what a partly filled node's idle GPUs cost is not in these
figures (`node_price` gives what `iac cost` needs to show it).

Karpenter picks instance types when it launches nodes, so there a price is an estimate: the
cheapest instance the pool may launch (its `instance_types`, else any carrying the device)
on which a replica of the deployment fits whole (GPUs, CPU and memory), with each node as
full of such replicas as it can be. A replica of 4 A10Gs costs its share of a 4-GPU
instance, not four times the cheapest 1-GPU instance's price. List prices are on-demand
ones, spot pools included (a spot pool costs less; how much varies by hour and zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iac.catalog import catalog
from iac.compile.coldstart import warm_chunks
from iac.compile.gke import pool_machine
from iac.compile.machines import Replica, per_node, pool_machines, replica_of
from iac.compile.node_pools import CLOUD_OF, PoolPlan
from iac.compile.release import Release
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator

WARM_CAPACITY = "(warm capacity)"
"""The model name of cost lines for placeholders kept warm (per pool or environment)."""
HOURS_PER_MONTH = 730
"""Hours in an average month (8,760 / 12), the figure cloud price lists use."""


@dataclass(frozen=True, slots=True)
class Price:
    hourly: float
    """USD per device-hour."""
    basis: str
    """Where the price comes from, for the reader."""


@dataclass(frozen=True, slots=True)
class NodePrice:
    """What one node of a GKE pool costs: GKE bills its nodes whole."""

    machine: str
    devices: int
    """Physical GPUs on a node."""
    hourly: float
    """USD per node-hour."""
    basis: str


def pricing_cloud(release: Release, pricing: Pricing | None) -> str | None:
    """Whose list prices apply: the stack's `pricing.cloud`, else the provisioner's cloud."""
    return (pricing.cloud if pricing and pricing.cloud else None) or CLOUD_OF.get(
        release.cluster.provisioner
    )


def device_price(kind: str, cloud: str | None, pricing: Pricing | None) -> Price | None:
    """A device's price when no pool says which machine carries it (see `unit_price`)."""
    accelerator = catalog().accelerators[kind]
    if accelerator.mig is not None:
        parent = device_price(accelerator.mig.parent, cloud, pricing)
        if parent is None:
            return None
        share = accelerator.mig.per_device
        return Price(
            parent.hourly / share, f"1/{share} of {accelerator.mig.parent}: {parent.basis}"
        )
    if pricing and pricing.gpu_hourly and kind in pricing.gpu_hourly:
        return Price(pricing.gpu_hourly[kind], "stack pricing.gpu_hourly")
    if cloud:
        offers: list[tuple[float, str]] = []
        overrides = (pricing.instance_hourly or {}) if pricing else {}
        for name, item in ((pricing.instance_types or {}) if pricing else {}).items():
            if parse_accelerator(item.accelerator)[0] == kind:
                offers.append((overrides.get(name, item.hourly) / item.gpus, f"{name} (stack)"))
        for instance in catalog().instances_for(cloud, kind):
            hourly = overrides.get(instance.name, instance.hourly)
            if hourly is not None:
                offers.append((hourly / instance.gpus, f"{cloud} {instance.name} on-demand"))
        if offers:
            hourly, basis = min(offers)
            return Price(hourly, basis)
    if accelerator.baseten and 1 in accelerator.baseten.hourly:
        return Price(accelerator.baseten.hourly[1], "Baseten list price (reference)")
    return None


def node_price(release: Release, pool: PoolPlan, pricing: Pricing | None) -> NodePrice | None:
    """A GKE pool's node, at its machine type's price (or `gpu_hourly` × its GPUs); None
    for other provisioners, GCP prices not in use, or a machine without a price."""
    if release.cluster.provisioner != "gke" or pricing_cloud(release, pricing) != "gcp":
        return None
    machine = pool_machine(release, pool, pricing)
    if machine is None:
        return None
    accelerator = pool.accelerator
    physical = accelerator.mig.parent if accelerator.mig else accelerator.name
    if pricing and pricing.gpu_hourly and physical in pricing.gpu_hourly:
        return NodePrice(
            machine.name,
            machine.gpus,
            pricing.gpu_hourly[physical] * machine.gpus,
            f"gcp {machine.name}: {machine.gpus} × stack pricing.gpu_hourly",
        )
    if machine.hourly is None:
        return None
    stack_priced = pricing is not None and (
        machine.name in (pricing.instance_hourly or {})
        or machine.name in (pricing.instance_types or {})
    )
    return NodePrice(
        machine.name,
        machine.gpus,
        machine.hourly,
        f"gcp {machine.name} {'(stack)' if stack_priced else 'on-demand'}",
    )


def unit_price(
    release: Release,
    kind: str,
    pool_name: str | None,
    pricing: Pricing | None,
    replica: Replica | None = None,
) -> Price | None:
    """Price of one unit of `kind` (a device, or a MIG slice) on the named pool, for a
    replica of the given shape where the pool's instance type is not fixed (Karpenter)."""
    cloud = pricing_cloud(release, pricing)
    pool = next((p for p in release.pools if p.name == pool_name), None)
    if pool is None or release.cluster.provisioner != "gke" or cloud != "gcp":
        explicit = pricing is not None and kind in (pricing.gpu_hourly or {})
        if pool is None or cloud is None or pool.accelerator.mig is not None or explicit:
            return device_price(kind, cloud, pricing)
        return instance_price(pool, cloud, pricing, replica) or device_price(kind, cloud, pricing)
    node = node_price(release, pool, pricing)
    if node is None:
        # The pool's machine has no price: another machine's would not be what GKE bills,
        # so only an explicit `gpu_hourly` or Baseten's reference price remain.
        return device_price(kind, None, pricing)
    gpus = f"{node.devices} GPU{'s' if node.devices != 1 else ''}"
    per_device = Price(node.hourly / node.devices, f"{node.basis} ÷ {gpus} (node pool {pool.name})")
    mig = catalog().accelerators[kind].mig
    if mig is None:
        return per_device
    return Price(
        per_device.hourly / mig.per_device,
        f"1/{mig.per_device} of {mig.parent}: {per_device.basis}",
    )


def deployment_unit_price(
    release: Release, model: str, deployment: str, pricing: Pricing | None
) -> Price | None:
    """`unit_price` of a deployment's accelerator, on its pool, for its replicas' shape;
    None for a CPU-only deployment or where there is no price."""
    found = release.models[model].deployments[deployment]
    resources = found.container.resources
    if resources is None or resources.accelerator is None:
        return None
    kind, count = parse_accelerator(resources.accelerator)
    replica = replica_of(release, model, deployment, 1, count)
    return unit_price(release, kind, found.node_pool, pricing, replica)


def instance_price(
    pool: PoolPlan, cloud: str, pricing: Pricing | None, replica: Replica | None
) -> Price | None:
    """A device's price on the cheapest instance type the pool may launch on which a replica
    fits, packed as many a node as fit (any instance type carrying the device, without a
    replica); None when none is priced and fits."""
    stack_types = (pricing.instance_types or {}) if pricing else {}
    offers: list[tuple[float, str]] = []
    for machine in pool_machines(pool, pricing, cloud)[0]:
        if machine.hourly is None:
            continue
        used, note = machine.gpus, ""
        if replica is not None:
            fits = per_node(pool, machine, replica)
            if fits < 1:
                continue
            used = min(machine.gpus, fits * replica.units)
            if used < machine.gpus:
                note = f" ÷ {used} of its {machine.gpus} GPUs ({_replicas(fits)} a node)"
        where = (
            f"{machine.name} (stack)"
            if machine.name in stack_types
            else (f"{cloud} {machine.name} on-demand")
        )
        offers.append((machine.hourly / used, where + note))
    if not offers:
        return None
    hourly, basis = min(offers)
    return Price(hourly, basis)


def _replicas(count: int) -> str:
    return f"{count} replica{'s' if count != 1 else ''}"


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
    return [
        CostLine(model, env, floor, ceiling, tuple(sorted(unpriced.get((model, env), ()))))
        for (model, env), (floor, ceiling) in sorted(
            lines.items(), key=lambda i: (i[0][0], i[0][1] or "")
        )
    ]

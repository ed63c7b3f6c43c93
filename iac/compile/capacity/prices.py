"""What a device, a node and an instance cost per hour, from the catalog's prices and the
stack's `pricing:` (what a release costs per month is `iac.compile.capacity.pricing`).

A replica costs its devices × the price of one device per hour. The device price is, in
order: the stack's `pricing.gpu_hourly`; the cheapest per-device price of a cloud instance
type carrying it (the stack's `pricing.instance_types` and `instance_hourly`, then the
catalog's), on the stack's cloud; Baseten's one-device price as a reference. A MIG slice
costs its share of a device. CPU-only replicas are not priced. Of equal prices per device,
the smaller instance is the basis (a p5.4xlarge, not a p5.48xlarge, for one H100).

On GKE a pool's nodes are all one machine type, the one `iac.compile.capacity.gke` chooses, so a
device there costs that machine's price ÷ its GPUs (or `gpu_hourly`), not the cheapest
machine's; `node_price` is what one of those nodes costs, as GKE bills it: whole.

Karpenter picks instance types when it launches nodes, so there a price is an estimate: the
cheapest instance the pool may launch (its `instance_types`, else any carrying the device)
on which a replica of the deployment fits whole (GPUs, CPU and memory), with each node as
full of such replicas as it can be. A replica of 4 A10Gs costs its share of a 4-GPU
instance, not four times the cheapest 1-GPU instance's price; `karpenter_nodes` says which
whole instances hold a number of them. List prices are on-demand ones, spot pools included
(a spot pool costs less; how much varies by hour and zone).
"""

from __future__ import annotations

from dataclasses import dataclass

from iac.catalog import catalog
from iac.compile.capacity.gke import pool_machine
from iac.compile.capacity.machines import Machine, Replica, per_node, pool_machines, replica_of
from iac.compile.release import Release
from iac.compile.release.node_pools import CLOUD_OF, PoolPlan
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator


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
        # (per device, per instance, basis): of equal prices per device, the smaller
        # instance, as `instance_price` chooses.
        offers: list[tuple[float, float, str]] = []
        overrides = (pricing.instance_hourly or {}) if pricing else {}
        for name, item in ((pricing.instance_types or {}) if pricing else {}).items():
            if parse_accelerator(item.accelerator)[0] == kind:
                stated = overrides.get(name, item.hourly)
                offers.append((stated / item.gpus, stated, f"{name} (stack)"))
        for instance in catalog().instances_for(cloud, kind):
            listed = overrides.get(instance.name, instance.hourly)
            if listed is not None:
                offers.append(
                    (listed / instance.gpus, listed, f"{cloud} {instance.name} on-demand")
                )
        if offers:
            per_device, _, basis = min(offers)
            return Price(per_device, basis)
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
    replica); None when none is priced and fits. Of equal prices per device, the smaller
    instance: the one Karpenter launches for a replica on its own."""
    offers = _instance_offers(pool, cloud, pricing, replica)
    if not offers:
        return None
    best = min(offers)
    return Price(best.per_device, best.basis)


@dataclass(frozen=True, order=True, slots=True)
class _Offer:
    """An instance type a pool may launch for a replica, in the order prices choose."""

    per_device: float
    """USD per device-hour, the node's price shared by the devices its replicas use."""
    hourly: float
    """USD per node-hour."""
    basis: str
    machine: Machine
    fits: int
    """Replicas one node holds (1 without a replica)."""


def _instance_offers(
    pool: PoolPlan, cloud: str, pricing: Pricing | None, replica: Replica | None
) -> list[_Offer]:
    """Each priced instance type the pool may launch that holds a replica."""
    stack_types = (pricing.instance_types or {}) if pricing else {}
    offers = []
    for machine in pool_machines(pool, pricing, cloud)[0]:
        if machine.hourly is None:
            continue
        used, note, fits = machine.gpus, "", 1
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
        offers.append(_Offer(machine.hourly / used, machine.hourly, where + note, machine, fits))
    return offers


def karpenter_nodes(
    pool: PoolPlan, cloud: str, pricing: Pricing | None, replica: Replica, count: int
) -> list[tuple[Machine, int, int]]:
    """The instances Karpenter launches for `count` replicas of one shape, as (instance
    type, nodes, replicas on them): full nodes of the type with the lowest price per
    replica (what `instance_price` prices the replica on), then the cheapest single
    instance that holds the rest. Empty when no priced instance type holds one."""
    offers = _instance_offers(pool, cloud, pricing, replica)
    if not offers or count <= 0:
        return []
    if pool.accelerator.mig is None:
        best = min(offers)
    else:  # slices: per replica, as `per_device` counts slices and GPUs alike
        best = min(offers, key=lambda o: (o.hourly / o.fits, o.hourly, o.basis))
    full, rest = divmod(count, best.fits)
    found = [(best.machine, full, full * best.fits)] if full else []
    if rest:
        holding = [o for o in offers if o.fits >= rest]
        last = min(holding, key=lambda o: (o.hourly, o.machine.gpus, o.basis))
        found.append((last.machine, 1, rest))
    return found


def _replicas(count: int) -> str:
    return f"{count} replica{'s' if count != 1 else ''}"

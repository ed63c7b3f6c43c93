"""Monthly cost of a release: a floor (min replicas always on) and a ceiling (max replicas),
per model and environment, from the catalog's prices and the stack's `pricing:`.

A replica costs its devices × the price of one device per hour. The device price is, in
order: the stack's `pricing.gpu_hourly`; the cheapest per-device price of a cloud instance
type carrying it (the stack's `pricing.instance_types` and `instance_hourly`, then the
catalog's), on the stack's cloud; Baseten's one-device price as a reference. A MIG slice
costs its share of a device. CPU-only replicas are not priced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iac.catalog import catalog
from iac.compile.coldstart import warm_chunks
from iac.compile.node_pools import CLOUD_OF
from iac.compile.release import DeploymentRelease, Release
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


def device_price(kind: str, cloud: str | None, pricing: Pricing | None) -> Price | None:
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
    cloud = (pricing.cloud if pricing and pricing.cloud else None) or CLOUD_OF.get(
        release.cluster.provisioner
    )
    lines: dict[tuple[str, str | None], list[float]] = {}
    unpriced: dict[tuple[str, str | None], set[str]] = {}
    for model in release.models.values():
        for deployment in model.deployments.values():
            key = (model.name, deployment.environment)
            totals = lines.setdefault(key, [0.0, 0.0])
            hourly = _replica_hourly(deployment, cloud, pricing, unpriced.setdefault(key, set()))
            if deployment.active:
                totals[0] += deployment.autoscaling.min_replicas * hourly * HOURS_PER_MONTH
                totals[1] += deployment.autoscaling.max_replicas * hourly * HOURS_PER_MONTH
    for chunk in warm_chunks(release):
        # Warm capacity runs all the time: its floor is its ceiling.
        price = device_price(chunk.pool.accelerator.name, cloud, pricing)
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


def _replica_hourly(
    deployment: DeploymentRelease, cloud: str | None, pricing: Pricing | None, unpriced: set[str]
) -> float:
    resources = deployment.container.resources
    if resources is None or resources.accelerator is None:
        return 0.0
    kind, count = parse_accelerator(resources.accelerator)
    price = device_price(kind, cloud, pricing)
    if price is None:
        unpriced.add(kind)
        return 0.0
    return price.hourly * count

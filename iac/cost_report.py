"""`iac cost`: the monthly floor (min replicas always on) and ceiling (max replicas) of a
stack, per model, environment, deployment and node pool; as text, markdown or JSON.

Prices are those of `iac.compile.pricing` (the stack's `pricing:` overrides; on GKE the
pool's machine type; else the cheapest cloud instance carrying the accelerator, else
Baseten's list price as a reference), so the totals per model and environment are exactly
`release_cost`'s, which `iac plan` shows as a change.

Capacity kept warm (`warm:`) has lines of its own, model `(warm capacity)`, named after
its placeholders: it runs all month, so its floor is its ceiling.

A line counts the GPUs its replicas request. GKE bills a pool's nodes whole, so for each
GKE pool the report also gives the fewest whole nodes the floor's and the ceiling's GPUs
fit on and what they cost: the idle GPUs of a partly filled node are there, not in the
totals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iac.compile.coldstart import warm_chunks
from iac.compile.node_pools import devices
from iac.compile.pricing import (
    HOURS_PER_MONTH,
    WARM_CAPACITY,
    deployment_unit_price,
    node_price,
    pricing_cloud,
    unit_price,
)
from iac.compile.release import Release
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator

FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True, slots=True)
class DeploymentCost:
    model: str
    environment: str | None
    deployment: str
    node_pool: str | None
    accelerator: str | None
    min_replicas: int
    max_replicas: int
    replica_hourly: float
    """USD per replica-hour (0: CPU only or unpriced)."""
    basis: str
    """Where the price comes from."""
    unpriced: bool

    @property
    def floor(self) -> float:
        return self.min_replicas * self.replica_hourly * HOURS_PER_MONTH

    @property
    def ceiling(self) -> float:
        return self.max_replicas * self.replica_hourly * HOURS_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "environment": self.environment,
            "deployment": self.deployment,
            "node_pool": self.node_pool,
            "accelerator": self.accelerator,
            "replicas": {"min": self.min_replicas, "max": self.max_replicas},
            "replica_hourly": round(self.replica_hourly, 4),
            "price_basis": self.basis,
            "floor": round(self.floor, 2),
            "ceiling": round(self.ceiling, 2),
        }


@dataclass(frozen=True, slots=True)
class PoolNodes:
    """A GKE pool's nodes, which GKE bills whole: the fewest the GPUs of its replicas fit on
    (a lower bound: it packs GPUs perfectly and leaves CPU and memory aside)."""

    node_pool: str
    machine: str
    devices_per_node: int
    node_hourly: float
    """USD per node-hour."""
    floor_devices: int
    """GPUs in use with min replicas (MIG slices rounded up to whole GPUs)."""
    ceiling_devices: int
    """GPUs in use at max replicas."""

    @property
    def floor_nodes(self) -> int:
        return math.ceil(self.floor_devices / self.devices_per_node)

    @property
    def ceiling_nodes(self) -> int:
        return math.ceil(self.ceiling_devices / self.devices_per_node)

    @property
    def floor(self) -> float:
        return self.floor_nodes * self.node_hourly * HOURS_PER_MONTH

    @property
    def ceiling(self) -> float:
        return self.ceiling_nodes * self.node_hourly * HOURS_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_pool": self.node_pool,
            "machine": self.machine,
            "gpus_per_node": self.devices_per_node,
            "node_hourly": round(self.node_hourly, 4),
            "floor": {"gpus": self.floor_devices, "nodes": self.floor_nodes,
                      "cost": round(self.floor, 2)},
            "ceiling": {"gpus": self.ceiling_devices, "nodes": self.ceiling_nodes,
                        "cost": round(self.ceiling, 2)},
        }  # fmt: skip

    def note(self) -> str:
        return (
            f"{self.node_pool}: {self.machine} nodes ({_gpus(self.devices_per_node)}, "
            f"${self.node_hourly:,.2f}/h) billed whole: floor {_gpus(self.floor_devices)} "
            f"on at least {_plural(self.floor_nodes, 'node')} ({_money(self.floor)}), ceiling "
            f"{_gpus(self.ceiling_devices)} on at least {_plural(self.ceiling_nodes, 'node')} "
            f"({_money(self.ceiling)})"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _gpus(count: int) -> str:
    return _plural(count, "GPU")


@dataclass(frozen=True, slots=True)
class CostReport:
    cloud: str | None
    lines: tuple[DeploymentCost, ...]
    """Active deployments, by model, environment, deployment."""
    inactive: int
    """Deactivated deployments (no replicas, no cost)."""
    nodes: tuple[PoolNodes, ...] = ()
    """GKE pools, whose nodes are billed whole (not in the totals)."""

    def groups(self, key: Callable[[DeploymentCost], str]) -> list[tuple[str, float, float]]:
        totals: dict[str, list[float]] = {}
        for line in self.lines:
            total = totals.setdefault(key(line), [0.0, 0.0])
            total[0] += line.floor
            total[1] += line.ceiling
        return [(name, floor, ceiling) for name, (floor, ceiling) in sorted(totals.items())]

    def by_environment(self) -> list[tuple[str, float, float]]:
        return self.groups(lambda line: f"{line.model} / {line.environment or '(none)'}")

    def by_pool(self) -> list[tuple[str, float, float]]:
        return self.groups(lambda line: line.node_pool or "(CPU only)")

    @property
    def floor(self) -> float:
        return sum(line.floor for line in self.lines)

    @property
    def ceiling(self) -> float:
        return sum(line.ceiling for line in self.lines)

    @property
    def unpriced(self) -> list[str]:
        return sorted(
            {
                parse_accelerator(line.accelerator)[0]
                for line in self.lines
                if line.unpriced and line.accelerator
            }
        )

    def to_dict(self) -> dict[str, Any]:
        def group(rows: list[tuple[str, float, float]], name: str) -> list[dict[str, Any]]:
            return [{name: n, "floor": round(f, 2), "ceiling": round(c, 2)} for n, f, c in rows]

        return {
            "currency": "USD",
            "period": f"month ({HOURS_PER_MONTH} h)",
            "cloud": self.cloud,
            "deployments": [line.to_dict() for line in self.lines],
            "environments": [
                {"model": m, "environment": e, "floor": round(f, 2), "ceiling": round(c, 2)}
                for (m, e), (f, c) in _by_model_env(self).items()
            ],
            "node_pools": group(self.by_pool(), "node_pool"),
            "total": {"floor": round(self.floor, 2), "ceiling": round(self.ceiling, 2)},
            "unpriced": self.unpriced,
            "inactive_deployments": self.inactive,
            "whole_nodes": [pool.to_dict() for pool in self.nodes],
        }


def _by_model_env(report: CostReport) -> dict[tuple[str, str | None], tuple[float, float]]:
    totals: dict[tuple[str, str | None], tuple[float, float]] = {}
    for line in report.lines:
        floor, ceiling = totals.get((line.model, line.environment), (0.0, 0.0))
        totals[(line.model, line.environment)] = (floor + line.floor, ceiling + line.ceiling)
    return totals


def cost_report(release: Release, pricing: Pricing | None) -> CostReport:
    cloud = pricing_cloud(release, pricing)
    lines = []
    inactive = 0
    for model in sorted(release.models.values(), key=lambda m: m.name):
        deployments = sorted(
            model.deployments.values(), key=lambda d: (d.environment or "~", d.name)
        )
        for deployment in deployments:
            if not deployment.active:
                inactive += 1
                continue
            resources = deployment.container.resources
            accelerator = resources.accelerator if resources else None
            hourly, basis, unpriced = 0.0, "CPU only: not priced", False
            if accelerator:
                kind, count = parse_accelerator(accelerator)
                price = deployment_unit_price(release, model.name, deployment.name, pricing)
                if price is None:
                    basis, unpriced = f"no price for {kind}", True
                else:
                    hourly = price.hourly * count
                    basis = _units_basis(count, price.basis)
            lines.append(
                DeploymentCost(
                    model=model.name,
                    environment=deployment.environment,
                    deployment=deployment.name,
                    node_pool=deployment.node_pool,
                    accelerator=accelerator,
                    min_replicas=deployment.autoscaling.min_replicas,
                    max_replicas=deployment.autoscaling.max_replicas,
                    replica_hourly=hourly,
                    basis=basis,
                    unpriced=unpriced,
                )
            )
    lines.extend(_warm_lines(release, pricing))
    return CostReport(cloud, tuple(lines), inactive, _whole_nodes(release, pricing, lines))


def _warm_lines(release: Release, pricing: Pricing | None) -> list[DeploymentCost]:
    """Capacity kept warm (`warm:` on pools and environments) runs all month: one line per
    placeholder group, its floor its ceiling, priced as `release_cost` prices it."""
    lines = []
    for chunk in warm_chunks(release, pricing):
        kind = chunk.pool.accelerator.name
        price = unit_price(release, kind, chunk.pool.name, pricing)
        what = f"{chunk.count} placeholder{'s' if chunk.count != 1 else ''}"
        lines.append(
            DeploymentCost(
                model=WARM_CAPACITY,
                environment=chunk.name,
                deployment=what,
                node_pool=chunk.pool.name,
                accelerator=f"{kind}:{chunk.units}" if chunk.units != 1 else kind,
                min_replicas=chunk.count,
                max_replicas=chunk.count,
                replica_hourly=price.hourly * chunk.units if price else 0.0,
                basis=_units_basis(chunk.units, price.basis) if price else f"no price for {kind}",
                unpriced=price is None,
            )
        )
    return lines


def _units_basis(count: int, basis: str) -> str:
    return basis if count == 1 else f"{count} × {basis}"


def _whole_nodes(
    release: Release, pricing: Pricing | None, lines: list[DeploymentCost]
) -> tuple[PoolNodes, ...]:
    found = []
    for pool in release.pools:
        node = node_price(release, pool, pricing)
        if node is None:  # not GKE, or no price for the pool's machine
            continue
        low = high = 0  # accelerator units (GPUs, or MIG slices)
        for line in lines:
            if line.node_pool == pool.name and line.accelerator:
                count = parse_accelerator(line.accelerator)[1]
                low += line.min_replicas * count
                high += line.max_replicas * count
        found.append(
            PoolNodes(
                node_pool=pool.name,
                machine=node.machine,
                devices_per_node=node.devices,
                node_hourly=node.hourly,
                floor_devices=devices(pool.accelerator, low),
                ceiling_devices=devices(pool.accelerator, high),
            )
        )
    return tuple(found)


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _rows(report: CostReport) -> tuple[list[str], list[list[str]]]:
    headers = [
        "model",
        "environment",
        "deployment",
        "node pool",
        "accelerator",
        "replicas",
        "$/replica-h",
        "floor",
        "ceiling",
    ]
    rows = [
        [
            line.model,
            line.environment or "-",
            line.deployment,
            line.node_pool or "-",
            line.accelerator or "CPU",
            f"{line.min_replicas}..{line.max_replicas}",
            "-" if line.unpriced or not line.replica_hourly else f"${line.replica_hourly:.2f}",
            _money(line.floor),
            _money(line.ceiling),
        ]
        for line in report.lines
    ]
    return headers, rows


def _title(stack: str, report: CostReport) -> str:
    where = f", {report.cloud} prices" if report.cloud else ""
    return f"iac cost {stack} (USD per month of {HOURS_PER_MONTH} h{where})"


def _notes(report: CostReport) -> list[str]:
    notes = ["floor: min replicas always on; ceiling: max replicas all month"]
    bases = sorted({line.basis for line in report.lines if line.replica_hourly})
    if bases:
        notes.append("prices: " + "; ".join(bases))
    if report.nodes:
        notes.append(
            "lines count the GPUs replicas request, at the pool's machine price per GPU; "
            "the idle GPUs of a partly filled node are billed too and are not in the totals"
        )
        notes += [pool.note() for pool in report.nodes]
    if report.unpriced:
        notes.append("no price for " + ", ".join(report.unpriced) + " (counted as $0)")
    if report.inactive:
        notes.append(f"{report.inactive} deactivated deployment(s): no replicas, no cost")
    return notes


def to_text(stack: str, report: CostReport, style: Callable[..., str] | None = None) -> str:
    paint = style or (lambda text, **_: text)
    headers, rows = _rows(report)
    right = {5, 6, 7, 8}
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [paint(_title(stack, report), bold=True), "", paint(line(headers), bold=True)]
    out += [line(r) for r in rows]
    for title, groups in (
        ("by environment", report.by_environment()),
        ("by node pool", report.by_pool()),
    ):
        out += ["", paint(title, bold=True)]
        width = max((len(n) for n, _, _ in groups), default=0)
        out += [
            f"  {n.ljust(width)}  floor {_money(f):>10}  ceiling {_money(c):>10}"
            for n, f, c in groups
        ]
    out += [
        "",
        paint(f"total: floor {_money(report.floor)}, ceiling {_money(report.ceiling)}", bold=True),
    ]
    out += [f"  {note}" for note in _notes(report)]
    return "\n".join(out) + "\n"


def to_markdown(stack: str, report: CostReport) -> str:
    headers, rows = _rows(report)
    out = [f"### {_title(stack, report)}", ""]
    out.append("| " + " | ".join(headers) + " |")
    out.append("|" + "---|" * 5 + "---:|" * 4)
    out += ["| " + " | ".join(r) + " |" for r in rows]
    for title, groups, name in (
        ("By environment", report.by_environment(), "model / environment"),
        ("By node pool", report.by_pool(), "node pool"),
    ):
        out += ["", f"**{title}**", "", f"| {name} | floor | ceiling |", "|---|---:|---:|"]
        out += [f"| {n} | {_money(f)} | {_money(c)} |" for n, f, c in groups]
    out += ["", f"**Total**: floor {_money(report.floor)}, ceiling {_money(report.ceiling)}", ""]
    out += [f"- {note}" for note in _notes(report)]
    return "\n".join(out) + "\n"


def to_json(report: CostReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"

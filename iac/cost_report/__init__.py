"""`iac cost`: the monthly floor (min replicas always on) and ceiling (max replicas) of a
stack, per model, environment, deployment and node pool; as text, markdown or JSON.

Prices are those of `iac.compile.capacity.pricing` (the stack's `pricing:` overrides; on GKE the
pool's machine type; else the cheapest cloud instance carrying the accelerator, else
Baseten's list price as a reference), so the totals per model and environment are exactly
`release_cost`'s, which `iac plan` shows as a change.

A chain's chainlets run as models (`<chain>-<chainlet>`, docs/chains.md), so each has its
lines; `by chain` groups them: per environment of the chain its chainlets' totals, and the
chain's total (what the chain costs: the sum of its chainlets' lines; a pool's whole nodes
are shared by whatever runs there, so they are not a chain's).

Capacity kept warm (`warm:`) has lines of its own, model `(warm capacity)`, named after
its placeholders: it runs all month, so its floor is its ceiling.

A line counts the GPUs its replicas request. Where the provisioner buys whole machines
(GKE node pools, Karpenter's instances), each pool whose nodes cost more than its lines
has a `(whole nodes)` line for the difference (a partly filled node's idle GPUs are
billed too), so the totals by node pool are what its nodes cost, and the stack's total is
what the cloud bills (`iac.compile.capacity.pricing.whole_nodes`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iac.compile.capacity.coldstart import warm_chunks
from iac.compile.capacity.pricing import (
    HOURS_PER_MONTH,
    WARM_CAPACITY,
    WHOLE_NODES,
    NodeGroup,
    PoolBill,
    deployment_unit_price,
    pricing_cloud,
    unit_price,
    whole_nodes,
)
from iac.compile.release import Release
from iac.cost_report.chains import ChainCost, by_chain, chain_rows
from iac.reports import Style
from iac.spec.resolved import ChainMember
from iac.spec.stack import Pricing
from iac.spec.types import parse_accelerator


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
    amounts: tuple[float, float] | None = None
    """Floor and ceiling set outright (a pool's whole nodes) instead of replicas × price."""

    @property
    def floor(self) -> float:
        if self.amounts is not None:
            return self.amounts[0]
        return self.min_replicas * self.replica_hourly * HOURS_PER_MONTH

    @property
    def ceiling(self) -> float:
        if self.amounts is not None:
            return self.amounts[1]
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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _gpus(count: int) -> str:
    return _plural(count, "GPU")


def _group_dict(pool: PoolBill, group: NodeGroup) -> dict[str, Any]:
    return {
        "node_pool": pool.pool,
        "machine": group.machine,
        "gpus_per_node": group.devices,
        "node_hourly": round(group.hourly, 4),
        "price_basis": group.basis,
        "floor": {"gpus": group.floor_devices, "nodes": group.floor_nodes,
                  "cost": round(group.floor, 2)},
        "ceiling": {"gpus": group.ceiling_devices, "nodes": group.ceiling_nodes,
                    "cost": round(group.ceiling, 2)},
    }  # fmt: skip


def _pool_note(pool: PoolBill, accelerator: str) -> str:
    """`gpu-h100: a3-highgpu-8g nodes (8 GPUs, $88.49/h): floor 1 node for 1 GPU requested,
    7 idle ($64,598), ceiling 1 node for 6 GPUs, 2 idle ($64,598)`"""
    parts = []
    for group in pool.groups:
        floor_idle, ceiling_idle = group.idle
        floor = _nodes_for(group, accelerator, 0, floor_idle, " requested")
        ceiling = _nodes_for(group, accelerator, 1, ceiling_idle)
        parts.append(
            f"{group.machine} nodes ({_gpus(group.devices)}, ${group.hourly:,.2f}/h): floor "
            f"{floor}, ceiling {ceiling}"
        )
    note = f"{pool.pool}: " + "; ".join(parts)
    if pool.capped:
        nodes = sum(group.ceiling_nodes for group in pool.groups)
        note += (
            f"; its max_gpus caps it at {_plural(nodes, 'node')}: the ceiling's replicas "
            "beyond them stay pending, unbilled"
        )
    return note


def _nodes_for(group: NodeGroup, accelerator: str, at: int, idle: int, requested: str = "") -> str:
    """`1 node for 1 GPU requested, 7 idle ($64,598)` at the floor (0) or ceiling (1)."""
    count = (group.floor_nodes, group.ceiling_nodes)[at]
    if not count:
        return "none"
    units = (group.floor_units, group.ceiling_units)[at]
    asked = _gpus(units) if group.slices == 1 else f"{units} × {accelerator}"
    spare = f", {idle} idle" if idle > 0 else ""
    if idle < 0:  # capped by the pool's max_gpus
        spare = f", {-idle} of them without room"
    cost = (group.floor, group.ceiling)[at]
    return f"{_plural(count, 'node')} for {asked}{requested}{spare} ({_money(cost)})"


@dataclass(frozen=True, slots=True)
class CostReport:
    cloud: str | None
    lines: tuple[DeploymentCost, ...]
    """Active deployments, by model, environment, deployment; then warm capacity and the
    pools' whole nodes."""
    inactive: int
    """Deactivated deployments (no replicas, no cost)."""
    nodes: tuple[PoolBill, ...] = ()
    """Pools whose provisioner buys whole machines: the nodes they are billed for."""
    provisioner: str = "existing"
    accelerators: Mapping[str, str] = field(default_factory=dict)
    """Each pool's accelerator type."""
    chains: Mapping[str, ChainMember] = field(default_factory=dict)
    """The models that are chainlets, by model name."""

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

    def by_chain(self) -> list[ChainCost]:
        """Each chain (by name): its total, and per environment its chainlets' totals."""
        return by_chain(self.lines, self.chains)

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
            "basis": _basis(self),
            "deployments": [line.to_dict() for line in self.lines],
            "environments": [
                {"model": m, "environment": e, "floor": round(f, 2), "ceiling": round(c, 2)}
                for (m, e), (f, c) in _by_model_env(self).items()
            ],
            "node_pools": group(self.by_pool(), "node_pool"),
            "total": {"floor": round(self.floor, 2), "ceiling": round(self.ceiling, 2)},
            "unpriced": self.unpriced,
            "inactive_deployments": self.inactive,
            "whole_nodes": [_group_dict(pool, g) for pool in self.nodes for g in pool.groups],
            "chains": [chain.to_dict() for chain in self.by_chain()],
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
    bills = tuple(whole_nodes(release, pricing))
    lines.extend(_whole_node_lines(release, bills))
    kinds = {pool.name: pool.accelerator.name for pool in release.pools}
    chains = {m.name: m.chain for m in release.models.values() if m.chain is not None}
    return CostReport(
        cloud, tuple(lines), inactive, bills, release.cluster.provisioner, kinds, chains
    )


def _whole_node_lines(release: Release, bills: tuple[PoolBill, ...]) -> list[DeploymentCost]:
    """A line per pool whose nodes cost more than its replicas' lines: the difference, as
    `release_cost` counts it (model `(whole nodes)`, environment the pool)."""
    kinds = {pool.name: pool.accelerator.name for pool in release.pools}
    lines = []
    for bill in bills:
        floor, ceiling = bill.unused
        if not (round(floor, 2) or round(ceiling, 2)):
            continue
        kind = kinds[bill.pool]
        floors = sum(g.floor_nodes for g in bill.groups)
        ceilings = sum(g.ceiling_nodes for g in bill.groups)
        machines = bill.groups[0].machine if len(bill.groups) == 1 else "nodes"
        lines.append(
            DeploymentCost(
                model=WHOLE_NODES,
                environment=bill.pool,
                deployment=f"{floors}..{ceilings} {machines}",
                node_pool=bill.pool,
                accelerator=kind,
                min_replicas=0,
                max_replicas=0,
                replica_hourly=0.0,
                basis="whole nodes beyond the replicas' lines",
                unpriced=False,
                amounts=(floor, ceiling),
            )
        )
    return lines


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


def _money(value: float) -> str:
    """`$1,246`, `-$1,246` (a pool's whole nodes under a `max_gpus` cap)."""
    return f"{'-' if round(value) < 0 else ''}${abs(value):,.0f}"


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
            "-" if line.amounts is not None else f"{line.min_replicas}..{line.max_replicas}",
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


_BASIS = {
    "gke": (
        "billed by the node: GKE bills a node pool's machines whole, so GPUs no replica "
        "requests on a partly filled node are billed too; a pool's (whole nodes) line is "
        "what its nodes cost beyond its replicas' lines, and each node pool's total is what "
        "its nodes cost"
    ),
    "karpenter": (
        "billed by the node: Karpenter launches whole instances, estimated per replica shape "
        "as full nodes of the type with the lowest price per replica and the cheapest "
        "instance that holds the rest; a pool's (whole nodes) line is what they cost beyond "
        "its replicas' lines, and each node pool's total is what its nodes cost"
    ),
    "existing": (
        "existing nodes: each replica counts the GPUs it requests at the prices below; the "
        "nodes are billed to whoever runs them, whole"
    ),
}


def _basis(report: CostReport) -> str:
    """What the figures count, for the provisioner: whole nodes, or GPUs requested."""
    if report.provisioner in ("gke", "karpenter") and not report.nodes:
        return (
            "GPUs requested at the prices below: no machine price is known for the pools' "
            "nodes, which are billed whole"
        )
    return _BASIS.get(report.provisioner, _BASIS["existing"])


def _notes(report: CostReport) -> list[str]:
    notes = ["floor: min replicas always on; ceiling: max replicas all month", _basis(report)]
    notes += [_pool_note(pool, report.accelerators.get(pool.pool, "")) for pool in report.nodes]
    bases = sorted({line.basis for line in report.lines if line.replica_hourly})
    if bases:
        notes.append("prices: " + "; ".join(bases))
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
    sections = [("by environment", report.by_environment())]
    chains = chain_rows(report.by_chain())
    if chains:
        sections.append(("by chain", chains))
    sections.append(("by node pool", report.by_pool()))
    for title, groups in sections:
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
    sections = [("By environment", report.by_environment(), "model / environment")]
    chains = chain_rows(report.by_chain(), nested=False)
    if chains:
        sections.append(("By chain", chains, "chain / environment / chainlet"))
    sections.append(("By node pool", report.by_pool(), "node pool"))
    for title, groups, name in sections:
        out += ["", f"**{title}**", "", f"| {name} | floor | ceiling |", "|---|---:|---:|"]
        out += [f"| {n} | {_money(f)} | {_money(c)} |" for n, f, c in groups]
    out += ["", f"**Total**: floor {_money(report.floor)}, ceiling {_money(report.ceiling)}", ""]
    out += [f"- {note}" for note in _notes(report)]
    return "\n".join(out) + "\n"


def to_json(report: CostReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


@dataclass(frozen=True)
class CostView:
    """What `iac cost` prints for one stack file (`iac.reports.Report`)."""

    stack: str
    report: CostReport

    def text(self, style: Style) -> str:
        return to_text(self.stack, self.report, style)

    def markdown(self) -> str:
        return to_markdown(self.stack, self.report)

    def json(self) -> str:
        return to_json(self.report)

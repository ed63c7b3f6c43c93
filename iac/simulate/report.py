"""A simulation as text (a terminal), markdown (a pull-request comment) or JSON (CI)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iac.reports import Style
from iac.simulate import HOURS_PER_MONTH, Simulation, delta
from iac.simulate.flow import FloatArray
from iac.simulate.setup import Setup
from iac.simulate.trace import Trace
from iac.spec.types import format_duration

_BARS = " ▁▂▃▄▅▆▇█"
_NAMES = {"compiled": "as compiled", "baseten": "Baseten §5.2"}


@dataclass(frozen=True, slots=True)
class Report:
    stack: str
    model: str
    environment: str
    trace: Trace
    setups: tuple[Setup, ...]
    simulations: tuple[Simulation, ...]
    base_stack: str | None = None
    base_setups: tuple[Setup, ...] = ()

    def column(self, simulation: Simulation) -> str:
        name = _NAMES.get(simulation.algorithm, simulation.algorithm)
        return f"{simulation.label} {name}" if self.base_stack else name

    def comparisons(self) -> list[tuple[str, Simulation | None, Simulation]]:
        """(algorithm, base, head) pairs when a base stack is given."""
        if not self.base_stack:
            return []
        found = []
        for head in self.simulations:
            if head.label != "head":
                continue
            base = next(
                (
                    s
                    for s in self.simulations
                    if s.label == "base" and s.algorithm == head.algorithm
                ),
                None,
            )
            found.append((head.algorithm, base, head))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base_stack": self.base_stack,
            "model": self.model,
            "environment": self.environment,
            "trace": {
                "source": self.trace.source,
                "seconds": self.trace.seconds,
                "requests": round(self.trace.requests, 1),
                "mean_duration": round(self.trace.mean_duration, 3),
            },
            "deployments": {
                "head": [setup_dict(s) for s in self.setups],
                **({"base": [setup_dict(s) for s in self.base_setups]} if self.base_stack else {}),
            },
            "runs": [
                {
                    "stack": s.label,
                    "algorithm": s.algorithm,
                    "summary": s.summary(),
                    "deployments": {
                        r.setup.deployment: Simulation(s.label, s.algorithm, (r,)).summary()
                        for r in s.runs
                    },
                    "replicas_per_minute": per_minute(s.pods()),
                    "warnings": s.warnings,
                }
                for s in self.simulations
            ],
            "delta": {
                algorithm: delta(base.summary() if base else None, head.summary())
                for algorithm, base, head in self.comparisons()
            }
            or None,
        }


def setup_dict(setup: Setup) -> dict[str, Any]:
    return {
        "deployment": setup.deployment,
        "share": round(setup.share, 4),
        "slots_per_replica": setup.slots,
        "accelerator": setup.accelerator,
        "gpus_per_replica": setup.gpus,
        "replica_hourly": round(setup.hourly, 4),
        "price_basis": setup.price_basis,
        "billed_as": setup.nodes_basis or None,
        "cold_start": setup.cold.to_dict(),
        "autoscaler": setup.scaler.to_dict(),
    }


def per_minute(series: FloatArray) -> list[int]:
    """The most replicas in each minute."""
    minutes = -(-series.size // 60)
    padded = np.zeros(minutes * 60)
    padded[: series.size] = series
    return [int(v) for v in padded.reshape(minutes, 60).max(axis=1)] if minutes else []


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


# Figures ---------------------------------------------------------------------------------

ROWS: tuple[tuple[str, str, Callable[[dict[str, Any]], str]], ...] = (
    ("peak", "peak replicas", lambda s: f"{s['peak_replicas']}"),
    ("hours", "replica-hours", lambda s: f"{s['replica_hours']:,.1f}"),
    ("gpu", "GPU-hours (billed)", lambda s: f"{s['gpu_hours']:,.1f}"),
    ("cost", "cost over the trace", lambda s: f"${s['cost']:,.2f}"),
    ("month", f"cost per month ({HOURS_PER_MONTH} h)", lambda s: f"${s['cost_per_month']:,.0f}"),
    ("served", "requests served", lambda s: f"{s['served']:,.0f} of {s['requests']:,.0f}"),
    (
        "wait",
        "queue wait p50 / p95 / p99",
        lambda s: f"{s['wait_p50']:g} / {s['wait_p95']:g} / {s['wait_p99']:g} s",
    ),
    ("cold", "waited for a cold start", lambda s: _count(s["waited_cold"], s["requests"])),
    ("timeouts", "timed out (held too long)", lambda s: _count(s["timeouts"], s["requests"])),
    ("starts", "cold starts (from zero)", lambda s: f"{s['cold_starts']} ({s['activations']})"),
)
_DELTA: dict[str, Callable[[dict[str, float]], str]] = {
    "peak": lambda d: _signed(d["peak_replicas"], "{:+g}"),
    "hours": lambda d: _signed(d["replica_hours"], "{:+,.1f}"),
    "gpu": lambda d: _signed(d["gpu_hours"], "{:+,.1f}"),
    "cost": lambda d: _money_delta(d["cost"], 2),
    "month": lambda d: _money_delta(d["cost_per_month"], 0),
    "served": lambda d: _signed(d["served"], "{:+,.0f}"),
    "wait": lambda d: (
        " / ".join(_signed(d[k], "{:+g}") for k in ("wait_p50", "wait_p95", "wait_p99")) + " s"
        if any(d[k] for k in ("wait_p50", "wait_p95", "wait_p99"))
        else "0"
    ),
    "cold": lambda d: _signed(d["waited_cold"], "{:+,.0f}"),
    "timeouts": lambda d: _signed(d["timeouts"], "{:+,.0f}"),
    "starts": lambda d: _signed(d["cold_starts"], "{:+g}"),
}


def _count(value: float, total: float) -> str:
    if not value:
        return "0"
    share = 100 * value / total if total else 0.0
    return f"{value:,.0f} ({share:.2g} %)"


def _signed(value: float, fmt: str) -> str:
    return fmt.format(value) if value else "0"


def _money_delta(value: float, digits: int) -> str:
    if not value:
        return "0"
    return f"{'+' if value > 0 else '-'}${abs(value):,.{digits}f}"


def _table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Column headers and rows (label, value per simulation, then the change)."""
    summaries = [s.summary() for s in report.simulations]
    headers = ["", *(report.column(s) for s in report.simulations)]
    comparisons = report.comparisons()
    deltas = [
        delta(base.summary() if base else None, head.summary()) for _, base, head in comparisons
    ]
    if comparisons:
        headers += [
            f"change {_NAMES.get(a, a)}" if len(comparisons) > 1 else "change"
            for a, _, _ in comparisons
        ]
    rows = []
    for key, label, cell in ROWS:
        rows.append([label, *(cell(s) for s in summaries), *(_DELTA[key](d) for d in deltas)])
    return headers, rows


def describe(report: Report) -> list[tuple[str, str]]:
    trace = report.trace
    lines = [
        (
            "trace",
            f"{trace.source}: {span(trace.seconds)}, {trace.requests:,.0f} requests, "
            f"{trace.mean_duration:.3g} s each on average",
        )
    ]
    head = "head " if report.base_stack else ""
    for label, setups in ((head, report.setups), ("base ", report.base_setups)):
        for setup in setups:
            where = f"{label}{setup.deployment}"
            share = f" ({setup.share:.0%} of traffic)" if setup.share < 1 else ""
            lines.append(
                (
                    "serving",
                    f"{where}{share}: {setup.slots} requests at once per replica "
                    f"(concurrency_target); {setup.accelerator or 'CPU'} at "
                    f"${setup.hourly:.2f} per replica-hour ({setup.price_basis})"
                    + (f"; billed as {setup.nodes_basis}" if setup.nodes_basis else ""),
                )
            )
            cold = setup.cold
            warm = (
                f"; {cold.on_warm_node:g} s on a node emptied less than "
                f"{format_duration(int(cold.node_grace))} ago"
                if not math.isinf(cold.node_grace)
                else f"; {cold.on_warm_node:g} s on a node that ran it before"
            )
            first = cold.on_new_node if cold.nodes_ours else cold.on_free_gpu
            lines.append(
                (
                    "cold start",
                    f"{first:g} s on a {'new node' if cold.nodes_ours else 'free GPU'} = "
                    + " + ".join(
                        part
                        for part in cold.describe()
                        if cold.nodes_ours or not part.startswith("node")
                    )
                    + warm,
                )
            )
            lines.append(("autoscaler", setup.scaler.describe()))
            if any(s.algorithm == "baseten" for s in report.simulations) and label == head:
                a = setup.scaler.settings
                lines.append(
                    (
                        "Baseten §5.2",
                        f"ceil(load averaged over {format_duration(a.autoscaling_window)} / "
                        f"{a.target_per_replica:g}), up at once; down after "
                        f"{format_duration(a.scale_down_delay)} below, at most "
                        f"{a.max_scale_down_rate} % per step, a full delay apart",
                    )
                )
    return lines


def span(seconds: float) -> str:
    """A duration for a reader: `24h`, `90m`, `23.5 h`, `45s`."""
    if seconds >= 3600 and seconds % 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60 and seconds % 60 and seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return format_duration(int(seconds))


def sparkline(series: FloatArray, width: int, top: float) -> str:
    """`series` in `width` columns, each the highest value of its stretch, scaled to `top`."""
    if series.size == 0 or top <= 0:
        return ""
    edges = np.linspace(0, series.size, min(width, series.size) + 1).astype(int)
    peaks = np.maximum.reduceat(series, edges[:-1])
    levels = np.ceil(np.clip(peaks / top, 0, 1) * (len(_BARS) - 1)).astype(int)
    return "".join(_BARS[i] for i in levels)


def _charts(report: Report, width: int) -> list[str]:
    if not report.simulations:
        return []
    seconds = report.simulations[0].seconds
    column = span(max(1, round(seconds / max(1, min(width, seconds)))))
    pods = [(report.column(s), s.pods()) for s in report.simulations]
    top = max(max((float(p.max()) for _, p in pods if p.size), default=1.0), 1.0)
    # The stack under review: with a base, the head's first run.
    main = next((s for s in report.simulations if s.label == "head"), report.simulations[0])
    flow, waiting = main.in_flight(), main.queued()
    peak_flow = float(flow.max()) if flow.size else 0.0
    peak_wait = float(waiting.max()) if waiting.size else 0.0
    label = max(len(name) for name, _ in pods + [("in flight", flow)])
    lines = [
        f"over {span(seconds)} (one column = {column}; bars scaled to the peak)",
        *(
            f"{name.ljust(label)}  {sparkline(p, width, top)}  replicas, peak {int(p.max())}"
            for name, p in pods
        ),
        f"{'in flight'.ljust(label)}  {sparkline(flow, width, peak_flow)}  "
        f"requests ({report.column(main)}), peak {peak_flow:,.0f}",
    ]
    if peak_wait > 0:
        lines.append(
            f"{'waiting'.ljust(label)}  {sparkline(waiting, width, peak_wait)}  "
            f"requests ({report.column(main)}), peak {peak_wait:,.0f}"
        )
    return lines


def to_text(report: Report, style: Callable[..., str] | None = None, width: int = 72) -> str:
    paint = style or (lambda text, **_: text)
    title = f"iac simulate {report.stack}: {report.model} / {report.environment}"
    if report.base_stack:
        title += f" against {report.base_stack}"
    lines = [paint(title, bold=True), ""]
    described = describe(report)
    key_width = max(len(k) for k, _ in described)
    lines += [f"{k.ljust(key_width)}  {v}" for k, v in described]
    lines.append("")
    headers, rows = _table(report)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines.append(
        paint(
            "  ".join(
                h.ljust(w) if i == 0 else h.rjust(w)
                for i, (h, w) in enumerate(zip(headers, widths, strict=True))
            ),
            bold=True,
        )
    )
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    lines.append("")
    lines += _charts(report, width)
    for simulation in report.simulations:
        for warning in simulation.warnings:
            lines.append(paint(f"warning: {warning}", fg="yellow"))
    return "\n".join(lines) + "\n"


def to_markdown(report: Report) -> str:
    title = f"### iac simulate: `{report.model}` / `{report.environment}`"
    lines = [title, ""]
    lines += [f"- **{k}**: {v}" for k, v in describe(report)]
    lines.append("")
    headers, rows = _table(report)
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|---" + "|---:" * (len(headers) - 1) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.append("```")
    lines += _charts(report, 60)
    lines.append("```")
    for simulation in report.simulations:
        for warning in simulation.warnings:
            lines.append(f"> **warning**: {warning}")
    return "\n".join(lines) + "\n"


# For `iac plan` -----------------------------------------------------------------------------


def delta_lines(found: dict[str, Any]) -> list[str]:
    """One block of text lines for a plan: a `simulate_delta` result."""
    head, base, change = found["head"], found["base"], found["delta"]
    where = f"{found['model']} / {found['environment']}"
    trace = found["trace"]
    lines = [
        f"Simulated {where} under {trace['source']} "
        f"({span(trace['seconds'])}, {trace['requests']:,.0f} requests):"
    ]
    for key, label, cell in ROWS:
        if key in ("served",):
            continue
        before = cell(base) if base else "-"
        lines.append(f"  {label}: {before} → {cell(head)} ({_DELTA[key](change)})")
    return lines


def delta_markdown(found: dict[str, Any]) -> list[str]:
    """The same as a markdown table."""
    head, base, change = found["head"], found["base"], found["delta"]
    trace = found["trace"]
    lines = [
        f"**Simulated** `{found['model']}` / `{found['environment']}` under "
        f"`{trace['source']}` ({span(trace['seconds'])}, "
        f"{trace['requests']:,.0f} requests)",
        "",
        "| | base | head | change |",
        "|---|---:|---:|---:|",
    ]
    for key, label, cell in ROWS:
        if key == "served":
            continue
        lines.append(
            f"| {label} | {cell(base) if base else '-'} | {cell(head)} | {_DELTA[key](change)} |"
        )
    return lines


def report_for(
    stack: str,
    model: str,
    environment: str,
    trace: Trace,
    setups: Sequence[Setup],
    simulations: Sequence[Simulation],
    base_stack: str | None = None,
    base_setups: Sequence[Setup] = (),
) -> Report:
    return Report(
        stack,
        model,
        environment,
        trace,
        tuple(setups),
        tuple(simulations),
        base_stack,
        tuple(base_setups),
    )


@dataclass(frozen=True)
class SimulationView:
    """What `iac simulate` prints (`iac.reports.Report`)."""

    report: Report

    def text(self, style: Style) -> str:
        return to_text(self.report, style)

    def markdown(self) -> str:
        return to_markdown(self.report)

    def json(self) -> str:
        return to_json(self.report)

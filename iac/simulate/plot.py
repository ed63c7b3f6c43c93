"""The PNG of `iac simulate --plot FILE`: load and waiting requests above, replicas below.

matplotlib is an optional dependency (`pip install 'iac[plot]'`); without it the plot is
refused with that instruction and the rest of the command still works.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from iac.errors import IacError
from iac.simulate.flow import FloatArray
from iac.simulate.report import Report

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise IacError(
            "--plot needs matplotlib: pip install 'iac[plot]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def _per_minute(series: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Hours, mean and peak of each minute."""
    minutes = -(-series.size // 60)
    padded = np.zeros(minutes * 60)
    padded[: series.size] = series
    shaped = padded.reshape(minutes, 60)
    return np.arange(minutes) / 60, shaped.mean(axis=1), shaped.max(axis=1)


def write_plot(report: Report, path: str | Path, width: float = 11.0) -> None:
    plt = _pyplot()
    simulations = report.simulations
    if not simulations:
        raise IacError("nothing simulated to plot")
    seconds = simulations[0].seconds
    hours = np.arange(seconds) / 3600
    figure, (load, replicas) = plt.subplots(
        2, 1, figsize=(width, 6.2), sharex=True, height_ratios=(1.2, 1)
    )
    title = f"{report.model} / {report.environment}: {report.trace.source}"
    if report.base_stack:
        title += f" ({report.base_stack} → {report.stack})"
    figure.suptitle(title, fontsize=11)

    for index, simulation in enumerate(simulations):
        name = report.column(simulation)
        color = _COLORS[index % len(_COLORS)]
        summary = simulation.summary()
        if index == 0 or (report.base_stack and simulation.algorithm == "compiled"):
            at, mean, peak = _per_minute(simulation.in_flight())
            load.fill_between(at, 0, peak, color=color, alpha=0.15, linewidth=0)
            load.plot(at, mean, color=color, linewidth=1.0, label=f"in flight, {name}")
            at, _, waiting = _per_minute(simulation.queued())
            if waiting.max(initial=0) > 0:
                load.fill_between(
                    at, 0, waiting, color=color, alpha=0.5, step="post", label=f"waiting, {name}"
                )
        label = (
            f"{name}: {summary['gpu_hours']:,.0f} GPU-h, ${summary['cost']:,.0f}, "
            f"p99 wait {summary['wait_p99']:g} s, {summary['cold_starts']} cold starts"
        )
        replicas.step(
            hours,
            simulation.pods(),
            where="post",
            color=color,
            linewidth=1.4 if index == 0 else 1.0,
            linestyle="-" if index == 0 else "--",
            label=label,
        )
    _label_axes(load, replicas, report, hours)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _label_axes(load: Any, replicas: Any, report: Report, hours: FloatArray) -> None:
    """Titles, legends, grids and limits of the two plots."""
    capacity = sum(s.slots * s.scaler.max_replicas for s in report.setups)
    load.set_ylabel("requests")
    load.legend(loc="upper left", fontsize=8, frameon=False)
    load.grid(alpha=0.3)
    load.set_title(
        "requests in flight (in service + waiting): mean of each minute, shaded to its peak; "
        f"{capacity} served at once at max replicas",
        fontsize=9,
        loc="left",
    )
    replicas.set_ylabel("replicas")
    replicas.set_xlabel("hours")
    replicas.legend(loc="upper left", fontsize=8, frameon=False)
    replicas.grid(alpha=0.3)
    top = max(float(s.pods().max(initial=0)) for s in report.simulations)
    replicas.set_ylim(0, top + 1)
    replicas.set_xlim(0, max(hours[-1], 1e-3) if hours.size else 1)

"""`iac simulate`: replay a traffic trace against a stack's autoscaling, as compiled.

    replay.py       what `iac simulate` runs: the trace read, stacks compiled, runs, report
    sources.py      what a `--trace` value names: a generator or a CSV file
    trace.py        a trace's arrays; request or rate CSVs
    generators.py   seeded synthetic traffic (steady, poisson, diurnal, bursts)
    setup.py        per deployment: the compiled autoscaler, serving slots, cold start, price
    autoscalers.py  KEDA + HPA as compiled; Baseten's documented algorithm for comparison
    engine.py       the serving model, second by second, with the fast path
    run_state.py    one run's state (replicas, queue, counts) and the result built from it
    replicas.py     replicas starting, ready and removed; nodes and what is paid for
    flow.py         the free flow (in flight had nothing waited), in reused buffers
    result.py       one run's events, waits and the figures read from them
    report.py       text, markdown and JSON; plot.py: the PNG
    chain.py        a chain: the trace at its entrypoint, fanned out to the chainlets it calls
    chain_report.py a chain's simulation as text, markdown and JSON

`simulate()` runs one model's environment (every deployment of its traffic split, each with
its share of the trace); `simulate_delta()` compares a base and a head release for `iac plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iac.compile import Compiled
from iac.errors import IacError
from iac.simulate.autoscalers import Autoscaler, Baseten, KedaHpa
from iac.simulate.engine import run
from iac.simulate.flow import FloatArray
from iac.simulate.result import RunResult, percentile
from iac.simulate.setup import Params, Setup, default_environment, default_model, setup_for
from iac.simulate.trace import Trace
from iac.spec.stack import Pricing

__all__ = [
    "ALGORITHMS",
    "Params",
    "Simulation",
    "Trace",
    "default_environment",
    "default_model",
    "simulate",
    "simulate_delta",
]

ALGORITHMS = ("compiled", "baseten")
HOURS_PER_MONTH = 730


@dataclass(frozen=True, slots=True)
class Simulation:
    """One environment of one stack under a trace, by one autoscaler: a run per deployment
    of its traffic split."""

    label: str
    """Which stack: `head` or `base`."""
    algorithm: str
    runs: tuple[RunResult, ...]

    @property
    def seconds(self) -> int:
        return self.runs[0].seconds if self.runs else 0

    @property
    def waits(self) -> FloatArray:
        size = max((r.waits.size for r in self.runs), default=1)
        total = np.zeros(size)
        for r in self.runs:
            total[: r.waits.size] += r.waits
        return total

    def pods(self) -> FloatArray:
        """Replicas of all its deployments, per second."""
        return np.sum([r.pods() for r in self.runs], axis=0) if self.runs else np.zeros(0)

    def in_flight(self) -> FloatArray:
        return np.sum([r.in_flight() for r in self.runs], axis=0) if self.runs else np.zeros(0)

    def queued(self) -> FloatArray:
        return np.sum([r.queued() for r in self.runs], axis=0) if self.runs else np.zeros(0)

    def summary(self) -> dict[str, Any]:
        runs = self.runs
        waits = self.waits
        served = float(waits.sum())
        seconds = self.seconds or 1
        cost = sum(r.cost for r in runs)
        pods = self.pods() if len(runs) > 1 else None
        peak = (
            int(pods.max())
            if pods is not None and pods.size
            else max((r.peak_replicas for r in runs), default=0)
        )
        return {
            "requests": round(sum(r.requests for r in runs), 1),
            "served": round(served, 1),
            "wait_p50": percentile(waits, 0.50),
            "wait_p95": percentile(waits, 0.95),
            "wait_p99": percentile(waits, 0.99),
            "wait_mean": round(float((waits * np.arange(waits.size)).sum() / served), 2)
            if served
            else 0.0,
            "waited": round(float(waits[1:].sum()), 1),
            "waited_cold": round(sum(r.waited_cold for r in runs), 1),
            "timeouts": round(sum(r.timeouts for r in runs), 1),
            "unfinished": round(sum(r.unfinished for r in runs), 1),
            "cold_starts": sum(r.cold_starts for r in runs),
            "activations": sum(r.activations for r in runs),
            "peak_replicas": peak,
            "replica_hours": round(sum(r.replica_hours for r in runs), 2),
            "gpu_hours": round(sum(r.gpu_hours for r in runs), 2),
            "cost": round(cost, 2),
            "cost_per_month": round(cost * HOURS_PER_MONTH * 3600 / seconds, 2),
        }

    @property
    def warnings(self) -> list[str]:
        return [f"{r.setup.deployment}: {w}" for r in self.runs for w in r.warnings]


def make_autoscaler(algorithm: str, setup: Setup) -> Autoscaler:
    if algorithm == "compiled":
        return KedaHpa(setup.scaler)
    if algorithm == "baseten":
        return Baseten(setup.scaler)
    raise IacError(f"unknown algorithm '{algorithm}'; use one of {', '.join(ALGORITHMS)}")


def simulate(
    compiled: Compiled,
    pricing: Pricing | None,
    model: str,
    environment: str,
    trace: Trace,
    *,
    params: Params | None = None,
    algorithms: Sequence[str] = ALGORITHMS,
    label: str = "head",
    walk_all: bool = False,
) -> tuple[list[Setup], list[Simulation]]:
    """Every deployment serving `model`'s `environment`, with its share of `trace`, under
    each autoscaler in `algorithms`."""
    setups = setup_for(compiled, pricing, model, environment, params)
    simulations = []
    for algorithm in algorithms:
        runs = tuple(
            run(trace.share(s.share), s, make_autoscaler(algorithm, s), walk_all=walk_all)
            for s in setups
        )
        simulations.append(Simulation(label, algorithm, runs))
    return setups, simulations


DELTA_KEYS = (
    "peak_replicas",
    "replica_hours",
    "gpu_hours",
    "cost",
    "cost_per_month",
    "served",
    "wait_p50",
    "wait_p95",
    "wait_p99",
    "waited_cold",
    "timeouts",
    "cold_starts",
)


def delta(base: dict[str, Any] | None, head: dict[str, Any]) -> dict[str, float]:
    """head - base for the figures a review looks at (base missing: all of head)."""
    return {
        key: round(head[key] - (base[key] if base else 0), 2) for key in DELTA_KEYS if key in head
    }


def simulate_delta(
    base: Compiled | None,
    head: Compiled,
    model: str,
    environment: str,
    trace: Trace,
    *,
    base_pricing: Pricing | None = None,
    head_pricing: Pricing | None = None,
    params: Params | None = None,
) -> dict[str, Any]:
    """For `iac plan`: the environment under `trace` before and after, as compiled, and the
    change. `base` is None (or lacks the environment) for a new environment."""
    _, [after] = simulate(
        head, head_pricing, model, environment, trace, params=params, algorithms=("compiled",)
    )
    before: Simulation | None = None
    if base is not None:
        found = base.release.models.get(model)
        if found is not None and environment in found.environments:
            _, [before] = simulate(
                base,
                base_pricing,
                model,
                environment,
                trace,
                params=params,
                algorithms=("compiled",),
                label="base",
            )
    head_summary = after.summary()
    base_summary = before.summary() if before else None
    return {
        "model": model,
        "environment": environment,
        "trace": {"source": trace.source, "seconds": trace.seconds, "requests": trace.requests},
        "base": base_summary,
        "head": head_summary,
        "delta": delta(base_summary, head_summary),
    }

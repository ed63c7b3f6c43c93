"""`iac simulate --model <chain>`: a trace replayed at a chain's entrypoint and fanned out to
the chainlets it calls (docs/simulate.md, "Chains").

Each request arriving at the entrypoint makes, in the same second, one call to each
chainlet the entrypoint calls, each of those one to each chainlet it calls, and so on: a
chainlet gets as many calls per request as there are call paths to it from the entrypoint
(calls have no cycle). A call holds a slot in the callee for the callee's own time: the
trace's `duration_<chainlet>` column, else `--chainlet-duration NAME=SECONDS`, else the
request's own duration (the most a call can take when the caller waits for it). Each
chainlet is then simulated as the model it runs as, with its autoscaler, slots and cold
starts as compiled, on the calls it gets.

The chain's figures: costs, hours and replicas started add up over the chainlets, the peak
is of all their replicas at once; requests served, waits and requests that waited for a
cold start or timed out are the worst chainlet's, per request (`calls / calls per
request`). The runs do not pair one request's calls, so a request that waits at two
chainlets waits their sum: the chain's waits are at least those shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from iac.compile import Compiled
from iac.compile.release import ModelRelease
from iac.diagnostics import did_you_mean
from iac.errors import IacError
from iac.simulate import Params, Simulation, simulate
from iac.simulate.setup import Setup
from iac.simulate.trace import CHAINLET_DURATION, Trace
from iac.spec.stack import Pricing


@dataclass(frozen=True, slots=True)
class ChainletRun:
    """One chainlet under the calls it gets."""

    chainlet: str
    model: str
    """The model it runs as (`<chain>-<chainlet>`)."""
    calls: int
    """Calls it gets per request at the entrypoint (0: none reach it)."""
    duration_basis: str
    """Where its time per call comes from."""
    trace: Trace
    """The calls, as a trace."""
    setups: tuple[Setup, ...]
    simulation: Simulation

    def summary(self) -> dict[str, Any]:
        return self.simulation.summary()


@dataclass(frozen=True, slots=True)
class ChainRun:
    """A chain's environment under a trace, by one autoscaler."""

    chain: str
    environment: str
    algorithm: str
    trace: Trace
    chainlets: tuple[ChainletRun, ...]
    """The entrypoint first, then as the calls reach them."""

    def summary(self) -> dict[str, Any]:
        """The chain's figures (module docstring): sums, the joint peak, the worst
        chainlet's per request."""
        runs = tuple(r for c in self.chainlets for r in c.simulation.runs)
        total = Simulation("head", self.algorithm, runs).summary()
        reached = [(c.summary(), c.calls) for c in self.chainlets if c.calls]
        found = {key: total[key] for key in _ADDED}
        found["requests"] = round(self.trace.requests, 1)
        found["served"] = round(min(s["served"] / n for s, n in reached), 1)
        for key in _WORST:
            found[key] = max(s[key] for s, _ in reached)
        for key in _WORST_PER_REQUEST:
            found[key] = round(max(s[key] / n for s, n in reached), 1)
        found["wait_mean"] = round(max(s["wait_mean"] for s, _ in reached), 2)
        return found

    @property
    def warnings(self) -> list[str]:
        return [f"{c.chainlet}: {w}" for c in self.chainlets for w in c.simulation.warnings]


_ADDED = (
    "peak_replicas",
    "replica_hours",
    "gpu_hours",
    "cost",
    "cost_per_month",
    "cold_starts",
    "activations",
)
"""Figures of the chain that are its chainlets' together."""
_WORST = ("wait_p50", "wait_p95", "wait_p99")
_WORST_PER_REQUEST = ("waited", "waited_cold", "timeouts", "unfinished")


def chain_members(compiled: Compiled, chain: str) -> list[ModelRelease]:
    """The chainlets' models, the entrypoint first, then breadth first along the calls (in
    each chainlet's order of `calls`), then any no call reaches, by name."""
    members = {
        m.chain.chainlet: m
        for m in compiled.release.models.values()
        if m.chain is not None and m.chain.chain == chain
    }
    order: list[str] = [n for n, m in sorted(members.items()) if m.chain and m.chain.entrypoint]
    for name in order:  # grows while it is walked: breadth first
        member = members[name].chain
        order += [c for c in (member.calls if member else ()) if c in members and c not in order]
    order += sorted(set(members) - set(order))
    return [members[n] for n in order]


def calls_per_request(members: list[ModelRelease]) -> dict[str, int]:
    """Calls each chainlet gets per request at the entrypoint: the call paths to it."""
    found = {m.chain.chainlet: 0 for m in members if m.chain}
    by_name = {m.chain.chainlet: m.chain for m in members if m.chain}

    def visit(name: str) -> None:  # calls have no cycle (iac.load.chains)
        found[name] += 1
        for callee in by_name[name].calls:
            if callee in by_name:
                visit(callee)

    for name, member in by_name.items():
        if member.entrypoint:
            visit(name)
    return found


def simulate_chain(
    compiled: Compiled,
    pricing: Pricing | None,
    chain: str,
    environment: str,
    trace: Trace,
    *,
    params: Params | None = None,
    algorithm: str = "compiled",
    durations: Mapping[str, float] | None = None,
) -> ChainRun:
    """Each chainlet of `chain`'s `environment` under the calls `trace` makes (module
    docstring). `durations`: seconds per call by chainlet (`--chainlet-duration`), where the
    trace has no column for it."""
    members = chain_members(compiled, chain)
    names = [m.chain.chainlet for m in members if m.chain]
    given = dict(durations or {})
    for name in sorted({*trace.chainlets, *given}):
        if name not in names:
            where = (
                f"trace column {CHAINLET_DURATION}{name}"
                if name in trace.chainlets
                else f"--chainlet-duration {name}"
            )
            hint = did_you_mean(name, names) or "."
            raise IacError(
                f"{where}: chain '{chain}' has no chainlet '{name}'{hint} Its chainlets: "
                + ", ".join(sorted(names))
            )
    per_request = calls_per_request(members)
    runs = []
    for model in members:
        assert model.chain is not None
        name = model.chain.chainlet
        calls, basis = _calls(trace, name, per_request[name], given)
        setups, [simulation] = simulate(
            compiled,
            pricing,
            model.name,
            environment,
            calls,
            params=params,
            algorithms=(algorithm,),
        )
        runs.append(
            ChainletRun(
                name, model.name, per_request[name], basis, calls, tuple(setups), simulation
            )
        )
    return ChainRun(chain, environment, algorithm, trace, tuple(runs))


def _calls(
    trace: Trace, chainlet: str, per_request: int, given: Mapping[str, float]
) -> tuple[Trace, str]:
    """The calls `chainlet` gets, and where their durations come from."""
    if chainlet in trace.chainlets:
        return (
            trace.calls(per_request, trace.chainlets[chainlet]),
            f"the trace's {CHAINLET_DURATION}{chainlet} column",
        )
    if chainlet in given:
        seconds = given[chainlet]
        return (
            trace.calls(per_request, np.where(trace.arrivals > 0, seconds, 0.0)),
            f"--chainlet-duration {chainlet}={seconds:g}",
        )
    return trace.calls(per_request, trace.durations), "the request's duration in the trace"

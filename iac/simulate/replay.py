"""What `iac simulate` runs: the trace read, the stacks compiled, the model and environment
and algorithms chosen, each stack's runs, and the report of them. The command line parses
flags and prints; tests call these functions as it does.

The base stack is compiled only once the head has been replayed, so a head's problem (no
such model or environment) is reported before a base's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostics
from iac.errors import IacError, StackInvalid
from iac.simulate import ALGORITHMS, Params, default_environment, default_model, simulate
from iac.simulate.chain import chain_members, simulate_chain
from iac.simulate.chain_report import ChainReport
from iac.simulate.generators import overridden
from iac.simulate.report import Report, report_for
from iac.simulate.setup import Setup
from iac.simulate.sources import is_generator, load
from iac.simulate.trace import Trace
from iac.spec.stack import Pricing
from iac.validate import check_stack


@dataclass(frozen=True)
class ReplayedStack:
    """A stack file compiled to be replayed: its release and the prices its costs use."""

    path: str
    compiled: Compiled
    pricing: Pricing | None


StackReader = Callable[[], ReplayedStack]
"""Compiles a stack when called (the base's, once the head has been replayed)."""


def read_trace(
    trace_arg: str, duration: float | None, tokens_per_second: float, seed: int | None
) -> tuple[Trace, list[str]]:
    """The trace `--trace` names, and a note for each flag its generator overrides; IacError
    on a duration or speed not above 0, and on an empty trace."""
    if (duration is not None and duration <= 0) or tokens_per_second <= 0:
        raise IacError("--duration and --tokens-per-second must be above 0")
    trace = load(trace_arg, duration=duration, tokens_per_second=tokens_per_second, seed=seed)
    notes = overridden(trace_arg, seed=seed, duration=duration) if is_generator(trace_arg) else []
    if trace.seconds == 0:
        raise IacError(f"{trace.source}: the trace is empty")
    return trace, notes


def replayed_stack(path: str, warnings: Diagnostics, which: str = "") -> ReplayedStack:
    """The stack file at `path`, checked and compiled (its warnings to `warnings`). An
    invalid stack raises StackInvalid, or, for a stack named `which` ("base"), an IacError
    saying which stack it is."""
    try:
        stack = check_stack(path, warnings)
        return ReplayedStack(path, compile_stack(stack, warnings), stack.spec.pricing)
    except StackInvalid as exc:
        if which:
            raise IacError(f"the {which} stack is invalid:\n{exc}") from None
        raise


def replay(
    head: ReplayedStack,
    trace: Trace,
    params: Params,
    *,
    model: str | None = None,
    environment: str | None = None,
    algorithm: str | None = None,
    base: StackReader | None = None,
) -> Report:
    """The trace replayed on the model's environment of `head` (default: its only model, and
    production or its only environment), and of the base when there is one (its runs
    first), by `algorithm` (one of ALGORITHMS or "both"; default: both, or "compiled" to
    compare with a base)."""
    model = default_model(head.compiled, model)
    env = environment or default_environment(head.compiled, model)
    chosen = algorithm or ("compiled" if base is not None else "both")
    algorithms = ALGORITHMS if chosen == "both" else (chosen,)
    setups, simulations = simulate(
        head.compiled, head.pricing, model, env, trace, params=params, algorithms=algorithms
    )
    base_setups: list[Setup] = []
    base_path = None
    if base is not None:
        found = base()
        base_path = found.path
        base_setups, base_runs = simulate(
            found.compiled,
            found.pricing,
            model,
            env,
            trace,
            params=params,
            algorithms=algorithms,
            label="base",
        )
        simulations = base_runs + simulations
    return report_for(head.path, model, env, trace, setups, simulations, base_path, base_setups)


def chain_named(head: ReplayedStack, name: str | None) -> bool:
    """Whether `--model` names a chain of the stack (and no model)."""
    models = head.compiled.release.models
    return name is not None and name not in models and bool(chain_members(head.compiled, name))


def replay_chain(
    head: ReplayedStack,
    trace: Trace,
    params: Params,
    *,
    chain: str,
    environment: str | None = None,
    algorithm: str | None = None,
    durations: Mapping[str, float] | None = None,
    base: bool = False,
) -> ChainReport:
    """The trace replayed at `chain`'s entrypoint in its environment (default: production,
    else its only one), fanned out to its chainlets (`iac.simulate.chain`), by one
    autoscaler (default: as compiled)."""
    if base:
        raise IacError(
            f"--base is not supported for a chain yet: simulate each stack's chain '{chain}' "
            "on its own and compare the chain columns"
        )
    if algorithm == "both":
        raise IacError(
            "a chain is simulated by one autoscaler at a time: --algorithm compiled (the "
            "default) or --algorithm baseten"
        )
    entrypoint = chain_members(head.compiled, chain)[0].name
    env = environment or _chain_environment(head, chain, entrypoint)
    run = simulate_chain(
        head.compiled,
        head.pricing,
        chain,
        env,
        trace,
        params=params,
        algorithm=algorithm or "compiled",
        durations=durations,
    )
    return ChainReport(head.path, run)


def _chain_environment(head: ReplayedStack, chain: str, entrypoint: str) -> str:
    try:
        return default_environment(head.compiled, entrypoint)
    except IacError:
        names = sorted(head.compiled.release.models[entrypoint].environments)
        raise IacError(
            f"chain '{chain}' has environments {', '.join(names) or '(none)'}; name one with "
            "--environment"
        ) from None

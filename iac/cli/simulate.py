"""`iac simulate STACK --trace FILE [--model M] [--environment E] [--base OTHER]`"""

from __future__ import annotations

import click

from iac.cli.process import bulk_work
from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostics
from iac.errors import IacError, StackInvalid
from iac.reports import FORMATS, formatted
from iac.simulate import ALGORITHMS, Params, default_environment, default_model, simulate
from iac.simulate.generators import overridden
from iac.simulate.report import Report, SimulationView, report_for
from iac.simulate.setup import Setup
from iac.simulate.sources import is_generator, load
from iac.simulate.trace import DEFAULT_DURATION, DEFAULT_TOKENS_PER_SECOND, Trace
from iac.spec.stack import Pricing
from iac.spec.types import parse_duration
from iac.validate import check_stack


def _seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"'{value}': write 90, 90s, 15m or 1h") from None


@click.command("simulate")
@click.argument("stack", metavar="STACK")
@click.option(
    "--trace",
    "trace_arg",
    required=True,
    metavar="FILE|KIND:k=v,...",
    help="A CSV of requests (timestamp, duration or output_tokens) or of rates (time, rate), "
    "or a generator: steady:rate=R, poisson:rate=R, diurnal:peak=P,trough=T, "
    "bursts:base=B,peak=P (each with duration=S, hours=H; all but steady with seed=N). A "
    "generator's own duration= and seed= win over --duration and --seed.",
)
@click.option("--model", help="The model (default: the stack's only model).")
@click.option("--environment", help="Its environment (default: production, else the only one).")
@click.option("--base", "base_stack", help="Another stack to compare with (same model and env).")
@click.option(
    "--algorithm",
    type=click.Choice([*ALGORITHMS, "both"]),
    help="KEDA + HPA as compiled, Baseten's documented algorithm, or both "
    "[default: both; compiled with --base].",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write a PNG here.")
@click.option(
    "--duration",
    type=float,
    help="Seconds one request is served, for rate traces without a duration column and "
    f"generators without duration= [default: {DEFAULT_DURATION:g}].",
)
@click.option(
    "--tokens-per-second",
    type=float,
    default=DEFAULT_TOKENS_PER_SECOND,
    show_default=True,
    help="Decode speed per request, for request traces with output_tokens.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Draw Poisson arrivals from a rate trace with this seed; the seed of a generator "
    "without seed= [default: a rate trace's rates arrive as they are; generators 0].",
)
@click.option("--node-time", callback=_seconds, help="Cold start: a new GPU node [180s].")
@click.option("--image-time", callback=_seconds, help="Cold start: the image pull [60s].")
@click.option(
    "--weights-time",
    callback=_seconds,
    help="Cold start: weights download and load [weights_size at 500 MiB/s, else 60s].",
)
@click.option("--engine-time", callback=_seconds, help="Cold start: engine start [30s].")
@click.option(
    "--free-gpus",
    type=float,
    help="GPUs free in the pool at the start [0 with karpenter or gke; unlimited existing].",
)
def simulate_command(
    stack: str,
    trace_arg: str,
    model: str | None,
    environment: str | None,
    base_stack: str | None,
    algorithm: str | None,
    fmt: str,
    plot_path: str | None,
    duration: float | None,
    tokens_per_second: float,
    seed: int | None,
    node_time: int | None,
    image_time: int | None,
    weights_time: int | None,
    engine_time: int | None,
    free_gpus: float | None,
) -> None:
    """Replay a traffic trace against a model's environment: replicas over time, queue wait,
    cold starts, timeouts, GPU-hours and cost, with the autoscaler as compiled (KEDA + HPA)
    and Baseten's documented algorithm for comparison; with --base, both stacks and the
    change.

    Exit 0, or 1 on invalid input.
    """
    trace = _load_trace(trace_arg, duration, tokens_per_second, seed)
    params = Params(
        node_seconds=node_time,
        image_seconds=image_time,
        weights_seconds=weights_time,
        engine_seconds=engine_time,
        free_gpus=free_gpus,
    )
    report = _replayed(stack, base_stack, model, environment, algorithm, trace, params)
    if plot_path:
        from iac.simulate.plot import write_plot

        write_plot(report, plot_path)
        click.echo(f"wrote {plot_path}", err=True)
    click.echo(formatted(SimulationView(report), fmt, click.style), nl=False)


def _replayed(
    stack: str,
    base_stack: str | None,
    model: str | None,
    environment: str | None,
    algorithm: str | None,
    trace: Trace,
    params: Params,
) -> Report:
    """The trace replayed on the model's environment of `stack` (and of `base_stack`, its
    runs first), by each algorithm asked for; the head's warnings on stderr."""
    warnings = Diagnostics()
    head, head_pricing = _compile(stack, warnings)
    for warning in warnings.sorted():
        click.echo(str(warning), err=True)
    model = default_model(head, model)
    env = environment or default_environment(head, model)
    chosen = algorithm or ("compiled" if base_stack else "both")
    algorithms = ALGORITHMS if chosen == "both" else (chosen,)
    setups, simulations = simulate(
        head, head_pricing, model, env, trace, params=params, algorithms=algorithms
    )
    base_setups: list[Setup] = []
    if base_stack:
        base, base_pricing = _compile(base_stack, Diagnostics(), "base")
        base_setups, base_runs = simulate(
            base,
            base_pricing,
            model,
            env,
            trace,
            params=params,
            algorithms=algorithms,
            label="base",
        )
        simulations = base_runs + simulations
    return report_for(stack, model, env, trace, setups, simulations, base_stack, base_setups)


def _load_trace(
    trace_arg: str, duration: float | None, tokens_per_second: float, seed: int | None
) -> Trace:
    """The trace `--trace` names; notes on stderr for flags its generator overrides."""
    if (duration is not None and duration <= 0) or tokens_per_second <= 0:
        raise IacError("--duration and --tokens-per-second must be above 0")
    trace = load(trace_arg, duration=duration, tokens_per_second=tokens_per_second, seed=seed)
    if is_generator(trace_arg):
        for note in overridden(trace_arg, seed=seed, duration=duration):
            click.echo(f"note: {note}", err=True)
    if trace.seconds == 0:
        raise IacError(f"{trace.source}: the trace is empty")
    return trace


def _compile(path: str, warnings: Diagnostics, which: str = "") -> tuple[Compiled, Pricing | None]:
    try:
        with bulk_work(leave_without_teardown=False):
            stack = check_stack(path, warnings)
            return compile_stack(stack, warnings), stack.spec.pricing
    except StackInvalid as exc:
        if which:
            raise IacError(f"the {which} stack is invalid:\n{exc}") from None
        raise

"""`iac simulate STACK --trace FILE [--model M] [--environment E] [--base OTHER]`"""

from __future__ import annotations

import click

from iac.cli.process import bulk_work
from iac.diagnostics import Diagnostics
from iac.errors import IacError
from iac.reports import FORMATS, formatted
from iac.simulate import ALGORITHMS, Params
from iac.simulate.chain_report import ChainSimulationView
from iac.simulate.replay import (
    ReplayedStack,
    StackReader,
    chain_named,
    read_trace,
    replay,
    replay_chain,
    replayed_stack,
)
from iac.simulate.report import SimulationView
from iac.simulate.trace import DEFAULT_DURATION, DEFAULT_TOKENS_PER_SECOND
from iac.spec.types import parse_duration


def _seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"'{value}': write 90, 90s, 15m or 1h") from None


def _chainlet_durations(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    found: dict[str, float] = {}
    for value in values:
        name, equals, seconds = value.partition("=")
        try:
            number = float(seconds) if equals and name.strip() else 0.0
        except ValueError:
            number = 0.0
        if not number > 0 or number == float("inf"):
            raise click.BadParameter(f"'{value}': write CHAINLET=SECONDS, e.g. embedder=0.05")
        found[name.strip()] = number
    return found


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
@click.option(
    "--model",
    help="The model (default: the stack's only model), or a chain: the trace arrives at its "
    "entrypoint and fans out to the chainlets it calls.",
)
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
@click.option(
    "--chainlet-duration",
    "chainlet_durations",
    multiple=True,
    callback=_chainlet_durations,
    metavar="CHAINLET=SECONDS",
    help="With a chain: seconds a call to CHAINLET takes, where the trace has no "
    "duration_CHAINLET column [default: the request's duration]. Repeatable.",
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
    chainlet_durations: dict[str, float],
) -> None:
    """Replay a traffic trace against a model's environment: replicas over time, queue wait,
    cold starts, timeouts, GPU-hours and cost, with the autoscaler as compiled (KEDA + HPA)
    and Baseten's documented algorithm for comparison; with --base, both stacks and the
    change.

    Exit 0, or 1 on invalid input.
    """
    trace, notes = read_trace(trace_arg, duration, tokens_per_second, seed)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    params = Params(
        node_seconds=node_time, image_seconds=image_time, weights_seconds=weights_time,
        engine_seconds=engine_time, free_gpus=free_gpus,
    )  # fmt: skip
    head = _head(stack)
    if model is not None and chain_named(head, model):
        if plot_path:
            raise IacError("--plot draws a model's simulation; a chain's is not drawn yet")
        chain_report = replay_chain(
            head, trace, params, chain=model, environment=environment, algorithm=algorithm,
            durations=chainlet_durations, base=base_stack is not None,
        )  # fmt: skip
        click.echo(formatted(ChainSimulationView(chain_report), fmt, click.style), nl=False)
        return
    if chainlet_durations:
        raise IacError("--chainlet-duration applies to a chain: name one with --model")
    report = replay(
        head,
        trace,
        params,
        model=model,
        environment=environment,
        algorithm=algorithm,
        base=_base_reader(base_stack) if base_stack else None,
    )
    if plot_path:
        from iac.simulate.plot import write_plot

        write_plot(report, plot_path)
        click.echo(f"wrote {plot_path}", err=True)
    click.echo(formatted(SimulationView(report), fmt, click.style), nl=False)


def _head(path: str) -> ReplayedStack:
    """The stack compiled (not the replay: `bulk_work`), its warnings on stderr."""
    warnings = Diagnostics()
    with bulk_work(leave_without_teardown=False):
        head = replayed_stack(path, warnings)
    for warning in warnings.sorted():
        click.echo(str(warning), err=True)
    return head


def _base_reader(path: str) -> StackReader:
    """The base stack, compiled when `replay` gets to it."""

    def read() -> ReplayedStack:
        with bulk_work(leave_without_teardown=False):
            return replayed_stack(path, Diagnostics(), "base")

    return read

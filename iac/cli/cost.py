"""`iac cost STACK [--format text|markdown|json]`"""

from __future__ import annotations

import click

from iac.cli.process import bulk_work
from iac.compile import compile_stack
from iac.cost_report import CostView, cost_report
from iac.diagnostics import Diagnostics
from iac.reports import FORMATS, formatted
from iac.validate import check_stack


@click.command("cost")
@click.argument("stack", metavar="STACK")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def cost_command(stack: str, fmt: str) -> None:
    """Monthly cost of a stack: the floor (min replicas always on) and the ceiling (max
    replicas), per model, environment, deployment and node pool, from the catalog's prices
    and the stack's `pricing:`. The totals are what the cloud bills: on GKE and Karpenter
    nodes are bought whole, and what a pool's nodes cost beyond its replicas' GPUs is a
    `(whole nodes)` line.

    Warnings go to stderr. Exit 0, or 1 on invalid input.
    """
    diagnostics = Diagnostics()
    with bulk_work(leave_without_teardown=False):
        checked = check_stack(stack, diagnostics)
        compiled = compile_stack(checked, diagnostics)
    for warning in diagnostics.sorted():
        click.echo(str(warning), err=True)
    report = cost_report(compiled.release, checked.spec.pricing)
    click.echo(formatted(CostView(stack, report), fmt, click.style), nl=False)

"""`iac promote`, `iac deactivate`, `iac activate`: lifecycle verbs that edit the stack file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from iac import edit
from iac.cli.process import bulk_work


def _report(change: Callable[[], edit.Edit], dry_run: bool) -> None:
    """Make the change (checking the stack before and after it), and print it."""
    with bulk_work(leave_without_teardown=False):  # it writes the file: the normal exit
        result = change()
    click.echo(result.diff, nl=False)
    click.echo(result.summary, err=True)
    if dry_run and result.diff:
        click.echo("dry run: nothing was written", err=True)


def _dry_run(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dry-run", is_flag=True, help="Print the change to the file; write nothing."
    )(command)


@click.command("promote")
@click.argument("stack", metavar="STACK")
@click.argument("model")
@click.argument("deployment")
@click.option("--to", "environment", required=True, metavar="ENV", help="The environment.")
@click.option(
    "--copy",
    is_flag=True,
    help="When DEPLOYMENT is a development one or serves another environment, declare a "
    "copy of it (DEPLOYMENT-ENV: {from: DEPLOYMENT}) and promote that.",
)
@_dry_run
def promote_command(
    stack: str, model: str, deployment: str, environment: str, copy: bool, dry_run: bool
) -> None:
    """Make DEPLOYMENT serve ENV, in the stack file (only the lines that say so change).

    MODEL may name a chain: its environment then names DEPLOYMENT for every chainlet.

    The deployment it replaces gets the environment's promotion cleanup. Prints the change to
    the file; `iac plan` shows what it will do, `iac up` does it.
    """
    _report(lambda: edit.promote(stack, model, deployment, environment, copy, dry_run), dry_run)


@click.command("deactivate")
@click.argument("stack", metavar="STACK")
@click.argument("model")
@click.argument("deployment")
@_dry_run
def deactivate_command(stack: str, model: str, deployment: str, dry_run: bool) -> None:
    """Deactivate DEPLOYMENT: its objects stay, it runs no pods and has no route.

    MODEL may name a chain: every chainlet of its DEPLOYMENT is deactivated.
    """
    _report(lambda: edit.deactivate(stack, model, deployment, dry_run), dry_run)


@click.command("activate")
@click.argument("stack", metavar="STACK")
@click.argument("model")
@click.argument("deployment")
@_dry_run
def activate_command(stack: str, model: str, deployment: str, dry_run: bool) -> None:
    """Activate a deactivated DEPLOYMENT again (MODEL may name a chain)."""
    _report(lambda: edit.activate(stack, model, deployment, dry_run), dry_run)

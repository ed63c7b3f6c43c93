"""`iac promote`, `iac deactivate`, `iac activate`: lifecycle verbs that edit the stack file."""

from __future__ import annotations

import click

from iac import edit


def _report(result: edit.Edit) -> None:
    click.echo(result.diff, nl=False)
    click.echo(result.summary, err=True)


@click.command("promote")
@click.argument("stack", metavar="STACK")
@click.argument("model")
@click.argument("deployment")
@click.option("--to", "environment", required=True, metavar="ENV", help="The environment.")
@click.option(
    "--copy",
    is_flag=True,
    help="When DEPLOYMENT serves another environment, declare a copy of it and promote that.",
)
def promote_command(stack: str, model: str, deployment: str, environment: str, copy: bool) -> None:
    """Make DEPLOYMENT serve ENV, in the stack file (comments kept).

    The deployment it replaces gets the environment's promotion cleanup. Prints the change to
    the file; `iac plan` shows what it will do, `iac up` does it.
    """
    _report(edit.promote(stack, model, deployment, environment, copy))


@click.command("deactivate")
@click.argument("stack", metavar="STACK")
@click.argument("model")
@click.argument("deployment")
def deactivate_command(stack: str, model: str, deployment: str) -> None:
    """Deactivate DEPLOYMENT: its objects stay, it runs no pods and has no route."""
    _report(edit.deactivate(stack, model, deployment))


@click.command("activate")
@click.argument("stack", metavar="STACK")
@click.argument("model")
@click.argument("deployment")
def activate_command(stack: str, model: str, deployment: str) -> None:
    """Activate a deactivated DEPLOYMENT again."""
    _report(edit.activate(stack, model, deployment))

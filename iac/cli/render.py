"""`iac render STACK [-o DIR] [--format yaml|json]`"""

from __future__ import annotations

import click

from iac.compile import compile_stack
from iac.diagnostics import Diagnostics
from iac.render.text import FORMATS, render, write_directory
from iac.validate import check_stack


@click.command("render")
@click.argument("stack", metavar="STACK")
@click.option(
    "-o",
    "--output",
    "directory",
    type=click.Path(file_okay=False),
    help="Write one file per object into DIR.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="yaml", show_default=True)
def render_command(stack: str, directory: str | None, fmt: str) -> None:
    """Print the Kubernetes objects of a stack, in apply order.

    Multi-document YAML on stdout, or with -o one file per object (numbered in apply order).
    Warnings go to stderr. Exit 0, or 1 on invalid input.
    """
    diagnostics = Diagnostics()
    compiled = compile_stack(check_stack(stack, diagnostics), diagnostics)
    for warning in diagnostics.sorted():
        click.echo(str(warning), err=True)
    if directory:
        paths = write_directory(compiled.objects, directory, fmt)
        click.echo(f"wrote {len(paths)} objects to {directory}", err=True)
    else:
        click.echo(render(compiled.objects, fmt), nl=False)

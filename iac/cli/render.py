"""`iac render STACK [-o DIR] [--format yaml|json]`"""

from __future__ import annotations

import os

import click

from iac.cli.teardown import skip_at_exit
from iac.compile import compile_stack
from iac.diagnostics import Diagnostics
from iac.render.text import CLOUD_DIR, FORMATS, render, write_cloud_directory, write_directory
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
    Cloud resources the Pulumi program creates beside them (GKE node pools) follow,
    commented out (JSON: under `cloudResources`; -o: in DIR/cloud/).
    Warnings go to stderr. Exit 0, or 1 on invalid input.
    """
    skip_at_exit()
    diagnostics = Diagnostics()
    compiled = compile_stack(check_stack(stack, diagnostics), diagnostics)
    for warning in diagnostics.sorted():
        click.echo(str(warning), err=True)
    if directory:
        paths = write_directory(compiled.objects, directory, fmt)
        cloud = write_cloud_directory(compiled.cloud, directory, fmt)
        extra = f" and {len(cloud)} cloud resources to {os.path.join(directory, CLOUD_DIR)}"
        click.echo(f"wrote {len(paths)} objects to {directory}{extra if cloud else ''}", err=True)
    else:
        click.echo(render(compiled.objects, fmt, compiled.cloud), nl=False)

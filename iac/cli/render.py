"""`iac render STACK [-o DIR] [--format yaml|json]`"""

from __future__ import annotations

import os

import click

from iac.cli.process import bulk_work
from iac.compile import compile_stack
from iac.diagnostics import Diagnostics
from iac.render.text import FORMATS, render
from iac.validate import check_stack


@click.command("render")
@click.argument("stack", metavar="STACK")
@click.option(
    "-o",
    "--output",
    "directory",
    type=click.Path(file_okay=False),
    help="Write one file per object into DIR (and a record of them, DIR/.iac-render).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="yaml", show_default=True)
def render_command(stack: str, directory: str | None, fmt: str) -> None:
    """Print the Kubernetes objects of a stack, in apply order.

    Multi-document YAML on stdout, or with -o one file per object, named so that name
    order is apply order (`12-deployment-NAMESPACE.NAME.yaml`). Cloud resources the Pulumi
    program creates beside them (GKE node pools) follow, commented out (JSON: under
    `cloudResources`; -o: in DIR/cloud/).

    With -o, only files whose content changed are written, and only files iac wrote
    (listed in DIR/.iac-render) are replaced or removed: other files in DIR stay.
    Warnings go to stderr. Exit 0, or 1 on invalid input or when a file iac did not
    write is in the way.
    """
    with bulk_work(leave_without_teardown=True):
        _render(stack, directory, fmt)


def _render(stack: str, directory: str | None, fmt: str) -> None:
    diagnostics = Diagnostics()
    compiled = compile_stack(check_stack(stack, diagnostics), diagnostics)
    for warning in diagnostics.sorted():
        click.echo(str(warning), err=True)
    if directory:
        from iac.program.project import iac_version
        from iac.render.directory import CLOUD_DIR, write_directory

        done = write_directory(
            compiled.objects,
            directory,
            fmt,
            cloud=compiled.cloud,
            stack=stack,
            version=iac_version(),
        )
        cloud = os.path.join(directory, CLOUD_DIR)
        extra = f" and {_count(done.cloud, 'cloud resource')} in {cloud}" if done.cloud else ""
        if done.written or done.removed:
            changes = f"{len(done.written)} written, {len(done.removed)} removed, "
            changes += f"{done.unchanged} unchanged"
        else:
            changes = "no file changed"
        click.echo(f"{_count(done.objects, 'object')} in {directory}{extra}: {changes}", err=True)
        if done.adopted:
            click.echo(
                f"removed {_count(done.adopted, 'file')} an earlier iac render wrote "
                f"(recognised by content: no {directory}/.iac-render yet)",
                err=True,
            )
        if done.previous_stack:
            previous = os.path.normpath(os.path.join(directory, done.previous_stack))
            click.echo(
                f"note: {directory} held the render of {previous}; it now holds {stack}'s",
                err=True,
            )
        if done.kept:
            shown = ", ".join(done.kept[:5]) + (", ..." if len(done.kept) > 5 else "")
            them = "them" if len(done.kept) > 1 else "it"
            click.echo(
                f"kept {_count(len(done.kept), 'file')} iac did not write "
                f"(`kubectl apply -f {directory}` applies {them} too): {shown}",
                err=True,
            )
    else:
        click.echo(render(compiled.objects, fmt, compiled.cloud), nl=False)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"

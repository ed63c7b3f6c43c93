"""`iac schema`"""

from __future__ import annotations

import click

from iac.spec.schema import SCHEMAS, render_schema


@click.command()
@click.option(
    "--kind",
    type=click.Choice(sorted(SCHEMAS)),
    default="stack",
    show_default=True,
    help="Which file's schema: a stack file or a module file.",
)
def schema(kind: str) -> None:
    """Print the JSON schema of stack files (for editors: yaml-language-server)."""
    click.echo(render_schema(kind), nl=False)

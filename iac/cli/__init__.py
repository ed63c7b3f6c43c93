"""The `iac` command line: parses arguments and calls library functions, nothing more.

Errors raised on purpose (`iac.errors.IacError`) are printed without a traceback and exit
with their code; `--debug` shows the traceback as well.
"""

from __future__ import annotations

import sys
import traceback

import click

from iac.cli import cost, init, lifecycle, plan, render, schema, simulate, status, up, validate
from iac.errors import IacError


class _Group(click.Group):
    """Handles IacError once, for every command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except IacError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(str(exc), err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="IAC_DEBUG", help="Show tracebacks of errors.")
@click.version_option(package_name="iac")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Declarative infrastructure for GPU model serving: stack files → Kubernetes → Pulumi."""
    ctx.obj = {"debug": debug}


cli.add_command(validate.validate)
cli.add_command(schema.schema)
cli.add_command(render.render_command)
cli.add_command(plan.plan_command)
cli.add_command(simulate.simulate_command)
cli.add_command(cost.cost_command)
cli.add_command(status.status_command)
cli.add_command(init.init_command)
cli.add_command(up.up_command)
for command in (
    lifecycle.promote_command,
    lifecycle.deactivate_command,
    lifecycle.activate_command,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="iac")

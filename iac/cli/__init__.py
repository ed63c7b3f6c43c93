"""The `iac` command line: parses arguments and calls library functions, nothing more.

Errors raised on purpose (`iac.errors.IacError`) are printed without a traceback and exit
with their code; `--debug` shows the traceback as well.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from iac.cli.process import Invocation, exit_code, exit_now, invocation
from iac.errors import IacError

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("iac.cli.validate", "validate"),
    "schema": ("iac.cli.schema", "schema"),
    "render": ("iac.cli.render", "render_command"),
    "plan": ("iac.cli.plan", "plan_command"),
    "simulate": ("iac.cli.simulate", "simulate_command"),
    "cost": ("iac.cli.cost", "cost_command"),
    "status": ("iac.cli.status", "status_command"),
    "init": ("iac.cli.init", "init_command"),
    "up": ("iac.cli.up", "up_command"),
    "preflight": ("iac.cli.preflight", "preflight_command"),
    "promote": ("iac.cli.lifecycle", "promote_command"),
    "deactivate": ("iac.cli.lifecycle", "deactivate_command"),
    "activate": ("iac.cli.lifecycle", "activate_command"),
}
"""Command → (module, attribute). Each command's module is imported when it runs (click's
lazy subcommands): `iac render` then never loads numpy, the planner or the simulator
(what that saves: docs/benchmarks.md)."""


class _Group(click.Group):
    """Loads commands on demand, and handles IacError once, for every command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        command = getattr(importlib.import_module(target[0]), target[1])
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except IacError as exc:
            if invocation(ctx).debug:
                traceback.print_exc()
            click.echo(str(exc), err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, envvar="IAC_DEBUG", help="Show tracebacks of errors.")
@click.version_option(package_name="iac")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Declarative infrastructure for GPU model serving: stack files → Kubernetes → Pulumi."""
    invocation(ctx).debug = debug


def main() -> None:
    """The `iac` executable: `cli`, then an exit that skips freeing the release when the
    command asked for it (`iac.cli.process`)."""
    run = Invocation()
    try:
        cli(prog_name="iac", obj=run)
        code = 0
    except SystemExit as exc:
        code = exit_code(exc)
    exit_now(code, run)

"""`iac up STACK --stack NAME [--project-dir DIR] [--yes] [--no-rollback]
[--ready-timeout DURATION]`"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iac.cli.process import bulk_work
from iac.diagnostics import Diagnostics
from iac.diff.report import to_text
from iac.errors import IacError
from iac.spec.types import parse_duration


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:  # pydantic's error is a ValueError
        raise click.BadParameter(str(exc)) from None


@click.command("up")
@click.argument("stack", metavar="STACK")
@click.option("--stack", "stack_name", envvar="PULUMI_STACK", required=True, help="Pulumi stack.")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Folder of the Pulumi project (its Pulumi.yaml).",
)
@click.option("--yes", is_flag=True, help="Apply without asking (CI).")
@click.option("--no-rollback", is_flag=True, help="On a failure, stop where it failed.")
@click.option(
    "--ready-timeout",
    metavar="DURATION",
    callback=_duration,
    help="How long each rollout stage's deployments may take to have their replicas ready "
    "(90s, 5m); default: each deployment's startup budget (its startup_timeout plus a cold "
    "node's 10m).",
)
def up_command(
    stack: str,
    stack_name: str,
    project_dir: Path,
    yes: bool,
    no_rollback: bool,
    ready_timeout: int | None,
) -> None:
    """Roll the change out through Pulumi, step by step: each promotion's traffic moves as
    its `promotion:` settings say, gates are checked after each step, and a failure rolls
    back to the release that was live. An interrupted run resumes. First, the cluster the
    stack applies to is checked for what the objects need (CRDs, namespaces, Secrets, the
    Gateway): anything missing is an error each, and nothing is applied (warnings, such as a
    Gateway taking the hosts over HTTP only, are printed). Exit 0 when the head is applied,
    1 otherwise."""
    from iac.preflight.missing import errors, shown
    from iac.up import checked_head, engine_for, missing_in_cluster, planned_change, roll_out

    diagnostics = Diagnostics()
    with bulk_work(leave_without_teardown=False):  # not the Pulumi engine's run below
        head = checked_head(stack, diagnostics)
    for warning in diagnostics.sorted():
        click.echo(str(warning), err=True)
    engine = engine_for(head, project_dir, stack_name, report=_to_stderr)
    with bulk_work(leave_without_teardown=False):
        change = planned_change(head, engine)
    plan = change.plan
    click.echo(to_text(plan, f"iac up: {stack} on stack {stack_name}", click.style), nl=False)
    if plan.failed:
        sys.exit(1)
    # Before anything is applied: what the objects need from the cluster is there.
    access = engine.cluster_access()
    missing = missing_in_cluster(head, access, project_dir)
    for found in missing:
        click.echo(shown(found), err=True)
    failed = errors(missing)
    if failed:
        raise IacError(
            f"nothing applied: the cluster lacks {len(failed)} "
            f"thing{'s' if len(failed) != 1 else ''} the objects need (above)"
        )
    if not yes and not click.confirm("Apply these changes?", default=False):
        raise IacError("nothing applied")
    outcome = roll_out(
        change,
        engine,
        access,
        project_dir,
        rollback=not no_rollback,
        ready_timeout=ready_timeout,
        report=_to_stderr,
    )
    click.echo(f"{outcome.status}" + (f": {outcome.reason}" if outcome.reason else ""))
    if outcome.status != "done":
        sys.exit(1)


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)

"""`iac up STACK --stack NAME [--project-dir DIR] [--yes] [--no-rollback]
[--ready-timeout DURATION]`"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from iac.cli.process import bulk_work
from iac.compile import Compiled, compile_release
from iac.diagnostics import Diagnostics
from iac.diff.plan import Plan, make_plan
from iac.diff.report import to_text
from iac.errors import IacError
from iac.policy import check_with_policies
from iac.preflight import check_cluster
from iac.preflight.cluster import Kubectl, kubeconfig_file
from iac.rollout.executor import Outcome, prometheus_reader, run
from iac.rollout.stages import stages
from iac.spec.resolved import ResolvedStack
from iac.spec.types import parse_duration

if TYPE_CHECKING:  # the Pulumi program is imported only when `iac up` runs
    from iac.program.automation import AutomationEngine
    from iac.program.settings import ClusterAccess


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
    Gateway): anything missing is an error each, and nothing is applied. Exit 0 when the
    head is applied, 1 otherwise."""
    from iac.program.automation import AutomationEngine, live_compiled
    from iac.program.outputs import stack_sources

    diagnostics = Diagnostics()
    with bulk_work(leave_without_teardown=False):  # not the Pulumi engine's run below
        head_stack, head_release = check_with_policies(stack, diagnostics)
        head = compile_release(head_stack, head_release)  # the release is built once
    for warning in diagnostics.sorted():
        click.echo(str(warning), err=True)
    # The stack files as applied: what a later run (and `iac plan --base live`) compares
    # with and rolls back to.
    engine = AutomationEngine(
        project_dir.resolve(),
        stack_name,
        stack_sources(head_stack),
        report=lambda line: click.echo(line, err=True),
    )
    with bulk_work(leave_without_teardown=False):
        base = live_compiled(engine.read_live_sources())
        plan = make_plan(base, head, policies=head_stack.spec.policies)
    click.echo(to_text(plan, f"iac up: {stack} on stack {stack_name}", click.style), nl=False)
    if plan.failed:
        sys.exit(1)
    # Before anything is applied: what the objects need from the cluster is there (none to
    # check when the stack renders to a folder).
    access = engine.cluster_access()
    if access.render_dir is None:
        _refuse_missing(head, access.kubeconfig, access.context, project_dir.resolve())
    if not yes and not click.confirm("Apply these changes?", default=False):
        raise IacError("nothing applied")
    outcome = _roll_out(
        head_stack,
        head,
        plan,
        engine,
        base,
        access,
        project_dir.resolve(),
        no_rollback,
        ready_timeout,
    )
    click.echo(f"{outcome.status}" + (f": {outcome.reason}" if outcome.reason else ""))
    if outcome.status != "done":
        sys.exit(1)


def _refuse_missing(
    head: Compiled, kubeconfig: str | None, context: str | None, project_dir: Path
) -> None:
    """Say each thing the objects need that the cluster lacks (CRDs, namespaces, Secrets,
    the Gateway), then raise IacError if there is one: nothing is applied."""
    missing = check_cluster(head.objects, head.release.cluster, kubeconfig, context, project_dir)
    for found in missing:
        click.echo(f"error: {found.message} [{found.id}]", err=True)
    if missing:
        raise IacError(
            f"nothing applied: the cluster lacks {len(missing)} "
            f"thing{'s' if len(missing) != 1 else ''} the objects need (above)"
        )


def _roll_out(
    head_stack: ResolvedStack,
    head: Compiled,
    plan: Plan,
    engine: AutomationEngine,
    base: Compiled | None,
    access: ClusterAccess,
    project_dir: Path,
    no_rollback: bool,
    ready_timeout: int | None,
) -> Outcome:
    """Apply the plan's rollouts stage by stage (`iac.rollout.executor.run`), reading
    readiness from the cluster the apply goes to and gates from Prometheus."""
    reader = prometheus_reader(head.release.cluster.prometheus)
    with ExitStack() as cleanup:
        # Readiness is read from the cluster the apply goes to (none when it renders to a
        # folder): the same kubeconfig and context.
        cluster = None
        if access.render_dir is None:
            kubeconfig = cleanup.enter_context(kubeconfig_file(access.kubeconfig, project_dir))
            cluster = Kubectl(kubeconfig, access.context)
        outcome = run(
            stages(head_stack, plan.rollouts),
            engine,
            base,
            reader,
            rollback=not no_rollback,
            report=lambda line: click.echo(line, err=True),
            cluster=cluster,
            ready_timeout=ready_timeout,
        )
    return outcome

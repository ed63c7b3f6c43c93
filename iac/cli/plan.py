"""`iac plan STACK --base BASE [--format text|markdown|json] [--detailed-exitcode]`"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iac.cli.process import bulk_work
from iac.compile import Compiled
from iac.diff.base import Base
from iac.diff.findings import Finding
from iac.diff.markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS
from iac.diff.plan import Plan
from iac.diff.report import NoPlanView, PlanView
from iac.diff.review import FoundBase, file_base, plan_change
from iac.errors import IacError, StackInvalid
from iac.preflight import cluster_findings
from iac.reports import FORMATS, formatted


def _budget(ctx: click.Context, param: click.Parameter, value: int) -> int | None:
    if value == 0:
        return None
    if value < MIN_MAX_CHARS:
        raise click.BadParameter(
            f"{value} is too small for a plan's title, cost and note: at least "
            f"{MIN_MAX_CHARS}, or 0 for no limit"
        )
    return value


@click.command("plan")
@click.argument("stack", metavar="STACK")
@click.option(
    "--base",
    required=True,
    help="What to compare with: a stack file, git:REF (the same file at that revision), "
    "or live (the release in the Pulumi stack's outputs).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing changes, 2 when something does (1 stays an error).",
)
@click.option(
    "--max-chars",
    type=int,
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    callback=_budget,
    help="Most characters of the markdown plan (GitHub takes 65,536 in a comment): longer, "
    "it leaves detail out and says what and where the whole plan is. 0: no limit.",
)
@click.option(
    "--json-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the whole plan as JSON to this file (in CI: upload it beside the "
    "comment), errors included.",
)
@click.option(
    "--full-plan-url",
    metavar="URL",
    help="Where readers find the whole plan (the CI run holding the JSON file): the markdown "
    "links it when it leaves detail out.",
)
@click.option(
    "--stack", "stack_name", envvar="PULUMI_STACK", help="With --base live: the Pulumi stack."
)
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="With --base live: the folder of the Pulumi project.",
)
def plan_command(
    stack: str,
    base: str,
    fmt: str,
    detailed_exitcode: bool,
    max_chars: int | None,
    json_file: Path | None,
    full_plan_url: str | None,
    stack_name: str | None,
    project_dir: Path,
) -> None:
    """What changing the declarations will do: lifecycle events, findings, object changes,
    cost per month and the rollout of each promotion.

    An invalid base (one that no longer passes this iac's checks) is compared in part: its
    models with errors are planned as if new, and its errors are warnings of the plan. An
    invalid head is no plan: with --format markdown or json its errors are printed there
    too (located), and the exit is 1.

    Exit 0, or 2 with --detailed-exitcode when there are changes; 1 on invalid input or an
    error-level finding.
    """
    # The Automation API (--base live) may leave clean-up for the normal exit.
    with bulk_work(leave_without_teardown=base != "live"):
        title = f"iac plan: {stack} against {base}"
        try:
            if base == "live":
                plan = _live_plan(stack, stack_name, project_dir)
            else:
                plan = plan_change(stack, file_base(base, stack))
        except IacError as exc:
            # A pull request gets the reason instead of an empty comment; stderr as always.
            errors = exc.diagnostics if isinstance(exc, StackInvalid) else []
            problem = None if isinstance(exc, StackInvalid) else str(exc)
            no_plan = NoPlanView(title, errors, problem, max_chars)
            if json_file is not None:
                json_file.write_text(no_plan.json(), encoding="utf-8")
            click.echo(formatted(no_plan, fmt, click.style), nl=False)
            raise
        view = PlanView(plan, title, max_chars, _whole_plan(json_file, full_plan_url))
        if json_file is not None:
            json_file.write_text(view.json(), encoding="utf-8")
        click.echo(formatted(view, fmt, click.style), nl=False)
        if plan.failed:
            sys.exit(1)
        if detailed_exitcode and plan.changed:
            sys.exit(2)


def _whole_plan(json_file: Path | None, url: str | None) -> str | None:
    """Where the markdown says the whole plan is, when it leaves detail out."""
    named = f"`{json_file.name}`" if json_file else None
    if url and named:
        return f"{named} in [this run]({url})"
    if url:
        return f"[this run]({url})"
    return f"{named}, written beside this comment" if named else None


def _live_plan(stack: str, stack_name: str | None, project_dir: Path) -> Plan:
    """The plan against the release the Pulumi stack runs (the stack files `iac up`
    recorded there), with what the cluster says: preflight and drift."""
    if not stack_name:
        raise IacError("--base live needs the Pulumi stack: --stack NAME (or $PULUMI_STACK)")
    from iac.program.automation import SOURCES, AutomationEngine
    from iac.program.live import live_base

    engine = AutomationEngine(project_dir.resolve(), stack_name, {}, report=lambda _: None)

    def read() -> FoundBase:
        found = live_base(engine.outputs().get(SOURCES))
        if found is None:
            click.echo(
                f"stack {stack_name} has no release recorded by `iac up`: all is new", err=True
            )
            return FoundBase(Base(None, None), None)
        # Live stack files are not the head's files: the head's load never reuses them.
        return FoundBase(Base(None, found.compiled, found.findings), None)

    def cluster(live: Compiled | None, head: Compiled) -> list[Finding]:
        access = engine.cluster_access()
        if access.render_dir is not None:  # no cluster: the provider writes to a folder
            return []
        return cluster_findings(
            live.objects if live is not None else None,
            head.objects,
            head.release.cluster,
            access.kubeconfig,
            access.context,
            project_dir.resolve(),
        )

    return plan_change(stack, read, cluster)

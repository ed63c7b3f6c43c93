"""`iac plan STACK --base BASE [--format text|markdown|json] [--detailed-exitcode]`"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from iac.cli.teardown import skip_at_exit
from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostics
from iac.diff.base import Base, base_stack_path, read_base
from iac.diff.findings import Finding
from iac.diff.plan import Plan, make_plan
from iac.diff.report import (
    DEFAULT_MAX_CHARS,
    FORMATS,
    MIN_MAX_CHARS,
    errors_json,
    errors_markdown,
    to_json,
    to_markdown,
    to_text,
)
from iac.errors import IacError, StackInvalid
from iac.policy import policy_diagnostics
from iac.preflight import (
    ClusterUnreadable,
    as_findings,
    check_cluster,
    check_drift,
    drift_findings,
    not_checked,
)
from iac.simulate import simulate_delta
from iac.simulate.trace import load
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.validate import check_stack

if TYPE_CHECKING:
    from iac.program.automation import AutomationEngine


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
    if base != "live":  # the Automation API may leave clean-up for the normal exit
        skip_at_exit()
    title = f"iac plan: {stack} against {base}"
    try:
        plan = _plan(stack, base, stack_name, project_dir)
    except IacError as exc:
        # A pull request gets the reason instead of an empty comment; stderr as always.
        errors = exc.diagnostics if isinstance(exc, StackInvalid) else []
        problem = None if isinstance(exc, StackInvalid) else str(exc)
        if json_file is not None:
            json_file.write_text(errors_json(errors, problem), encoding="utf-8")
        if fmt == "json":
            click.echo(errors_json(errors, problem), nl=False)
        elif fmt == "markdown":
            click.echo(errors_markdown(title, errors, problem, max_chars), nl=False)
        raise
    if json_file is not None:
        json_file.write_text(to_json(plan), encoding="utf-8")
    if fmt == "json":
        click.echo(to_json(plan), nl=False)
    elif fmt == "markdown":
        whole = _whole_plan(json_file, full_plan_url)
        click.echo(to_markdown(plan, title, max_chars, whole), nl=False)
    else:
        click.echo(to_text(plan, title, click.style), nl=False)
    if plan.failed:
        sys.exit(1)
    if detailed_exitcode and plan.changed:
        sys.exit(2)


def _plan(stack: str, base: str, stack_name: str | None, project_dir: Path) -> Plan:
    warnings = Diagnostics()
    # The base is loaded and compiled first so that the head's load and compile can reuse
    # what they made of the models that did not change (most of them, in a review):
    # `check_stack(reuse=...)`, `compile_stack(reuse=...)`.
    cluster_findings: list[Finding] = []
    try:
        if base == "live":
            engine = _live_engine(stack_name, project_dir)
            found = _live_base(engine, stack_name)
            base_pricing = None
        else:
            with base_stack_path(base, stack) as base_path:
                found = read_base(base_path) if base_path else Base(None, None)
            base_pricing = found.stack.spec.pricing if found.compiled and found.stack else None
    except IacError:
        _compile_head(check_stack(stack, Diagnostics()), Diagnostics())  # the head's errors first
        raise
    head_stack = check_stack(stack, warnings, reuse=found.stack)
    head = _compile_head(head_stack, warnings, found.compiled)
    if base == "live":
        cluster_findings = _cluster_findings(engine, found.compiled, head, project_dir)
    head_pricing = head_stack.spec.pricing
    simulations = _simulations(head_stack, found.compiled, head, base_pricing)
    return make_plan(
        found.compiled,
        head,
        base_pricing,
        head_pricing,
        warnings.sorted(),
        simulations,
        policies=head_stack.spec.policies,
        base_findings=[*found.findings, *cluster_findings],
    )


def _whole_plan(json_file: Path | None, url: str | None) -> str | None:
    """Where the markdown says the whole plan is, when it leaves detail out."""
    named = f"`{json_file.name}`" if json_file else None
    if url and named:
        return f"{named} in [this run]({url})"
    if url:
        return f"[this run]({url})"
    return f"{named}, written beside this comment" if named else None


def _live_engine(stack_name: str | None, project_dir: Path) -> AutomationEngine:
    if not stack_name:
        raise IacError("--base live needs the Pulumi stack: --stack NAME (or $PULUMI_STACK)")
    from iac.program.automation import AutomationEngine

    return AutomationEngine(project_dir.resolve(), stack_name, {}, report=lambda _: None)


def _live_base(engine: AutomationEngine, stack_name: str | None) -> Base:
    """The release the Pulumi stack runs, from the stack files `iac up` recorded there."""
    from iac.program.automation import SOURCES
    from iac.program.live import live_base

    found = live_base(engine.outputs().get(SOURCES))
    if found is None:
        click.echo(f"stack {stack_name} has no release recorded by `iac up`: all is new", err=True)
        return Base(None, None)
    # Live stack files are not the head's files: the head's load never reuses them.
    return Base(None, found.compiled, found.findings)


def _cluster_findings(
    engine: AutomationEngine, live: Compiled | None, head: Compiled, project_dir: Path
) -> list[Finding]:
    """What `iac up`'s preflight would stop on, and what was changed by hand since the live
    release was applied (drift, which `iac up` restores), as findings; none when the stack
    renders to a folder, a note when the cluster cannot be read (the plan stands without
    it)."""
    access = engine.cluster_access()
    if access.render_dir is not None:
        return []
    try:
        missing = check_cluster(
            head.objects,
            head.release.cluster,
            access.kubeconfig,
            access.context,
            project_dir.resolve(),
        )
        drifted = (
            check_drift(live.objects, access.kubeconfig, access.context, project_dir.resolve())
            if live is not None
            else []
        )
    except ClusterUnreadable as exc:
        return [not_checked(str(exc))]
    return [*as_findings(missing), *drift_findings(drifted)]


def _compile_head(
    stack: ResolvedStack, warnings: Diagnostics, reuse: Compiled | None = None
) -> Compiled:
    """The head's objects, reusing the base's where a model is unchanged; its policies become
    findings (an error fails the plan)."""
    compiled = compile_stack(stack, warnings, reuse=reuse)
    warnings.extend(policy_diagnostics(stack, compiled.release))
    return compiled


def _simulations(
    stack: ResolvedStack, base: Compiled | None, head: Compiled, base_pricing: Pricing | None
) -> list[dict[str, Any]]:
    """Each head environment that names a trace, replayed before and after the change."""
    folder = os.path.dirname(stack.file)
    found = []
    for model in sorted(stack.spec.models):
        environments = stack.spec.models[model].environments
        for env in sorted(environments):
            written = environments[env].trace
            if not written:
                continue
            relative = os.path.join(folder, written)
            trace = load(relative if os.path.exists(relative) else written)
            found.append(
                simulate_delta(
                    base,
                    head,
                    model,
                    env,
                    trace,
                    base_pricing=base_pricing,
                    head_pricing=stack.spec.pricing,
                )
            )
    return found

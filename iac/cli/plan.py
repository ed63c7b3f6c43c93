"""`iac plan STACK --base BASE [--format text|markdown|json] [--detailed-exitcode]`"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from iac.cli.teardown import skip_at_exit
from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostics
from iac.diff.base import base_stack_path
from iac.diff.plan import make_plan
from iac.diff.report import FORMATS, to_json, to_markdown, to_text
from iac.errors import IacError, StackInvalid
from iac.policy import policy_diagnostics
from iac.simulate import simulate_delta
from iac.simulate.trace import load
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Pricing
from iac.validate import check_stack


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
    stack_name: str | None,
    project_dir: Path,
) -> None:
    """What changing the declarations will do: lifecycle events, findings, object changes,
    cost per month and the rollout of each promotion.

    Exit 0, or 2 with --detailed-exitcode when there are changes; 1 on invalid input or an
    error-level finding.
    """
    if base != "live":  # the Automation API may leave clean-up for the normal exit
        skip_at_exit()
    warnings = Diagnostics()
    # The base is loaded and compiled first so that the head's load and compile can reuse
    # what they made of the models that did not change (most of them, in a review):
    # `check_stack(reuse=...)`, `compile_stack(reuse=...)`.
    try:
        if base == "live":
            base_compiled = _live_base(stack_name, project_dir)
            base_stack = None
            base_pricing = None
        else:
            with base_stack_path(base, stack) as base_path:
                base_stack, base_compiled = (
                    _compile(base_path, Diagnostics(), "base") if base_path else (None, None)
                )
            base_pricing = base_stack.spec.pricing if base_stack else None
    except IacError:
        _compile_head(check_stack(stack, Diagnostics()), Diagnostics())  # the head's errors first
        raise
    head_stack = check_stack(stack, warnings, reuse=base_stack)
    head = _compile_head(head_stack, warnings, base_compiled)
    head_pricing = head_stack.spec.pricing
    simulations = _simulations(head_stack, base_compiled, head, base_pricing)
    plan = make_plan(
        base_compiled, head, base_pricing, head_pricing, warnings.sorted(), simulations
    )
    title = f"iac plan: {stack} against {base}"
    if fmt == "json":
        click.echo(to_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(to_markdown(plan, title), nl=False)
    else:
        click.echo(to_text(plan, title, click.style), nl=False)
    if plan.failed:
        sys.exit(1)
    if detailed_exitcode and plan.changed:
        sys.exit(2)


def _live_base(stack_name: str | None, project_dir: Path) -> Compiled | None:
    """The release the Pulumi stack runs, from the stack files `iac up` recorded there."""
    if not stack_name:
        raise IacError("--base live needs the Pulumi stack: --stack NAME (or $PULUMI_STACK)")
    from iac.program.automation import SOURCES, AutomationEngine, live_compiled

    engine = AutomationEngine(project_dir.resolve(), stack_name, {}, report=lambda _: None)
    found = live_compiled(engine.outputs().get(SOURCES))
    if found is None:
        click.echo(f"stack {stack_name} has no release recorded by `iac up`: all is new", err=True)
    return found


def _compile_head(
    stack: ResolvedStack, warnings: Diagnostics, reuse: Compiled | None = None
) -> Compiled:
    """The head's objects, reusing the base's where a model is unchanged; its policies become
    findings (an error fails the plan)."""
    compiled = compile_stack(stack, warnings, reuse=reuse)
    warnings.extend(policy_diagnostics(stack, compiled.release))
    return compiled


def _compile(path: str, warnings: Diagnostics, which: str) -> tuple[ResolvedStack, Compiled]:
    try:
        stack = check_stack(path, warnings)
        return stack, compile_stack(stack, warnings)
    except StackInvalid as exc:
        raise IacError(f"the {which} stack is invalid:\n{exc}") from None


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

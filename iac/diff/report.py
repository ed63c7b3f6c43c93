"""A plan as text (a terminal), markdown (a pull-request comment, `iac.diff.markdown`) or
JSON, and the views `iac plan` prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from iac.diagnostics import Diagnostic
from iac.diff.describe import (
    chain_cost_lines,
    deleted_deployments,
    describe,
    describe_rollout,
    endpoint_lines,
    events_by_model,
    money,
    money_change,
    restart_effect,
    symbol,
)
from iac.diff.events import Event
from iac.diff.findings import Finding
from iac.diff.markdown import errors_markdown, to_markdown
from iac.diff.plan import Plan, errors_to_dict
from iac.reports import Style
from iac.simulate.report import delta_lines

REMOVALS_NAMED = 10
"""How many of the objects a plan removes its text names."""


def _finding_head(finding: Finding) -> str:
    """`delete-environment (llama)`: the ID, and the model (or chain) it is about."""
    return f"{finding.id} ({finding.about})" if finding.about else finding.id


def to_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2) + "\n"


def to_text(plan: Plan, title: str, style: Callable[..., str] | None = None) -> str:
    paint = style or (lambda text, **_: text)
    colors = {"+": "green", "-": "red", "→": "cyan", "⏸": "yellow", "▶": "green", "~": "yellow"}
    lines = [paint(title, bold=True), ""]
    if not plan.changed:
        lines += ["No changes.", ""]
    rollouts = {(r.model, r.environment): r for r in plan.rollouts}
    for model, events in events_by_model(plan).items():
        lines.append(paint(model, bold=True))
        for event in events:
            mark = symbol(event)
            lines.append(f"  {paint(mark, fg=colors[mark])} {describe(event)}")
            effect = restart_effect(event)
            if effect:
                lines.append(f"      {paint(effect, fg='yellow') if event['restarts'] else effect}")
            rollout = rollouts.get((_rollout_model(event), event.get("environment") or ""))
            if event["kind"] in ("promote", "promote_chain") and rollout:
                lines.append(f"      {describe_rollout(rollout, deleted_deployments(plan, model))}")
                if rollout.note:
                    lines.append(f"      {rollout.note}")
        lines.append("")
    if not plan.endpoints.empty:
        lines.append(paint("Endpoints", bold=True))
        for mark, what, url in endpoint_lines(plan.endpoints):
            lines.append(f"  {paint(mark, fg=colors[mark])} {what}: {url}")
        lines.append("")
    if plan.findings:
        lines.append(paint("Findings", bold=True))
        level_color = {"error": "red", "warning": "yellow", "info": "blue"}
        for finding in plan.findings:
            level = paint(f"{finding.level:<7}", fg=level_color[finding.level])
            lines.append(f"  {level} {_finding_head(finding)}: {finding.message}")
        lines.append("")
    for simulation in plan.simulations:
        lines += [*delta_lines(simulation), ""]
    cost = plan.cost
    lines.append(
        f"Cost per month: floor {money(cost['base']['floor'])} → {money(cost['head']['floor'])} "
        f"({money_change(cost['delta']['floor'])}), ceiling {money(cost['base']['ceiling'])} → "
        f"{money(cost['head']['ceiling'])} ({money_change(cost['delta']['ceiling'])})"
    )
    lines += [f"  {line}" for line in chain_cost_lines(cost.get("chains", []))]
    objects = plan.objects
    lines.append(
        f"Objects: {len(objects.added)} to add, {len(objects.changed)} to change, "
        f"{len(objects.removed)} to remove"
    )
    # Removals named: the one part of the object diff a reviewer must not have to look up
    # (the JSON and the markdown list every object).
    lines += [f"  {paint('-', fg=colors['-'])} {oid}" for oid in objects.removed[:REMOVALS_NAMED]]
    if len(objects.removed) > REMOVALS_NAMED:
        lines.append(f"  ... and {len(objects.removed) - REMOVALS_NAMED} more (`--format json`)")
    return "\n".join(lines) + "\n"


# The markdown plan, within a budget.


def errors_json(errors: list[Diagnostic], problem: str | None = None) -> str:
    return json.dumps(errors_to_dict(errors, problem), indent=2) + "\n"


@dataclass(frozen=True)
class PlanView:
    """What `iac plan` prints (`iac.reports.Report`): `max_chars` and `whole_plan` shape the
    markdown (see `to_markdown`)."""

    plan: Plan
    title: str
    max_chars: int | None = None
    whole_plan: str | None = None

    def text(self, style: Style) -> str:
        return to_text(self.plan, self.title, style)

    def markdown(self) -> str:
        return to_markdown(self.plan, self.title, self.max_chars, self.whole_plan)

    def json(self) -> str:
        return to_json(self.plan)


@dataclass(frozen=True)
class NoPlanView:
    """What `iac plan` prints when there is no plan (an invalid head, an unreadable base):
    the errors, located, where a pull request or a program reads them; nothing on a
    terminal, where they go to stderr as every command's errors do."""

    title: str
    errors: list[Diagnostic]
    problem: str | None
    max_chars: int | None = None

    def text(self, style: Style) -> str:
        return ""

    def markdown(self) -> str:
        return errors_markdown(self.title, self.errors, self.problem, self.max_chars)

    def json(self) -> str:
        return errors_json(self.errors, self.problem)


def _rollout_model(event: Event) -> str:
    """The model whose rollout an event shows: a chain's promotion shows its entrypoint's,
    whose route is what switches (its other chainlets are brought up with it)."""
    if event["kind"] == "promote_chain":
        return f"{event['chain']}-{event['entrypoint']}"
    return str(event["model"])

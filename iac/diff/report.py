"""A plan as text (a terminal), markdown (a pull-request comment) or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from iac.diff.endpoints import EndpointChanges
from iac.diff.events import Event
from iac.diff.plan import Plan
from iac.rollout.planner import RolloutPlan
from iac.simulate.report import delta_lines, delta_markdown
from iac.spec.types import format_duration

FORMATS = ("text", "markdown", "json")

_SYMBOL = {
    "create_model": "+", "delete_model": "-", "create_deployment": "+", "delete_deployment": "-",
    "create_environment": "+", "delete_environment": "-", "promote": "→", "deactivate": "⏸",
    "activate": "▶", "image": "~", "resources": "~", "autoscaling": "~", "node_pool": "~",
}  # fmt: skip


def describe(event: Event) -> str:
    """One line for an event: `promote production: v3 → v4`."""
    kind = event["kind"]
    deployment = event.get("deployment")
    env = event.get("environment")
    if kind == "create_model":
        return "new model"
    if kind == "delete_model":
        return "model deleted: all its deployments, environments and routes go"
    if kind in ("create_deployment", "delete_deployment", "deactivate", "activate"):
        verb = {
            "create_deployment": "new deployment",
            "delete_deployment": "deployment deleted",
            "deactivate": "deactivated (objects kept, no pods, no route)",
            "activate": "activated",
        }[kind]
        return (
            f"{deployment}: {verb}"
            if kind in ("deactivate", "activate")
            else f"{verb} {deployment}"
        )
    if kind in ("create_environment", "delete_environment"):
        return f"{'new' if kind == 'create_environment' else 'deleted'} environment {env}"
    if kind == "promote":
        traffic = event.get("changes", {}).get("traffic")
        if traffic:
            return f"{env}: traffic {_weights(traffic['from'])} → {_weights(traffic['to'])}"
        return f"{env}: {event['from'] or '(none)'} → {event['to']}"
    if kind == "image":
        return f"{deployment}: image {event['from']} → {event['to']}"
    if kind in ("resources", "autoscaling"):
        where = f"{deployment} ({env})" if env else deployment
        changes = ", ".join(
            f"{key} {_value(change['from'])} → {_value(change['to'])}"
            for key, change in event["changes"].items()
        )
        return f"{where}: {changes}"
    if kind == "node_pool":
        before, after = event["from"], event["to"]
        name = event["node_pool"]
        if before is None:
            return f"new pool {name}: {after['accelerator']}, up to {after['limit_gpus']} GPUs"
        if after is None:
            return f"pool {name} removed"
        pool_changes = [
            f"{label} {before[key]} → {after[key]}"
            for key, label in (
                ("demand_gpus", "demand"),
                ("limit_gpus", "limit"),
                ("capacity_type", "capacity"),
                ("accelerator", "accelerator"),
            )
            if before[key] != after[key]
        ]
        return f"pool {name}: " + ", ".join(pool_changes)
    return str(kind)


def _weights(traffic: dict[str, int] | None) -> str:
    if not traffic:
        return "(none)"
    return "/".join(f"{name} {weight}" for name, weight in traffic.items())


def _value(value: Any) -> str:
    return "unset" if value is None else str(value)


def describe_rollout(rollout: RolloutPlan) -> str:
    if all(step.action == "cleanup" for step in rollout.steps):
        how = f"no traffic to move: {rollout.candidate} has every request already"
    elif rollout.strategy == "immediate":
        how = "immediate: up and ready, then all traffic at once"
    else:
        shifts = [s for s in rollout.steps if s.action == "shift"]
        how = (
            f"rolling in {len(shifts)} step{'s' * (len(shifts) > 1)} ("
            + ", ".join(f"{s.candidate_weight}%" for s in shifts)
            + ")"
        )
        if rollout.minimum_seconds:
            how += f", at least {format_duration(rollout.minimum_seconds)}"
    cleanup = {  # said of one deployment, of several
        "scale_to_zero": ("scales to zero", "scale to zero"),
        "keep": ("keeps running", "keep running"),
        "deactivate": ("is deactivated", "are deactivated"),
    }[rollout.cleanup]
    leaving = rollout.leaving
    verb = cleanup[0] if len(leaving) == 1 else cleanup[1]
    after = f"; then {' and '.join(leaving)} {verb}" if leaving else ""
    ready = (
        f", never fewer than {rollout.min_ready_replicas} ready"
        if rollout.strategy == "rolling"
        else ""
    )
    return f"{how}, {rollout.replicas} replica(s), peak {rollout.peak_replicas}{ready}{after}"


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _delta(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.0f}"


def _by_model(plan: Plan) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = {}
    for event in plan.events:
        grouped.setdefault(event["model"] or "node pools", []).append(event)
    return grouped


def endpoint_lines(changes: EndpointChanges) -> list[tuple[str, str, str]]:
    """(symbol, what, URL or `old → new`) for each endpoint that appears, moves or goes."""

    def what(key: tuple[str, str, str]) -> str:
        model, kind, name = key
        return f"{model} {name}" if kind == "environment" else f"{model} deployment {name}"

    lines = [("+", what(key), url) for key, url in changes.added]
    lines += [("~", what(key), f"{old} → {new}") for key, old, new in changes.moved]
    lines += [("-", what(key), url) for key, url in changes.removed]
    return lines


def to_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2) + "\n"


def to_text(plan: Plan, title: str, style: Callable[..., str] | None = None) -> str:
    paint = style or (lambda text, **_: text)
    colors = {"+": "green", "-": "red", "→": "cyan", "⏸": "yellow", "▶": "green", "~": "yellow"}
    lines = [paint(title, bold=True), ""]
    if not plan.changed:
        lines += ["No changes.", ""]
    rollouts = {(r.model, r.environment): r for r in plan.rollouts}
    for model, events in _by_model(plan).items():
        lines.append(paint(model, bold=True))
        for event in events:
            symbol = _SYMBOL[event["kind"]]
            lines.append(f"  {paint(symbol, fg=colors[symbol])} {describe(event)}")
            rollout = rollouts.get((event["model"], event.get("environment") or ""))
            if event["kind"] == "promote" and rollout:
                lines.append(f"      {describe_rollout(rollout)}")
                if rollout.note:
                    lines.append(f"      {rollout.note}")
        lines.append("")
    if not plan.endpoints.empty:
        lines.append(paint("Endpoints", bold=True))
        for symbol, what, url in endpoint_lines(plan.endpoints):
            lines.append(f"  {paint(symbol, fg=colors[symbol])} {what}: {url}")
        lines.append("")
    if plan.findings:
        lines.append(paint("Findings", bold=True))
        level_color = {"error": "red", "warning": "yellow", "info": "blue"}
        for finding in plan.findings:
            level = paint(f"{finding.level:<7}", fg=level_color[finding.level])
            lines.append(f"  {level} {finding.id}: {finding.message}")
        lines.append("")
    for simulation in plan.simulations:
        lines += [*delta_lines(simulation), ""]
    cost = plan.cost
    lines.append(
        f"Cost per month: floor {_money(cost['base']['floor'])} → {_money(cost['head']['floor'])} "
        f"({_delta(cost['delta']['floor'])}), ceiling {_money(cost['base']['ceiling'])} → "
        f"{_money(cost['head']['ceiling'])} ({_delta(cost['delta']['ceiling'])})"
    )
    objects = plan.objects
    lines.append(
        f"Objects: {len(objects.added)} to add, {len(objects.changed)} to change, "
        f"{len(objects.removed)} to remove"
    )
    return "\n".join(lines) + "\n"


def to_markdown(plan: Plan, title: str) -> str:
    out = [f"### {title}", ""]
    if not plan.changed:
        out += ["No changes.", ""]
    elif plan.events:
        out += ["| | model | change |", "|---|---|---|"]
        for model, events in _by_model(plan).items():
            for event in events:
                out.append(f"| {_SYMBOL[event['kind']]} | {model} | {_cell(describe(event))} |")
        out.append("")
    if not plan.endpoints.empty:
        out += ["**Endpoints**", "", "| | endpoint | URL |", "|---|---|---|"]
        out += [
            f"| {symbol} | {_cell(what)} | {_cell(url)} |"
            for symbol, what, url in endpoint_lines(plan.endpoints)
        ]
        out.append("")
    if plan.findings:
        icon = {"error": "🛑", "warning": "⚠️", "info": "ℹ️"}
        out += ["**Findings**", ""]
        out += [
            f"- {icon[f.level]} **{f.level}** `{f.id}`: {_cell(f.message)}" for f in plan.findings
        ]
        out.append("")
    cost = plan.cost
    out += [
        "**Cost** (USD per month, 730 h)",
        "",
        "| | base | head | change |",
        "|---|---:|---:|---:|",
        f"| floor (min replicas) | {_money(cost['base']['floor'])} | "
        f"{_money(cost['head']['floor'])} | {_delta(cost['delta']['floor'])} |",
        f"| ceiling (max replicas) | {_money(cost['base']['ceiling'])} | "
        f"{_money(cost['head']['ceiling'])} | {_delta(cost['delta']['ceiling'])} |",
        "",
    ]
    for simulation in plan.simulations:
        out += [*delta_markdown(simulation), ""]
    if plan.rollouts:
        out += ["<details><summary>Rollouts</summary>", ""]
        for rollout in plan.rollouts:
            out += [
                f"**{rollout.model} / {rollout.environment}**: {rollout.previous or '(none)'} → "
                f"{rollout.candidate}, {describe_rollout(rollout)}",
                "",
                *([f"_{_cell(rollout.note)}_", ""] if rollout.note else []),
                "| step | previous | candidate | ready | traffic to candidate | wait |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            out += [
                f"| {s.action} | {s.previous_replicas} | {s.candidate_replicas} | "
                f"{s.ready_replicas} | {s.candidate_weight}% | "
                f"{format_duration(s.wait_seconds)} |"
                for s in rollout.steps
            ]
            out.append("")
        out += ["</details>", ""]
    objects = plan.objects
    if not objects.empty:
        out += [
            f"<details><summary>Objects: {len(objects.added)} to add, {len(objects.changed)} to "
            f"change, {len(objects.removed)} to remove</summary>",
            "",
        ]
        out += [f"- ➕ `{item}`" for item in objects.added]
        for change in objects.changed:
            note = " (**replaced**)" if change.replaced_by else ""
            fields = ", ".join(f"`{p}`" for p in change.paths[:8])
            more = f" and {len(change.paths) - 8} more" if len(change.paths) > 8 else ""
            out.append(f"- ✏️ `{change.id}`{note}: {fields}{more}")
        out += [f"- ➖ `{item}`" for item in objects.removed]
        out += ["", "</details>", ""]
    return "\n".join(out)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")

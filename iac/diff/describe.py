"""Plan events, rollouts and endpoint changes in words, the same in every format of a plan."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from iac.diff.chain_events import CHAIN_KINDS
from iac.diff.endpoints import EndpointChanges
from iac.diff.events import Event
from iac.diff.plan import Plan
from iac.rollout.planner import RolloutPlan
from iac.spec.types import format_duration

_SYMBOL = {
    "create_model": "+", "delete_model": "-", "create_deployment": "+", "delete_deployment": "-",
    "create_environment": "+", "delete_environment": "-", "promote": "→", "deactivate": "⏸",
    "activate": "▶", "image": "~", "resources": "~", "container": "~", "autoscaling": "~",
    "node_pool": "~",
}  # fmt: skip


_MODEL_KIND = {chain_kind: kind for kind, chain_kind in CHAIN_KINDS.items()}


def symbol(event: Event) -> str:
    """`+` what appears, `-` what goes, `~` what changes, `→` a promotion."""
    if event["kind"] == "node_pool":
        return "+" if event["from"] is None else "-" if event["to"] is None else "~"
    kind = str(event["kind"])
    return _SYMBOL[_MODEL_KIND.get(kind, kind)]


def describe(event: Event) -> str:
    """One line for an event: `promote production: v3 → v4`."""
    if event["kind"] in _MODEL_KIND:  # a chain's: said as the model's, with its chainlets
        said = describe({**event, "kind": _MODEL_KIND[event["kind"]]})
        said = said.replace("new model", "new chain").replace("model deleted", "chain deleted")
        return f"{said} (chainlets {', '.join(event['chainlets'])}, as one)"
    kind = event["kind"]
    if kind in _LIFECYCLE:
        return _describe_lifecycle(event)
    if kind == "promote":
        return _describe_promotion(event)
    if kind == "node_pool":
        return _describe_node_pool(event)
    deployment, env = event.get("deployment"), event.get("environment")
    where = f"{deployment} ({env})" if env else str(deployment)
    if kind == "image":
        return f"{where}: image {event['from']} → {event['to']}"
    if kind in ("resources", "autoscaling"):
        changes = ", ".join(
            f"{key} {_change(key, change)}" for key, change in event["changes"].items()
        )
        return f"{where}: {changes}"
    if kind == "container":
        return f"{where}: " + "; ".join(
            _env_change(change) if key == "env" else f"{key} {_change(key, change)}"
            for key, change in event["changes"].items()
        )
    return str(kind)


_LIFECYCLE = frozenset(
    {
        "create_model",
        "delete_model",
        "create_deployment",
        "delete_deployment",
        "deactivate",
        "activate",
        "create_environment",
        "delete_environment",
    }
)
"""Events of something appearing, going, or being switched off and on."""


def _describe_lifecycle(event: Event) -> str:
    kind = event["kind"]
    deployment = event.get("deployment")
    if kind == "create_model":
        return "new model"
    if kind == "delete_model":
        return "model deleted: all its deployments, environments and routes go"
    if kind in ("create_environment", "delete_environment"):
        new = "new" if kind == "create_environment" else "deleted"
        return f"{new} environment {event.get('environment')}"
    verb = {
        "create_deployment": "new deployment",
        "delete_deployment": "deployment deleted",
        "deactivate": "deactivated (objects kept, no pods, no route)",
        "activate": "activated",
    }[kind]
    return f"{deployment}: {verb}" if kind in ("deactivate", "activate") else f"{verb} {deployment}"


def _describe_promotion(event: Event) -> str:
    env = event.get("environment")
    traffic = event.get("changes", {}).get("traffic")
    if traffic:
        return f"{env}: traffic {_weights(traffic['from'])} → {_weights(traffic['to'])}"
    return f"{env}: {event['from'] or '(none)'} → {event['to']}"


def _describe_node_pool(event: Event) -> str:
    before, after = event["from"], event["to"]
    name = event["node_pool"]
    if before is None:
        gpus = after["limit_gpus"]
        return f"new pool {name}: {after['accelerator']}, up to {gpus} GPU{'s' * (gpus != 1)}"
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


def restart_effect(event: Event) -> str | None:
    """What a change of what runs in the pods does to them (`restarts`, set by `iac plan`):
    the Deployment replaces them one at a time (maxSurge 1, maxUnavailable 0)."""
    if "restarts" not in event:
        return None
    if not event["restarts"]:
        return "no pod restarts"
    whose = event.get("environment") or event["deployment"]
    return (
        f"rolling restart of {whose}'s pods: one new pod at a time (a cold start each), an "
        "old one goes once it is ready"
    )


_DURATIONS = frozenset(
    {
        "autoscaling_window",
        "scale_down_delay",
        "health.startup_timeout",
        "cold_start.node",
        "cold_start.image",
        "cold_start.weights",
        "cold_start.engine",
    }
)
"""Settings in seconds, shown as they are written (`30m`)."""


def _change(key: str, change: dict[str, Any]) -> str:
    """`1800 → 3600` as `30m → 1h` for a duration; `unset` for nothing."""
    before, after = change["from"], change["to"]
    if key in _DURATIONS:
        return f"{_duration(before)} → {_duration(after)}"
    return f"{_value(before)} → {_value(after)}"


def _duration(value: Any) -> str:
    return format_duration(value) if isinstance(value, int) else _value(value)


def _env_change(change: dict[str, list[str]]) -> str:
    """`env FOO added, BAR changed` (names only: values are never shown)."""
    parts = [
        f"{', '.join(change[how])} {how}"
        for how in ("added", "changed", "removed")
        if change.get(how)
    ]
    return "env " + ", ".join(parts)


def _weights(traffic: dict[str, int] | None) -> str:
    if not traffic:
        return "(none)"
    return "/".join(f"{name} {weight}" for name, weight in traffic.items())


def _value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return " ".join(str(item) for item in value) if value else "[]"
    return str(value)


def describe_rollout(rollout: RolloutPlan, deleted: Collection[str] = ()) -> str:
    """The rollout in one line; `deleted`: deployments the change deletes (of its model)."""
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
    kept = [name for name in rollout.leaving if name not in deleted]
    gone = [name for name in rollout.leaving if name in deleted]
    after = []
    if kept:
        after.append(f"{' and '.join(kept)} {cleanup[0] if len(kept) == 1 else cleanup[1]}")
    if gone:
        after.append(f"{' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} deleted")
    then = f"; then {' and '.join(after)}" if after else ""
    ready = (
        f", never fewer than {rollout.min_ready_replicas} ready"
        if rollout.strategy == "rolling"
        else ""
    )
    if rollout.chainlets:  # a chain: each chainlet's replicas, the route switched once
        how = how.replace("up and ready", "every chainlet up and ready")
        each = ", ".join(f"{p.model} {p.replicas}" for p in rollout.moved)
        peak = sum(p.peak_replicas for p in rollout.moved)
        return f"{how}, {each} replica(s), peak {peak}{ready}{then}"
    return f"{how}, {rollout.replicas} replica(s), peak {rollout.peak_replicas}{ready}{then}"


def deleted_deployments(plan: Plan, model: str) -> set[str]:
    return {
        e["deployment"]
        for e in plan.events
        if e["kind"] == "delete_deployment" and e["model"] == model
    }


def money(value: float) -> str:
    return f"${value:,.0f}"


def money_change(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.0f}"


def events_by_model(plan: Plan) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = {}
    for event in plan.events:
        chain = event.get("chain")
        grouped.setdefault(
            f"chain {chain}" if chain else event["model"] or "node pools", []
        ).append(event)
    return grouped


def endpoint_lines(changes: EndpointChanges) -> list[tuple[str, str, str]]:
    """(symbol, what, URL or `old → new`) for each endpoint that appears, moves or goes."""

    def what(key: tuple[str, str, str, bool]) -> str:
        owner, kind, name, chain = key
        owner = f"chain {owner}" if chain else owner
        return f"{owner} {name}" if kind == "environment" else f"{owner} deployment {name}"

    lines = [("+", what(key), url) for key, url in changes.added]
    lines += [("~", what(key), f"{old} → {new}") for key, old, new in changes.moved]
    lines += [("-", what(key), url) for key, url in changes.removed]
    return lines


def chain_cost_lines(chains: list[dict[str, Any]]) -> list[str]:
    """`cost.chains` in words (text and markdown), each level indented under the last:
    `chain rag: floor $0 → $0 (+$0), ceiling ...`, `rag / production: ...`, `rag-llm: ...`."""
    lines = []
    for chain in chains:
        lines.append(f"chain {chain['chain']}: {_cost_change(chain)}")
        for env in chain["environments"]:
            lines.append(
                f"  {chain['chain']} / {env['environment'] or '(none)'}: {_cost_change(env)}"
            )
            lines += [f"    {c['model']}: {_cost_change(c)}" for c in env["chainlets"]]
    return lines


def _cost_change(entry: dict[str, Any]) -> str:
    base, head = entry["base"], entry["head"]
    return ", ".join(
        f"{key} {money(base[key])} → {money(head[key])} ({money_change(head[key] - base[key])})"
        for key in ("floor", "ceiling")
    )

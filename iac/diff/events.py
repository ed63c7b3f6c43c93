"""Two releases → lifecycle events (design §5: the kinds and fields are a contract).

Each event is a JSON object with `kind` and `model`, and where they apply `deployment`,
`environment`, `from`, `to` and `changes`. Events are ordered by model, then by kind in the
order below, then by name, so a plan reads the same every time.

`container` is iac's addition to the contract's kinds: a change of the serving container's
other fields (`command`, `args`, `env`, `port`, `health`, `metrics`, `secrets`...), which
`image` and `resources` do not cover and which restarts pods as much as they do. An event of a
deployment that serves an environment names it (`environment`); `iac plan` adds `restarts`
to `image`, `resources` and `container` events (iac.diff.plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from iac.compile.release import DeploymentRelease, EnvironmentRelease, ModelRelease, Release
from iac.spec.auth import PUBLIC
from iac.spec.container import CONTAINER_FIELDS, ContainerFields
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
    "container",
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
        name=name,
        deployments={},
        environments={},
        endpoints=ModelEndpoints(None, ""),
        access=PUBLIC,
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


CONTAINER_CHANGES: tuple[str, ...] = tuple(
    name for name in CONTAINER_FIELDS if name not in ("image", "resources", "autoscaling")
)
"""Container fields a `container` event reports (`image`, `resources` and `autoscaling`
have kinds of their own)."""


def _deployment_events(old: DeploymentRelease, new: DeploymentRelease) -> list[Event]:
    base: Event = {"model": new.model, "deployment": new.name}
    events: list[Event] = []
    if old.state != new.state:
        events.append({"kind": "deactivate" if new.state == "inactive" else "activate", **base})
    # Changes of what runs in the pods say which environment's pods they restart.
    serving = {**base, "environment": new.environment} if new.environment else base
    if old.container.image != new.container.image:
        events.append(
            {"kind": "image", **serving, "from": old.container.image, "to": new.container.image}
        )
    # Equal models dump equal: only changed ones are dumped (most deployments of a plan are
    # unchanged; figures in docs/benchmarks.md).
    if old.container.resources != new.container.resources:
        old_resources = old.container.resources.model_dump() if old.container.resources else {}
        new_resources = new.container.resources.model_dump() if new.container.resources else {}
        changes = _changes(old_resources, new_resources)
        if changes:
            events.append({"kind": "resources", **serving, "changes": changes})
    if old.container != new.container:
        changes = container_changes(old.container, new.container)
        if changes:
            events.append({"kind": "container", **serving, "changes": changes})
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


def container_changes(old: ContainerFields, new: ContainerFields) -> dict[str, Any]:
    """The changed fields of `CONTAINER_CHANGES`, each `{"from", "to"}`; a mapping's keys
    one by one (`health.startup_timeout`). `env` names the variables added, changed and
    removed, never their values: one may hold a token although it should not."""
    changes: dict[str, Any] = {}
    for name in CONTAINER_CHANGES:
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        if name == "env":
            changes["env"] = _env_changes(before or {}, after or {})
        elif isinstance(before, BaseModel) or isinstance(after, BaseModel):
            nested = _changes(
                before.model_dump() if before is not None else {},
                after.model_dump() if after is not None else {},
            )
            changes.update({f"{name}.{key}": change for key, change in nested.items()})
        else:
            changes[name] = {"from": before, "to": after}
    return changes


def _env_changes(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(after) - set(before)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
        "removed": sorted(set(before) - set(after)),
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

"""The object-level diff of two renders: added, removed, and changed with field paths.

Replacements are called out: Kubernetes (and so Pulumi) cannot change some fields in place,
and a replaced serving object means downtime for what it serves (reference/pulumi.md §4.6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iac.compile import object_id
from iac.compile.capacity.gke import NODE_POOL_TYPE, resource_id

IMMUTABLE: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec.selector",),
    "Service": ("spec.clusterIP",),
    "PodDisruptionBudget": (),
}
"""Fields whose change replaces the object (besides its name and namespace)."""


@dataclass(frozen=True, slots=True)
class ObjectChange:
    id: str
    paths: tuple[str, ...]
    """Changed fields, `spec.template.spec.containers[0].image`."""
    replaced_by: tuple[str, ...] = ()
    """Changed fields that force a replacement (delete, then create)."""

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"id": self.id, "paths": list(self.paths)}
        if self.replaced_by:
            found["replace"] = list(self.replaced_by)
        return found


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    added: tuple[str, ...]
    changed: tuple[ObjectChange, ...]
    removed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "changed": [change.to_dict() for change in self.changed],
            "removed": list(self.removed),
        }

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def diff_objects(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> ObjectDiff:
    before = {object_id(o): o for o in base}
    # A head compiled with `reuse=` the base holds most of the base's objects themselves
    # (while both lists live, an `id` is one object's): their ids are known, and they are
    # unchanged.
    known = {id(o): key for key, o in before.items()}
    after = {known.get(id(o)) or object_id(o): o for o in head}
    return _diff(before, after, lambda _, obj: IMMUTABLE.get(obj["kind"], ()))


CLOUD_IMMUTABLE: dict[str, tuple[str, ...]] = {
    NODE_POOL_TYPE: (
        "name",
        "cluster",
        "location",
        "project",
        "nodeConfig.spot",
        "nodeConfig.guestAccelerators",
    ),
}
"""Inputs of cloud resources whose change replaces the resource: a GKE node pool's identity,
and what its VMs are (Spot or not, their GPUs), which GKE cannot change in a pool (Config
Connector's ContainerNodePool reference marks them immutable; the machine type, in place
since the provider's 2023 change, is not among them)."""


def diff_cloud(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> ObjectDiff:
    """The cloud resources' diff (GKE node pools: `{type, name, properties}`), by
    `type/name`, over their properties; `iac plan` lists it with the objects'."""
    before = {resource_id(d): d["properties"] for d in base}
    after = {resource_id(d): d["properties"] for d in head}
    return _diff(before, after, lambda key, _: CLOUD_IMMUTABLE.get(key.rsplit("/", 1)[0], ()))


def _diff(
    before: dict[str, Any],
    after: dict[str, Any],
    immutable: Callable[[str, Any], tuple[str, ...]],
) -> ObjectDiff:
    """Entries by id; `immutable(id, new value)` names the fields that replace it."""
    changed = []
    for key in sorted(set(before) & set(after)):
        old, new = before[key], after[key]
        if old is new:
            continue
        paths = tuple(_paths(old, new, ""))
        if paths:
            fields = immutable(key, new)
            replaced = tuple(p for p in paths if any(_under(p, field) for field in fields))
            changed.append(ObjectChange(key, paths, replaced))
    return ObjectDiff(
        added=tuple(k for k in after if k not in before),
        changed=tuple(changed),
        removed=tuple(k for k in before if k not in after),
    )


def joined(first: ObjectDiff, second: ObjectDiff) -> ObjectDiff:
    """One diff of both: `first`'s entries, then `second`'s."""
    return ObjectDiff(
        first.added + second.added, first.changed + second.changed, first.removed + second.removed
    )


def _under(path: str, field: str) -> bool:
    return path == field or path.startswith(field + ".") or path.startswith(field + "[")


_MISSING = object()


def _paths(old: Any, new: Any, prefix: str) -> list[str]:
    # Most objects of a plan are unchanged: the same dict when the head's compile reused the
    # base's (`compile_release(reuse=...)`), else equal. Comparing them whole (in C) is far
    # cheaper than walking them, and so is comparing each child before descending into it
    # (figures: docs/benchmarks.md).
    if old is new or old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            a, b = old.get(key, _MISSING), new.get(key, _MISSING)
            if a is b or a == b:
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if "." in str(key) or "/" in str(key):
                path = f'{prefix}["{key}"]'
            if a is _MISSING or b is _MISSING:
                found.append(path)
            else:
                found.extend(_paths(a, b, path))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            p
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            if not (a is b or a == b)
            for p in _paths(a, b, f"{prefix}[{i}]")
        ]
    return [prefix]

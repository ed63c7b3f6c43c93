"""Layering of container fields: stack defaults → template → model → (copied) deployment.

Each level contributes the keys it wrote. Mappings listed in `MERGED_MAPPINGS` (env,
health, metrics, resources, autoscaling) merge key by key, and one written empty (null)
sets nothing; any other field is replaced whole. The merge records where each winning value
was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iac.diagnostics import KeyPath
from iac.load.yaml_source import SourceMap
from iac.spec.container import MERGED_MAPPINGS
from iac.spec.resolved import Written


@dataclass(frozen=True, slots=True)
class Layer:
    """The keys one level wrote, and where in which file that level is."""

    values: dict[str, Any]
    source: SourceMap
    prefix: KeyPath
    moved: Mapping[str, KeyPath] | None = None
    """Top-level keys written elsewhere than below `prefix`: a chain environment's
    `autoscaling.<chainlet>` is the `autoscaling` of that chainlet's model."""

    def written(self, rel: KeyPath) -> Written:
        moved = self.moved.get(str(rel[0])) if self.moved is not None and rel else None
        if moved is not None:
            return Written(self.source, (*moved, *rel[1:]))
        return Written(self.source, self.prefix + rel)


@dataclass(frozen=True, slots=True)
class ModelPaths:
    """Where a model's parts are written: under `models.<name>`, or, for the model a
    chainlet runs as, spread over its chain (`chains.<chain>.chainlets.<chainlet>`,
    `chains.<chain>.deployments.<d>.chainlets.<chainlet>`, ...)."""

    model: KeyPath
    """The model level's container fields (`models.M`, `chains.C.chainlets.X`)."""
    owner: KeyPath
    """Where its `deployments:` and `environments:` are (`models.M`, `chains.C`)."""
    chainlet: str | None = None

    @staticmethod
    def of_model(name: str) -> ModelPaths:
        return ModelPaths(("models", name), ("models", name))

    def deployment(self, name: str) -> KeyPath:
        """The deployment's key (its `state`, `kind`, `from` are below it)."""
        return (*self.owner, "deployments", name)

    def deployment_fields(self, name: str) -> KeyPath:
        """Where the deployment's container fields are written."""
        found = self.deployment(name)
        return found if self.chainlet is None else (*found, "chainlets", self.chainlet)

    def environment(self, name: str) -> KeyPath:
        return (*self.owner, "environments", name)

    def environment_scaling(self, name: str) -> Mapping[str, KeyPath] | None:
        """Where the environment's `autoscaling` for this model is, when not below it."""
        if self.chainlet is None:
            return None
        return {"autoscaling": (*self.environment(name), "autoscaling", self.chainlet)}


Merged = tuple[dict[str, Any], dict[KeyPath, Written]]
"""Merged values, and where each was written (relative key path → Written)."""


def merge(layers: Iterable[Layer], start: Merged | None = None) -> Merged:
    """Merge layers, later over earlier, on top of `start` (which is not modified)."""
    merged: dict[str, Any] = dict(start[0]) if start else {}
    origins: dict[KeyPath, Written] = dict(start[1]) if start else {}
    for layer in layers:
        for key, value in layer.values.items():
            if value is None and key in MERGED_MAPPINGS:
                # Written empty (`resources:` with nothing under it): it sets nothing, as
                # an empty mapping would. Replacing would drop what the levels below set,
                # a deployment's GPUs or its replica bounds, without a word.
                continue
            if key in MERGED_MAPPINGS and isinstance(value, dict):
                target = merged.get(key)
                merged[key] = target = dict(target) if isinstance(target, dict) else {}
                origins[(key,)] = layer.written((key,))
                for sub, sub_value in value.items():
                    target[sub] = sub_value
                    origins[(key, sub)] = layer.written((key, sub))
            else:
                merged[key] = value
                if key in MERGED_MAPPINGS:  # only mappings leave per-key origins behind
                    for stale in [p for p in origins if p[:1] == (key,)]:
                        del origins[stale]
                origins[(key,)] = layer.written((key,))
    return merged, origins

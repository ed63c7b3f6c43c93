"""Layering of container fields: stack defaults → template → model → (copied) deployment.

Each level contributes the keys it wrote. Mappings listed in `MERGED_MAPPINGS` (env,
health, metrics, resources, autoscaling) merge key by key; any other field is replaced
whole. The merge records where each winning value was written.
"""

from __future__ import annotations

from collections.abc import Iterable
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

    def location(self, rel: KeyPath) -> Written:
        path = self.prefix + rel
        return Written(self.source.value(path), path)


def merge(layers: Iterable[Layer]) -> tuple[dict[str, Any], dict[KeyPath, Written]]:
    """Merge layers, later over earlier. Returns the values and where each was written."""
    merged: dict[str, Any] = {}
    origins: dict[KeyPath, Written] = {}
    for layer in layers:
        for key, value in layer.values.items():
            if key in MERGED_MAPPINGS and isinstance(value, dict):
                target = merged.get(key)
                merged[key] = target = dict(target) if isinstance(target, dict) else {}
                origins[(key,)] = layer.location((key,))
                for sub, sub_value in value.items():
                    target[sub] = sub_value
                    origins[(key, sub)] = layer.location((key, sub))
            else:
                merged[key] = value
                for stale in [p for p in origins if p[:1] == (key,)]:
                    del origins[stale]
                origins[(key,)] = layer.location((key,))
    return merged, origins

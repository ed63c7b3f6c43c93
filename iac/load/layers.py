"""Layering of container fields: stack defaults → template → model → (copied) deployment.

Each level contributes the keys it wrote. Mappings listed in `MERGED_MAPPINGS` (env,
health, metrics, resources, autoscaling) merge key by key, and one written empty (null)
sets nothing; any other field is replaced whole. The merge records where each winning value
was written.
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

    def written(self, rel: KeyPath) -> Written:
        return Written(self.source, self.prefix + rel)


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

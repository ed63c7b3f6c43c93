"""Serialize compiled objects: YAML documents, a JSON `List`, or one file per object."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

from iac.gc_pause import without_gc
from iac.render import yaml_text

FORMATS = ("yaml", "json")


def to_yaml(obj: dict[str, Any]) -> str:
    """One object as a YAML document (keys in the compiler's order: apiVersion, kind, ...)."""
    return yaml_text.dump(obj)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"


@without_gc
def render(objects: Iterable[dict[str, Any]], fmt: str = "yaml") -> str:
    """All objects: YAML documents separated by `---`, or a JSON `v1/List`."""
    items = list(objects)
    if fmt == "json":
        return to_json({"apiVersion": "v1", "kind": "List", "items": items})
    return "".join("---\n" + to_yaml(obj) for obj in items)


def file_name(index: int, obj: dict[str, Any], fmt: str = "yaml") -> str:
    """`003-deployment-models-llama-3-8b-v3.yaml`: the prefix keeps apply order in `ls`."""
    metadata = obj["metadata"]
    parts = [f"{index:03d}", obj["kind"].lower()]
    if "namespace" in metadata:
        parts.append(metadata["namespace"])
    parts.append(metadata["name"])
    return re.sub(r"[^a-z0-9.-]", "-", "-".join(parts)) + "." + fmt


def write_directory(
    objects: Iterable[dict[str, Any]], directory: str, fmt: str = "yaml"
) -> list[str]:
    """Write one file per object; files `iac` wrote before and no longer emits are removed."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for index, obj in enumerate(objects, start=1):
        name = file_name(index, obj, fmt)
        text = to_json(obj) if fmt == "json" else to_yaml(obj)
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    keep = {os.path.basename(p) for p in written}
    for stale in os.listdir(directory):
        if re.match(r"^\d{3}-.*\.(yaml|json)$", stale) and stale not in keep:
            os.remove(os.path.join(directory, stale))
    return written

"""Serialize compiled objects: YAML documents or a JSON `List` (one file per object:
`iac.render.directory`).

Cloud resources the Pulumi program creates beside the objects (GKE node pools: each
`{type, name, properties}`) are shown too, where a Kubernetes client skips them: after the
YAML documents as commented-out documents (so `iac render | kubectl apply -f -` still
works), and under `cloudResources` in the JSON `List` (kubectl reads only its `items`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from iac.render import yaml_text

FORMATS = ("yaml", "json")
CLOUD_KEY = "cloudResources"
"""Key of the cloud resources in the JSON `List`."""
CLOUD_HEADER = (
    "# Cloud resources: created by the Pulumi program (`iac up`, `pulumi up`), not by\n"
    "# kubectl. Each is `type` (Pulumi's type token), `name` and `properties` (its inputs).\n"
)


def to_yaml(obj: dict[str, Any]) -> str:
    """One object as a YAML document (keys in the compiler's order: apiVersion, kind, ...)."""
    return yaml_text.dump(obj)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"


def render(
    objects: Iterable[dict[str, Any]],
    fmt: str = "yaml",
    cloud: Iterable[dict[str, Any]] = (),
) -> str:
    """All objects: YAML documents separated by `---`, or a JSON `v1/List`; then the cloud
    resources, if any (commented out in YAML, `cloudResources` in JSON)."""
    items = list(objects)
    resources = list(cloud)
    if fmt == "json":
        listing: dict[str, Any] = {"apiVersion": "v1", "kind": "List", "items": items}
        if resources:
            listing[CLOUD_KEY] = resources
        return to_json(listing)
    writer = yaml_text.Writer()
    text = writer.dump_all(items, "---")
    if resources:
        documents = writer.dump_all(resources, "---")
        text += CLOUD_HEADER + "".join(
            f"# {line}".rstrip() + "\n" for line in documents.splitlines()
        )
    return text

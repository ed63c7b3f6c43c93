"""Serialize compiled objects: YAML documents, a JSON `List`, or one file per object.

Cloud resources the Pulumi program creates beside the objects (GKE node pools: each
`{type, name, properties}`) are shown too, where a Kubernetes client skips them: after the
YAML documents as commented-out documents (so `iac render | kubectl apply -f -` still
works), under `cloudResources` in the JSON `List` (kubectl reads only its `items`), and as
files in the `cloud/` subfolder of an output folder (which `kubectl apply -f DIR` does not
descend into).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

from iac.gc_pause import without_gc
from iac.render import yaml_text

FORMATS = ("yaml", "json")
CLOUD_DIR = "cloud"
"""Subfolder of `write_directory`'s folder that holds the cloud resources."""
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


@without_gc
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
    writer = yaml_text.Writer()
    for index, obj in enumerate(objects, start=1):
        name = file_name(index, obj, fmt)
        text = to_json(obj) if fmt == "json" else writer.dump(obj)
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    _remove_stale(directory, written)
    return written


def cloud_file_name(index: int, resource: dict[str, Any], fmt: str = "yaml") -> str:
    """`001-gcp-nodepool-gpu-h100.yaml`: provider, resource kind and name."""
    token = resource["type"]
    parts = [f"{index:03d}", token.split(":", 1)[0], token.rsplit(":", 1)[-1].lower()]
    parts.append(resource["name"])
    return re.sub(r"[^a-z0-9.-]", "-", "-".join(parts)) + "." + fmt


def write_cloud_directory(
    resources: Iterable[dict[str, Any]], directory: str, fmt: str = "yaml"
) -> list[str]:
    """Write one file per cloud resource into `directory/cloud/` (created only when there
    are some); files `iac` wrote there before and no longer emits are removed."""
    folder = os.path.join(directory, CLOUD_DIR)
    items = list(resources)
    if not items and not os.path.isdir(folder):
        return []
    os.makedirs(folder, exist_ok=True)
    written = []
    for index, resource in enumerate(items, start=1):
        path = os.path.join(folder, cloud_file_name(index, resource, fmt))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(to_json(resource) if fmt == "json" else to_yaml(resource))
        written.append(path)
    _remove_stale(folder, written)
    if not os.listdir(folder):
        os.rmdir(folder)
    return written


def _remove_stale(directory: str, written: list[str]) -> None:
    keep = {os.path.basename(p) for p in written}
    for stale in os.listdir(directory):
        if re.match(r"^\d{3}-.*\.(yaml|json)$", stale) and stale not in keep:
            os.remove(os.path.join(directory, stale))

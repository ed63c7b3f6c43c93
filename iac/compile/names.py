"""Kubernetes object names: DNS-1123 labels, cut with a short stable hash when too long."""

from __future__ import annotations

import hashlib
from typing import Any

MAX_NAME = 63
"""A DNS-1123 label: Services, label values and most names must fit."""
MAX_WORKLOAD_NAME = 54
"""Per-deployment objects share one name; KEDA names its HPA `keda-hpa-<name>`, and that
must fit in 63 characters too."""


def object_name(*parts: str, limit: int = MAX_NAME) -> str:
    """`("llama-3-8b", "v3")` → `llama-3-8b-v3`; past `limit`, cut and end in an 8-hex hash
    of the full name, so the result is stable and still tells objects apart."""
    full = "-".join(parts)
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - 9].rstrip('-')}-{digest}"


def object_id(obj: dict[str, Any]) -> str:
    """`apps/v1/Deployment/models/llama-3-8b-v3` (no namespace segment when cluster-scoped)."""
    metadata = obj["metadata"]
    parts = [obj["apiVersion"], obj["kind"]]
    if "namespace" in metadata:
        parts.append(metadata["namespace"])
    parts.append(metadata["name"])
    return "/".join(parts)


def logical_name(obj: dict[str, Any]) -> str:
    """Kind, namespace and name: the Pulumi program's logical name of an object, what
    identifies it within its type.

    Pulumi URNs carry the component type, the resource type and this name, but not the
    component's name, so a name must be unique across every model on its own. Kubernetes
    guarantees that for kind + namespace + name, and these never change while the object
    exists (a changed name is a new object anyway).
    """
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    name = metadata["name"]
    return f"{obj['kind']}/{namespace}/{name}" if namespace else f"{obj['kind']}/{name}"

"""Kubernetes object names: DNS-1123 labels, cut with a short stable hash when too long.

Every name the compiler makes goes through `object_name` (or `distinct_names`, for names
that two of iac's own declarations could spell alike), so each is a valid DNS-1123 label
(and so a valid subdomain) whatever the length of the names it is made of, and two names
that differ before the cut still differ after it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

MAX_NAME = 63
"""A DNS-1123 label: Services, label values and most names must fit."""
MAX_WORKLOAD_NAME = 54
"""Per-deployment objects share one name; KEDA names its HPA `keda-hpa-<name>`, and that
must fit in 63 characters too."""
_HASH = 8
"""Hex digits of the hash that ends a cut name."""

Identity = tuple[str, str, str, str]
"""(API group, kind, namespace, name), namespace '' for cluster-scoped kinds: what the API
server tells objects apart by."""

Key = TypeVar("Key", bound=tuple[str, ...])


def object_name(*parts: str, limit: int = MAX_NAME) -> str:
    """`("llama-3-8b", "v3")` → `llama-3-8b-v3`; past `limit`, cut and end in an 8-hex hash
    of the full name, so the result is stable and still tells objects apart.

    Parts are names the stack declares (DNS-1123 labels) or iac's own words, so the joined
    name is a label too; the cut drops a `-` it would end on."""
    full = "-".join(parts)
    if len(full) <= limit:
        return full
    return _cut(full, full, limit)


def distinct_names(wanted: Mapping[Key, Sequence[str]], limit: int = MAX_NAME) -> dict[Key, str]:
    """`object_name` of each key's parts, except where two keys would get the same name
    (pool `gpu`'s `pool-gpu` + `replicas` and pool `gpu-replicas`' `pool-gpu-replicas`):
    each of those ends in a hash of its key instead, so none takes another's name and
    neither depends on which was declared first. A name no other key shares is
    `object_name`'s."""
    plain = {key: object_name(*parts, limit=limit) for key, parts in wanted.items()}
    shared = Counter(plain.values())
    return {
        key: name if shared[name] == 1 else _cut("-".join(wanted[key]), "\0".join(key), limit)
        for key, name in plain.items()
    }


def _cut(full: str, hashed: str, limit: int) -> str:
    """`full` cut to end in a hash of `hashed` within `limit` (never on a `-`)."""
    return f"{full[: limit - _HASH - 1].rstrip('-')}-{_digest(hashed)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH]


def api_group(api_version: str) -> str:
    """`apps/v1` → `apps`; `v1` → `` (the core group)."""
    return api_version.rpartition("/")[0]


def identity(obj: Mapping[str, Any]) -> Identity:
    """(API group, kind, namespace, name) of a compiled object."""
    metadata = obj["metadata"]
    return (
        api_group(obj["apiVersion"]),
        obj["kind"],
        metadata.get("namespace", ""),
        metadata["name"],
    )


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

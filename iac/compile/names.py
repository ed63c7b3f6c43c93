"""Kubernetes object names: DNS-1123 labels, cut with a short stable hash when too long."""

from __future__ import annotations

import hashlib

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

"""A stand-in for the kubectl `iac status` reads: the objects iac applied, answered with the
status the API server would add."""

from __future__ import annotations

from typing import Any

KIND_OF = {
    "deployments.apps": "Deployment",
    "scaledobjects.keda.sh": "ScaledObject",
    "httproutes.gateway.networking.k8s.io": "HTTPRoute",
}
"""The kind of object each resource name `iac status` lists stands for."""


class Recorded:
    """What `kubectl get -o json` returned: the applied objects plus their status."""

    def __init__(self, objects: list[dict[str, Any]], status: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.status = status
        self.calls: list[tuple[str, str]] = []

    def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        self.calls.append((kind, namespace))
        found = []
        for obj in self.objects:
            if obj["kind"] == KIND_OF[kind] and obj["metadata"].get("namespace") == namespace:
                found.append({**obj, "status": self.status.get(obj["metadata"]["name"], {})})
        return found

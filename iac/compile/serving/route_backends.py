"""Who an environment's requests go to, read back from HTTPRoutes as `iac.compile.serving.routes`
writes them: what `iac status` finds applied in the cluster, and what the policy pack sees
of a split among the objects Pulumi registers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iac.compile import labels
from iac.compile.release.chains import BACKEND_HEADER

ENVIRONMENT_PATH = "/environments/"
"""What comes before an environment's name in a rule's path (after a model's prefix)."""


def environment_backends(
    routes: Iterable[dict[str, Any]], model: str
) -> dict[str, list[tuple[str, int]]]:
    """Environment → (object name of a Deployment, percent of its requests) for `model`'s
    routes. A backend behind the interceptor is named by the header the route sets for it; a
    lone backend takes every request; weights are relative (Gateway API: 1 when unset)."""
    found: dict[str, list[tuple[str, int]]] = {}
    for route in routes:
        if route.get("metadata", {}).get("labels", {}).get(labels.MODEL) != model:
            continue
        for rule in route.get("spec", {}).get("rules", []):
            path = rule.get("matches", [{}])[0].get("path", {}).get("value", "")
            # `[/models/<model>]/environments/<env>`, whichever host and prefix it was given.
            _, marker, env = path.rpartition(ENVIRONMENT_PATH)
            if not marker or "/" in env:
                continue
            headers = [
                h["value"]
                for f in rule.get("filters", [])
                if f.get("type") == "RequestHeaderModifier"
                for h in f["requestHeaderModifier"].get("set", [])
                if h.get("name") == BACKEND_HEADER
            ]
            refs = rule.get("backendRefs", [])
            if headers:
                found[env] = [(headers[0], 100)]
            elif len(refs) == 1:
                found[env] = [(refs[0]["name"], 100)]
            else:
                # Numbers may come as floats (the Pulumi engine sends them so).
                found[env] = [(ref["name"], int(ref.get("weight", 1))) for ref in refs]
    return found

"""What a platform team creates on a cluster before iac applies a stack: its Gateway (with
a listener for every host the stack's routes use), the Secrets its pods read and those
holding the API keys its SecurityPolicies accept.

The cluster-wide prerequisites (CRDs, KEDA, the add-on's interceptor Service) are
installed by tests/live/fixtures.py; these are the stack's own. Built from the compiled
objects, so every example gets what it asks for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from iac.preflight.references import key_secret_references, secret_references


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if obj.get("kind") in ("Deployment", "DaemonSet", "StatefulSet"):
        spec: Mapping[str, Any] = obj["spec"]["template"]["spec"]
        return spec
    return None


def stack_prerequisites(
    objects: Iterable[Mapping[str, Any]], *, gateway_class: str = "live-test", port: int = 80
) -> list[dict[str, Any]]:
    """Namespaces, Gateways and Secrets the objects need and do not create themselves.

    The Gateways are of ``gateway_class``, their listeners on ``port``: the defaults name a
    class nothing serves (the objects are only checked); a Gateway a real implementation
    serves takes its class and the port of its entry point (tests/live/gateway.py).
    """
    objects = list(objects)
    created = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects
    }
    wanted: list[dict[str, Any]] = []
    namespaces: set[str] = set()

    def namespace(name: str) -> None:
        """A namespace made by hand (iac's Namespace object, if any, adopts it)."""
        if name not in namespaces:
            namespaces.add(name)
            wanted.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    gateways: dict[tuple[str, str], set[str]] = {}
    for route in (o for o in objects if o["kind"] == "HTTPRoute"):
        for parent in route["spec"].get("parentRefs", []):
            key = (parent.get("namespace", route["metadata"]["namespace"]), parent["name"])
            gateways.setdefault(key, set()).update(route["spec"].get("hostnames", []))
    for (gateway_namespace, name), hosts in sorted(gateways.items()):
        namespace(gateway_namespace)
        # One wildcard listener per parent domain, as a platform team serves a domain; named
        # by it, so that stacks sharing the Gateway add theirs (a list keyed by name).
        domains = sorted({host.split(".", 1)[1] for host in hosts if "." in host})
        listeners = [
            {
                "name": "http-" + domain.replace(".", "-"),
                "protocol": "HTTP",
                "port": port,
                "hostname": f"*.{domain}",
                "allowedRoutes": {"namespaces": {"from": "All"}},
            }
            for domain in domains
        ] or [{"name": "http", "protocol": "HTTP", "port": port,
               "allowedRoutes": {"namespaces": {"from": "All"}}}]  # fmt: skip
        wanted.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": name, "namespace": gateway_namespace},
                "spec": {"gatewayClassName": gateway_class, "listeners": listeners},
            }
        )

    secrets: set[tuple[str, str]] = set()
    for obj in objects:
        pod = _pod_spec(obj)
        for name, _ in secret_references(pod) if pod is not None else key_secret_references(obj):
            key = (obj["metadata"]["namespace"], name)
            if key not in secrets and ("Secret", *key) not in created:
                secrets.add(key)
                namespace(key[0])
                wanted.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": name, "namespace": key[0]},
                        "stringData": {"TOKEN": "not-a-real-token"},
                    }
                )
    return wanted

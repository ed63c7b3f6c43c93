"""The Gateway each HTTPRoute attaches to: it must exist and have a listener that takes
the route, as Gateway API attaches routes:

- `sectionName` on the parentRef picks one listener by name (iac sets none: any listener);
- the listener's protocol is HTTP or HTTPS, and its `allowedRoutes.kinds` (when set) name
  HTTPRoute;
- its `allowedRoutes.namespaces` admit the route's namespace (`Same`, the default: only the
  Gateway's own; `All`; `Selector`: the namespace's labels);
- its hostname matches one of the route's: none on either side matches anything, an exact
  name matches itself, `*.example.com` matches any name below example.com (not
  example.com itself).

A route that only HTTP listeners take is a warning (`gateway-https`, one per Gateway): it is
served, but requests and the API keys in their headers cross the network unencrypted,
unless TLS ends in front of the Gateway (a cloud load balancer), which preflight cannot see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from iac.diagnostics import Severity
from iac.preflight.cluster import ClusterReader
from iac.preflight.missing import Missing, missing, needed_by
from iac.spec.stack import Cluster

GROUP = "gateway.networking.k8s.io"
ROUTE_PROTOCOLS = ("HTTP", "HTTPS")
"""Listener protocols an HTTPRoute attaches to."""
NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server gives every namespace: its name."""


def hostnames_intersect(listener: str | None, route: str) -> bool:
    """Whether a listener's hostname (None: any) accepts a route's hostname."""
    if not listener:
        return True
    if listener == route:
        return True
    if listener.startswith("*."):
        if route.startswith("*."):  # two wildcards: one domain within the other
            return route.endswith(listener[1:]) or listener.endswith(route[1:])
        return route.endswith(listener[1:])
    if route.startswith("*."):
        return listener.endswith(route[1:])
    return False


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector (`matchLabels`, `matchExpressions`) against labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def refusal(
    listener: Mapping[str, Any],
    gateway_namespace: str,
    route_namespace: str,
    namespace_labels: Mapping[str, str],
    hostnames: Sequence[str],
) -> str | None:
    """Why `listener` does not take an HTTPRoute of `route_namespace` with `hostnames`; None
    when it does."""
    protocol = listener.get("protocol")
    if protocol not in ROUTE_PROTOCOLS:
        return f"its protocol is {protocol}, which takes no HTTPRoute"
    allowed = listener.get("allowedRoutes") or {}
    kinds = allowed.get("kinds")
    if kinds and not any(
        k.get("kind") == "HTTPRoute" and k.get("group", GROUP) == GROUP for k in kinds
    ):
        return "its allowedRoutes.kinds leave out HTTPRoute"
    namespaces = allowed.get("namespaces") or {}
    origin = namespaces.get("from", "Same")
    if origin == "Same" and route_namespace != gateway_namespace:
        return (
            f"it admits routes from {gateway_namespace} only (allowedRoutes.namespaces.from: Same)"
        )
    if origin == "Selector" and not selector_matches(
        namespaces.get("selector") or {}, namespace_labels
    ):
        return f"its allowedRoutes.namespaces.selector does not select namespace {route_namespace}"
    if origin == "None":
        return "it admits no routes (allowedRoutes.namespaces.from: None)"
    hostname = listener.get("hostname")
    if hostnames and not any(hostnames_intersect(hostname, h) for h in hostnames):
        return f"its hostname {hostname} does not match {', '.join(hostnames)}"
    return None


def gateway_findings(
    objects: Sequence[Mapping[str, Any]], cluster: Cluster, reader: ClusterReader
) -> list[Missing]:
    """A `Missing` per Gateway the routes attach to that does not exist, and per route that
    no listener of its Gateway takes; a warning per Gateway that takes some of the routes
    over HTTP only."""
    routes = [o for o in objects if o.get("kind") == "HTTPRoute"]
    versions = reader.api_groups().get(GROUP, []) if routes else []
    version = next((v for v in ("v1", "v1beta1") if v in versions), None)
    if version is None:
        return []  # no Gateway API: missing_apis says so for the routes
    attached = _attached(routes)
    found = []
    namespace_labels: dict[str, dict[str, str]] = {}
    for (namespace, name), uses in sorted(attached.items()):
        gateway = reader.get(f"gateways.{version}.{GROUP}", name, namespace)
        users = [route for route, _ in uses]
        if gateway is None:
            wanted = _wanted_hosts(users, cluster.domain)
            found.append(
                missing(
                    "missing-gateway",
                    f"Gateway {namespace}/{name} does not exist, the parent of "
                    f"{needed_by(users)}: create it with your Gateway API implementation, with "
                    f"a listener for {wanted}; or name your Gateway in cluster.gateway (name, "
                    "namespace)",
                    users,
                )
            )
            continue
        for route, _ in uses:
            route_namespace = route["metadata"].get("namespace", "default")
            if route_namespace not in namespace_labels:
                namespace_labels[route_namespace] = _namespace_labels(
                    route_namespace, objects, reader
                )
        listeners = gateway.get("spec", {}).get("listeners") or []
        found.extend(
            _listener_findings((namespace, name), listeners, uses, namespace_labels, cluster)
        )
    return found


def _listener_findings(
    gateway: tuple[str, str],
    listeners: Sequence[Mapping[str, Any]],
    uses: Sequence[tuple[Mapping[str, Any], str | None]],
    namespace_labels: Mapping[str, Mapping[str, str]],
    cluster: Cluster,
) -> list[Missing]:
    """An error per route no listener of `gateway` takes; a warning when some are taken
    over HTTP only."""
    https = [lst for lst in listeners if lst.get("protocol") == "HTTPS"]
    found = []
    plain: list[Mapping[str, Any]] = []
    for route, section in uses:
        route_namespace = route["metadata"].get("namespace", "default")
        labels = namespace_labels[route_namespace]
        untaken = _untaken_route(gateway, listeners, route, section, labels)
        if untaken is not None:
            found.append(
                missing(
                    "gateway-listener",
                    f"{untaken}: add a listener for "
                    f"{_wanted_hosts([route], cluster.domain)} that admits routes from "
                    f"{route_namespace}, or name a Gateway that has one in cluster.gateway",
                    [route],
                )
            )
        elif _untaken_route(gateway, https, route, section, labels) is not None:
            plain.append(route)
    if plain:
        found.append(_plain_http(gateway, plain, cluster.domain))
    return found


def _plain_http(
    gateway: tuple[str, str], routes: Sequence[Mapping[str, Any]], domain: str | None
) -> Missing:
    namespace, name = gateway
    wanted = _wanted_hosts(routes, domain)
    return missing(
        "gateway-https",
        f"Gateway {namespace}/{name} has no HTTPS listener for {wanted}, so it takes "
        f"{needed_by(routes)} over HTTP only: requests, and the API keys in their headers, "
        f"cross the network unencrypted. Add an HTTPS listener for {wanted} with a "
        "certificate for it (tls.certificateRefs), unless TLS ends in front of the Gateway "
        "(a load balancer)",
        routes,
        Severity.WARNING,
    )


Routes = dict[tuple[str, str], list[tuple[Mapping[str, Any], str | None]]]
"""(namespace, name) of a Gateway → the routes attached to it, each with the listener it
names (`sectionName`; None: any)."""


def _attached(routes: Sequence[Mapping[str, Any]]) -> Routes:
    attached: Routes = defaultdict(list)
    for route in routes:
        namespace = route["metadata"].get("namespace", "default")
        for ref in route.get("spec", {}).get("parentRefs") or []:
            if ref.get("group", GROUP) == GROUP and ref.get("kind", "Gateway") == "Gateway":
                key = (ref.get("namespace", namespace), ref["name"])
                attached[key].append((route, ref.get("sectionName")))
    return attached


def _untaken_route(
    gateway: tuple[str, str],
    listeners: Sequence[Mapping[str, Any]],
    route: Mapping[str, Any],
    section: str | None,
    labels: Mapping[str, str],
) -> str | None:
    """Why no listener of the Gateway takes `route` (through the listener `section`
    names, if it names one), said as the start of a finding; None when one does."""
    namespace, name = gateway
    route_namespace = route["metadata"].get("namespace", "default")
    hostnames = route.get("spec", {}).get("hostnames") or []
    candidates = [lst for lst in listeners if section in (None, lst.get("name"))]
    refusals = [
        (lst.get("name"), refusal(lst, namespace, route_namespace, labels, hostnames))
        for lst in candidates
    ]
    if any(reason is None for _, reason in refusals):
        return None
    if section is not None and not candidates:
        why = f"it has no listener named {section}"
    else:
        why = "; ".join(f"listener {n}: {r}" for n, r in refusals) or "it has no listener"
    hosts = ", ".join(hostnames) or "any host"
    return (
        f"Gateway {namespace}/{name} has no listener that takes HTTPRoute "
        f"{route_namespace}/{route['metadata']['name']} for {hosts} ({why})"
    )


def _wanted_hosts(routes: Sequence[Mapping[str, Any]], domain: str | None) -> str:
    """What a listener must accept: `*.<domain>` where the routes' hosts are below the
    stack's domain (one listener for every model, as docs/endpoints.md says), else the
    hosts; any host where the routes name none."""
    hosts = sorted({h for r in routes for h in r.get("spec", {}).get("hostnames") or []})
    if not hosts:
        return "any host"
    if domain and all(h.endswith(f".{domain}") for h in hosts):
        return f"*.{domain}"
    return ", ".join(hosts)


def _namespace_labels(
    namespace: str, objects: Sequence[Mapping[str, Any]], reader: ClusterReader
) -> dict[str, str]:
    """The labels the route's namespace has (or will have, when iac creates it)."""
    live = reader.get("namespaces", namespace)
    if live is not None:
        return dict(live.get("metadata", {}).get("labels") or {})
    for obj in objects:
        meta = obj.get("metadata", {})
        if obj.get("kind") == "Namespace" and meta.get("name") == namespace:
            return {**(meta.get("labels") or {}), NAME_LABEL: namespace}
    return {NAME_LABEL: namespace}

"""Stable endpoints: Gateway API HTTPRoutes with Baseten's paths, on the model's host.

- `/environments/<env>/...` → the environment's deployment(s), with weights during a split;
- `/deployments/<name>/...` → each active deployment;
on the model's own host (`<model>.<domain>`, as Baseten's `model-<id>.api.baseten.co`), or
below `/models/<model>` on a shared one (`iac.spec.endpoints`): no two models claim the same
host and path. The prefix is rewritten away, so the server sees `/v1/chat/completions`.
Each rule is named (`environment-<env>`, `deployment-<name>`), so a policy can target it
(`iac.compile.serving.auth`: who may call it).
A deployment that may scale to zero is reached through the KEDA HTTP add-on's interceptor (it
holds requests while a replica starts); the Gateway stamps a header that tells the
interceptor which one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from iac.compile import labels
from iac.compile.names import object_name
from iac.compile.release import DeploymentRelease, ModelRelease
from iac.compile.serving.scaling import interceptor_header
from iac.spec.auth import Access
from iac.spec.stack import Cluster, Gateway, ScaleFromZero

MAX_RULES = 16
"""An HTTPRoute holds at most 16 rules; a model with more endpoints gets more routes."""


def model_routes(model: ModelRelease, cluster: Cluster) -> list[dict[str, Any]]:
    endpoints = model.endpoints
    rules = [
        _rule(endpoint.rule, endpoint.prefix, endpoint.backends, cluster)
        for endpoint in model_endpoints(model)
    ]
    routes = []
    for index, name in enumerate(route_names(model, len(rules))):
        spec: dict[str, Any] = {"parentRefs": _parent_refs(cluster.gateway)}
        if endpoints.host:
            spec["hostnames"] = _hostnames(endpoints.host)
        spec["rules"] = rules[index * MAX_RULES : (index + 1) * MAX_RULES]
        routes.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {
                    "name": name,
                    "namespace": cluster.namespace,
                    "labels": labels.model(model.name),
                },
                "spec": spec,
            }
        )
    return routes


def route_names(model: ModelRelease, rules: int | None = None) -> list[str]:
    """Names of a model's HTTPRoutes: `<model>`, then `<model>-2`, `<model>-3`... for each
    further `MAX_RULES` rules. `rules`: how many it has, when already counted."""
    count = len(_endpoints(model)) if rules is None else rules
    return [
        object_name(model.name, *(() if index == 0 else (str(index // MAX_RULES + 1),)))
        for index in range(0, count, MAX_RULES)
    ]


@dataclass(frozen=True, slots=True)
class RoutedEndpoint:
    """One rule of a model's routes: a path prefix and who answers there."""

    rule: str
    """The rule's name (`environment-production`, `deployment-v3`): what a policy's
    `sectionName` targets (Gateway API's HTTPRouteRule name)."""
    prefix: str
    backends: list[tuple[DeploymentRelease, int | None]]
    """The deployments it sends to, with weights during a split."""
    access: Access
    route: str = ""
    """Name of the HTTPRoute holding it (set by `model_endpoints`)."""


def rule_name(kind: str, name: str) -> str:
    """`environment-<env>` or `deployment-<name>`: unique in a model, as a kind's names are."""
    return f"{kind}-{name}"


def model_endpoints(model: ModelRelease) -> list[RoutedEndpoint]:
    """Each routed path prefix of a model, in rule order, with the route that holds it."""
    found = _endpoints(model)
    names = route_names(model, len(found))
    return [
        replace(endpoint, route=names[index // MAX_RULES]) for index, endpoint in enumerate(found)
    ]


def _endpoints(model: ModelRelease) -> list[RoutedEndpoint]:
    found: list[RoutedEndpoint] = []
    if not model.routed:
        return found  # a chainlet other than the entrypoint: called inside the cluster only
    deployments = model.deployments
    endpoints = model.endpoints
    for env in model.environments.values():
        backends: list[tuple[DeploymentRelease, int | None]] = [
            (deployments[name], weight)
            for name, weight in env.traffic
            # A weight of 0 sends nothing: such a side is left out, so a lone other side is
            # routed as if alone (through the interceptor when it may scale to zero).
            if weight > 0 and name in deployments and deployments[name].active
        ]
        if backends:
            found.append(
                RoutedEndpoint(
                    rule_name("environment", env.name),
                    endpoints.environment_path(env.name),
                    backends,
                    env.access,
                )
            )
    for deployment in deployments.values():
        if deployment.routed:
            found.append(
                RoutedEndpoint(
                    rule_name("deployment", deployment.name),
                    endpoints.deployment_path(deployment.name),
                    [(deployment, None)],
                    model.access,
                )
            )
    return found


# The parts of routes that do not name a deployment are shared by every route and rule that
# has them, as `iac.compile.serving.workload` shares the common parts of Deployments (compiled
# objects are read-only): a handful of distinct values for thousands of rules.

_REWRITE: dict[str, Any] = {
    "type": "URLRewrite",
    "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
}
_REWRITE_ONLY: list[dict[str, Any]] = [_REWRITE]


@functools.lru_cache(maxsize=256)
def _parent_refs(gateway: Gateway) -> list[dict[str, Any]]:
    return [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": gateway.name,
            "namespace": gateway.namespace,
        }
    ]


@functools.lru_cache(maxsize=256)
def _hostnames(host: str) -> list[str]:
    return [host]


@functools.lru_cache(maxsize=256)
def _matches(prefix: str) -> list[dict[str, Any]]:
    return [{"path": {"type": "PathPrefix", "value": prefix}}]


@functools.lru_cache(maxsize=256)
def _interceptor_refs(scale_from_zero: ScaleFromZero) -> list[dict[str, Any]]:
    return [
        {
            "name": scale_from_zero.interceptor_service,
            "namespace": scale_from_zero.namespace,
            "port": scale_from_zero.interceptor_port,
        }
    ]


def _rule(
    name: str,
    prefix: str,
    backends: Sequence[tuple[DeploymentRelease, int | None]],
    cluster: Cluster,
) -> dict[str, Any]:
    if len(backends) == 1 and backends[0][0].via_interceptor:
        header, value = interceptor_header(backends[0][0])
        filters = [
            _REWRITE,
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"set": [{"name": header, "value": value}]},
            },
        ]
        refs = _interceptor_refs(cluster.scale_from_zero)
    else:
        # A split routes straight to each Service; both sides keep a replica (see release).
        filters = _REWRITE_ONLY
        refs = []
        for deployment, weight in backends:
            assert deployment.container.port is not None
            ref: dict[str, Any] = {
                "name": deployment.object_name,
                "port": deployment.container.port,
            }
            if weight is not None and len(backends) > 1:
                ref["weight"] = weight
            refs.append(ref)
    return {"name": name, "matches": _matches(prefix), "filters": filters, "backendRefs": refs}


def grant_name(cluster: Cluster) -> str:
    """`iac-<namespace>-to-interceptor`: one per stack namespace in the add-on's namespace."""
    return object_name("iac", cluster.namespace, "to-interceptor")


def interceptor_grant(cluster: Cluster) -> dict[str, Any]:
    """Lets this namespace's routes send traffic to the interceptor in the add-on's namespace."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {
            "name": grant_name(cluster),
            "namespace": cluster.scale_from_zero.namespace,
            "labels": {labels.MANAGED_BY: "iac"},
        },
        "spec": {
            "from": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "HTTPRoute",
                    "namespace": cluster.namespace,
                }
            ],
            "to": [
                {
                    "group": "",
                    "kind": "Service",
                    "name": cluster.scale_from_zero.interceptor_service,
                }
            ],
        },
    }

"""API keys enforced at the Gateway: Envoy Gateway `SecurityPolicy` objects per model.

Each endpoint that asks for a key (`iac.spec.auth`) is a named rule of the model's
HTTPRoutes; one SecurityPolicy per distinct set of accepted key sets targets exactly those
rules (`targetRefs[].sectionName`: the HTTPRouteRule's name), so every rule is covered by
one policy or, when public, by none, and no precedence between a route's and a rule's
policy is relied on. A key set's Secrets are `credentialRefs`: each Secret's entries are
clients (the entry's name) and their keys (its value), which only Envoy Gateway reads.

Envoy's API-key filter takes the key from the first header present among `X-Api-Key` and
`Authorization`, stripping a `Bearer ` prefix (envoyproxy/envoy
`source/extensions/filters/http/api_key_auth/api_key_auth.cc`); it strips nothing else, so
Baseten's `Authorization: Api-Key <key>` is not accepted as is (docs/auth.md). The key is
removed before the request reaches the model (`sanitize`), and the client's name is passed
on in `X-Api-Client`. Nothing changes for the model pods: no restart when keys rotate.
"""

from __future__ import annotations

from typing import Any

from iac.compile import labels
from iac.compile.names import object_name
from iac.compile.release import ModelRelease
from iac.compile.serving.routes import RoutedEndpoint, model_endpoints
from iac.spec.auth import Access
from iac.spec.stack import Cluster

KEY_HEADERS = ("X-Api-Key", "Authorization")
"""Where a client's key is read, in this order (`Authorization` as `Bearer <key>`)."""
CLIENT_HEADER = "X-Api-Client"
"""The header the model receives naming the client whose key was accepted."""


def enforced(cluster: Cluster) -> bool:
    """Whether iac configures keys on this cluster's Gateway."""
    return cluster.gateway.implementation == "envoy-gateway"


def keyed_endpoints(model: ModelRelease) -> dict[Access, list[RoutedEndpoint]]:
    """The model's endpoints that ask for a key, by who may call them, in rule order."""
    found: dict[Access, list[RoutedEndpoint]] = {}
    for endpoint in model_endpoints(model):
        if not endpoint.access.public:
            found.setdefault(endpoint.access, []).append(endpoint)
    return found


def policy_name(model: str, access: Access) -> str:
    """`<model>-keys-<set>[-<set>...]`: stable while the sets stay (a rotation of their
    Secrets changes the policy in place)."""
    return object_name(model, "keys", *(key_set.name for key_set in access.key_sets))


def policy_names(model: ModelRelease, cluster: Cluster) -> list[str]:
    if not enforced(cluster):
        return []
    return [policy_name(model.name, access) for access in keyed_endpoints(model)]


def security_policies(model: ModelRelease, cluster: Cluster) -> list[dict[str, Any]]:
    if not enforced(cluster):
        return []
    return [
        _policy(model.name, access, endpoints, cluster)
        for access, endpoints in keyed_endpoints(model).items()
    ]


def _policy(
    model: str, access: Access, endpoints: list[RoutedEndpoint], cluster: Cluster
) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "SecurityPolicy",
        "metadata": {
            "name": policy_name(model, access),
            "namespace": cluster.namespace,
            "labels": labels.model(model),
        },
        "spec": {
            "targetRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "HTTPRoute",
                    "name": endpoint.route,
                    "sectionName": endpoint.rule,
                }
                for endpoint in endpoints
            ],
            "apiKeyAuth": {
                "credentialRefs": [
                    {"group": "", "kind": "Secret", "name": secret} for secret in access.secrets
                ],
                "extractFrom": [{"headers": list(KEY_HEADERS)}],
                "forwardClientIDHeader": CLIENT_HEADER,
                "sanitize": True,
            },
        },
    }

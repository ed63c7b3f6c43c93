"""How each kind the compiler emits is registered: one resource class for every object,
`KubernetesObject`, whose type token is the object's own (`kubernetes:apps/v1:Deployment`)
and whose inputs are the object's fields as they are. A kind missing from the tables is an
error that names it, never a silent skip. Secrets are deliberately absent: `iac` references
Secrets by name and never holds their values.

Why not pulumi_kubernetes' typed classes (`k8s.apps.v1.Deployment`): what pulumi-kubernetes
does with an object (its await logic, which fields force a replacement, the server-side
apply) is the provider's, chosen by the type token, which is the same. The typed classes
add, in the program's process, typed outputs: each registration rebuilds the class's type
hints and converts the object the provider returns into nested output classes, a fifth of
the process's CPU time at 300 models (docs/program.md, "what the Python SDK costs"), for
outputs iac never reads. They also register type aliases to API versions iac never
registered under (`apps/v1beta1`, ...); dropping them changes nothing in a stack (a stack
applied with the typed classes previews as unchanged, and the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_kubernetes import _utilities

from iac.errors import IacError

BUILT_IN: frozenset[tuple[str, str]] = frozenset(
    {
        ("v1", "Namespace"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"),
        ("v1", "PodTemplate"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "StatefulSet"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
    }
)
"""Built-in kinds, by (apiVersion, kind)."""

CUSTOM: frozenset[tuple[str, str]] = frozenset(
    {
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("http.keda.sh/v1beta1", "InterceptorRoute"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"),
        ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
        ("karpenter.sh/v1", "NodePool"),
        ("karpenter.k8s.aws/v1", "EC2NodeClass"),
        ("autoscaling.x-k8s.io/v1beta1", "CapacityBuffer"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    }
)
"""Custom resources (their CRDs come with KEDA, Gateway API, Envoy Gateway, Karpenter...)."""


class UnsupportedObject(IacError):
    """The compiler emitted an object the program has no resource for."""


def type_token(obj: Mapping[str, Any]) -> str:
    """The Pulumi type of `obj` (`kubernetes:core/v1:Service` for the core group's `v1`);
    UnsupportedObject names a kind missing from the tables."""
    kind = (obj["apiVersion"], obj["kind"])
    if kind not in BUILT_IN and kind not in CUSTOM:
        raise UnsupportedObject(
            f"no Pulumi resource for {obj['apiVersion']} {obj['kind']}; add it to "
            "iac.program.kinds (BUILT_IN for a built-in kind, CUSTOM for a custom resource)"
        )
    api_version = obj["apiVersion"] if "/" in obj["apiVersion"] else f"core/{obj['apiVersion']}"
    return f"kubernetes:{api_version}:{obj['kind']}"


class KubernetesObject(pulumi.CustomResource):
    """One Kubernetes object, registered with its type token and its fields as inputs (a
    shallow copy of the mapping; the values are the object's own). The package version is
    set as pulumi_kubernetes' own classes set it, so that the engine loads the same
    provider plugin."""

    def __init__(
        self,
        resource_name: str,
        token: str,
        obj: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        opts = pulumi.ResourceOptions.merge(_utilities.get_resource_opts_defaults(), opts)
        super().__init__(token, resource_name, dict(obj), opts)

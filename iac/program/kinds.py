"""Which pulumi_kubernetes class registers each kind the compiler emits.

Built-in kinds use their typed class (so pulumi-kubernetes applies its await logic and knows
which fields force a replacement); custom resources use `apiextensions.CustomResource`. A
kind missing here is an error that names it, never a silent skip. Secrets are deliberately
absent: `iac` references Secrets by name and never holds their values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# Imported here, not reached as `k8s.apiextensions.CustomResource` when first registering:
# pulumi_kubernetes loads that subpackage lazily (importlib's LazyLoader, not thread-safe in
# Python 3.11), and the program registers from the SDK's threads, side by side when `iac
# up` applies shards at once: "module 'pulumi_kubernetes.apiextensions' has no attribute
# 'CustomResource'" was seen once.
from pulumi_kubernetes.apiextensions import CustomResource

from iac.errors import IacError

Constructor = Callable[..., pulumi.CustomResource]

BUILT_IN: Mapping[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("v1", "PodTemplate"): k8s.core.v1.PodTemplate,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("scheduling.k8s.io/v1", "PriorityClass"): k8s.scheduling.v1.PriorityClass,
}
"""Typed classes, by (apiVersion, kind)."""

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

_SKIP = ("apiVersion", "kind")


class UnsupportedObject(IacError):
    """The compiler emitted an object the program has no resource class for."""


def constructor(obj: Mapping[str, Any]) -> tuple[Constructor, dict[str, Any]]:
    """The class that registers `obj` and its keyword arguments (the object's fields, not
    copied); call it as `cls(name, opts=opts, **arguments)`. UnsupportedObject names a
    kind missing from the tables."""
    kind = (obj["apiVersion"], obj["kind"])
    typed = BUILT_IN.get(kind)
    if typed is not None:
        # Top-level fields become the class's keyword arguments (`stringData` →
        # `string_data`); the SDK sends them back under their Kubernetes names.
        return typed, {_snake(k): v for k, v in obj.items() if k not in _SKIP}
    if kind in CUSTOM:
        extra = sorted(set(obj) - {"apiVersion", "kind", "metadata", "spec"})
        if extra:
            raise UnsupportedObject(
                f"{obj['apiVersion']} {obj['kind']}: top-level field(s) {', '.join(extra)} "
                "cannot be registered as a CustomResource (it takes metadata and spec)"
            )
        arguments = {"api_version": obj["apiVersion"], "kind": obj["kind"]}
        arguments["metadata"] = obj["metadata"]
        if "spec" in obj:
            arguments["spec"] = obj["spec"]
        return CustomResource, arguments
    raise UnsupportedObject(
        f"no Pulumi resource class for {obj['apiVersion']} {obj['kind']}; add it to "
        "iac.program.kinds (BUILT_IN for a typed class, CUSTOM for a custom resource)"
    )


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(field: str) -> str:
    return _CAMEL.sub("_", field).lower()

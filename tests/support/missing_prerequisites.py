"""What preflight says of the demo stack (stacks/demo.yaml) when one of the prerequisites its
objects need is missing from the cluster: recorded answers (tests/preflight/test_preflight.py)
and a real API server (tests/live/test_preflight.py) must both give exactly this."""

from __future__ import annotations

import copy
from typing import Any

MISSING_ALONE: dict[str, list[tuple[str, str]]] = {
    "KEDA": [
        (
            "missing-crd",
            "the cluster does not serve API group keda.sh (its CRDs are not installed): "
            "ScaledObject (keda.sh/v1alpha1), needed by ScaledObject models/bge-large-v1, "
            "ScaledObject models/llama-3-8b-dev, ScaledObject models/llama-3-8b-v2 and 2 more: "
            "install KEDA >= 2.14 (Helm chart kedacore/keda)",
        )
    ],
    "the HTTP add-on": [
        (
            "missing-crd",
            "the cluster does not serve API group http.keda.sh (its CRDs are not installed): "
            "InterceptorRoute (http.keda.sh/v1beta1), needed by InterceptorRoute "
            "models/bge-large-v1, InterceptorRoute models/llama-3-8b-dev, InterceptorRoute "
            "models/llama-3-8b-v4: install the KEDA HTTP add-on >= v0.14.0 (Helm chart "
            "kedacore/keda-add-ons-http); or keep every environment at min_replicas >= 1 with "
            "metrics.in_flight declared, so that no deployment goes through it",
        )
    ],
    "Gateway API": [
        (
            "missing-crd",
            "the cluster does not serve API group gateway.networking.k8s.io (its CRDs are not "
            "installed): HTTPRoute (gateway.networking.k8s.io/v1), ReferenceGrant "
            "(gateway.networking.k8s.io/v1beta1), needed by HTTPRoute models/bge-large, HTTPRoute "
            "models/llama-3-8b, ReferenceGrant keda/iac-models-to-interceptor: install the Gateway "
            "API CRDs >= v1.4.0, standard channel, or >= v1.2.0, experimental channel "
            "(standard-install.yaml of kubernetes-sigs/gateway-api's release, or your Gateway "
            "implementation's chart)",
        )
    ],
    "Envoy Gateway": [
        (
            "missing-crd",
            "the cluster does not serve API group gateway.envoyproxy.io (its CRDs are not "
            "installed): SecurityPolicy (gateway.envoyproxy.io/v1alpha1), needed by "
            "SecurityPolicy models/bge-large-keys-customers, SecurityPolicy "
            "models/llama-3-8b-keys-customers, SecurityPolicy models/llama-3-8b-keys-customers-"
            "testers: install Envoy Gateway >= v1.5 (Helm chart "
            "oci://docker.io/envoyproxy/gateway-helm), whose SecurityPolicy asks for the stack's "
            "API keys; or, where another gateway checks keys, set "
            "cluster.gateway.implementation: other and auth: {public: true}",
        )
    ],
    "the Prometheus Operator": [
        (
            "missing-crd",
            "the cluster does not serve API group monitoring.coreos.com (its CRDs are not "
            "installed): PodMonitor (monitoring.coreos.com/v1), PrometheusRule "
            "(monitoring.coreos.com/v1), needed by PodMonitor models/bge-large-v1, PodMonitor "
            "models/llama-3-8b-dev, PodMonitor models/llama-3-8b-v3 and 3 more: install the "
            "Prometheus Operator's CRDs >= v0.39.0 (Helm chart "
            "prometheus-community/kube-prometheus-stack, or prometheus-operator-crds); or set "
            "cluster.monitoring: false",
        )
    ],
    "Karpenter": [
        (
            "missing-crd",
            "the cluster does not serve API group karpenter.k8s.aws (its CRDs are not "
            "installed): EC2NodeClass (karpenter.k8s.aws/v1), needed by EC2NodeClass iac-gpu: "
            "install Karpenter >= 1.0.0 (Helm chart oci://public.ecr.aws/karpenter/karpenter); "
            "or set another cluster.provisioner",
        ),
        (
            "missing-crd",
            "the cluster does not serve API group karpenter.sh (its CRDs are not installed): "
            "NodePool (karpenter.sh/v1), needed by NodePool gpu-l4, NodePool h100: install "
            "Karpenter >= 1.0.0 (Helm chart oci://public.ecr.aws/karpenter/karpenter); or set "
            "another cluster.provisioner",
        ),
    ],
    "namespace keda": [
        (
            "missing-namespace",
            "namespace keda does not exist, needed by ReferenceGrant keda/iac-models-to-interceptor: "
            "it is the KEDA HTTP add-on's namespace, created by its install (Helm chart "
            "kedacore/keda-add-ons-http, --namespace keda --create-namespace); or set "
            "cluster.scale_from_zero.namespace to the namespace the add-on runs in",
        )
    ],
    "Secret hf-token": [
        (
            "missing-secret",
            "Secret models/hf-token does not exist, read by Deployment models/llama-3-8b-dev, "
            "Deployment models/llama-3-8b-v2, Deployment models/llama-3-8b-v3 and 1 more through "
            "envFrom: create it (kubectl create secret generic hf-token -n models "
            "--from-literal=KEY=VALUE); iac names it (secrets:, weights.secret) but never holds "
            "its values",
        )
    ],
    "the key Secrets": [
        (
            "missing-secret",
            "Secret models/customer-api-keys does not exist, read by SecurityPolicy "
            "models/bge-large-keys-customers, SecurityPolicy models/llama-3-8b-keys-customers, "
            "SecurityPolicy models/llama-3-8b-keys-customers-testers through apiKeyAuth: create "
            "it (kubectl create secret generic customer-api-keys -n models "
            "--from-literal=CLIENT=KEY, one entry per client); iac names it (auth.key_sets) but "
            "never holds its keys. Until it exists, Envoy Gateway answers every request to "
            "those endpoints with 500, whatever key it carries",
        ),
        (
            "missing-secret",
            "Secret models/tester-api-keys does not exist, read by SecurityPolicy "
            "models/llama-3-8b-keys-customers-testers through apiKeyAuth: create it (kubectl "
            "create secret generic tester-api-keys -n models --from-literal=CLIENT=KEY, one "
            "entry per client); iac names it (auth.key_sets) but never holds its keys. Until it "
            "exists, Envoy Gateway answers every request to those endpoints with 500, whatever "
            "key it carries",
        ),
    ],
    "the interceptor": [
        (
            "missing-service",
            "Service keda/keda-add-ons-http-interceptor-proxy does not exist, a backend of "
            "HTTPRoute models/bge-large, HTTPRoute models/llama-3-8b: it is the KEDA HTTP add-on's "
            "interceptor, installed by its Helm chart (kedacore/keda-add-ons-http); or set "
            "cluster.scale_from_zero (namespace, interceptor_service) to the add-on's",
        )
    ],
    "the Gateway": [
        (
            "missing-gateway",
            "Gateway gateway-system/inference does not exist, the parent of HTTPRoute "
            "models/bge-large, HTTPRoute models/llama-3-8b: create it with your Gateway API "
            "implementation, with a listener for *.models.example.com; or name your Gateway in "
            "cluster.gateway (name, namespace)",
        )
    ],
}
"""Each prerequisite by name, and what preflight says of the demo when it alone is missing."""


OLD_CRD = (
    "the cluster's HTTPRoute CRD (Gateway API v1.3.0, standard channel) has no rule `name`, "
    "which HTTPRoute models/bge-large, HTTPRoute models/llama-3-8b set so that their "
    "SecurityPolicies target the rules (sectionName): the API server would refuse the routes "
    "or drop the names, and a policy whose rule is gone leaves its endpoint without a key: "
    "install the Gateway API CRDs >= v1.4.0, standard channel, or >= v1.2.0, experimental "
    "channel (standard-install.yaml of kubernetes-sigs/gateway-api's release, or your Gateway "
    "implementation's chart)"
)
"""What preflight says of the demo on a cluster whose HTTPRoute CRD is `old_route_crd`'s."""


def old_route_crd(crd: dict[str, Any]) -> dict[str, Any]:
    """The HTTPRoute CRD `crd` (one with rule names) as Gateway API v1.3.0's standard
    channel has it: its rules have no `name` (kubernetes-sigs/gateway-api#3826 moved it to
    the standard channel in v1.4.0)."""
    crd = copy.deepcopy(crd)
    crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] = "v1.3.0"
    for version in crd["spec"]["versions"]:
        rule = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["rules"]
        del rule["items"]["properties"]["name"]
    return crd

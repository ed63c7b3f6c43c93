"""The kinds the objects use that Kubernetes does not build in: each must be served by the
cluster at the version the objects are written in (a CRD installed, that version served).
And one field a served CRD may be too old for: the `name` of an HTTPRoute's rules, which the
SecurityPolicies target (`sectionName`); Gateway API's standard channel has it from v1.4.0
(kubernetes-sigs/gateway-api#3826; the experimental channel from v1.2.0)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from iac.diagnostics import Severity
from iac.preflight.cluster import ClusterReader, ClusterUnreadable
from iac.preflight.missing import Missing, missing, needed_by

BUILT_IN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
    }
)
"""API groups of Kubernetes itself (1.34 serves the versions iac writes): not checked."""

INSTALLERS: Mapping[str, str] = {
    "keda.sh": "install KEDA >= 2.14 (Helm chart kedacore/keda)",
    "http.keda.sh": (
        "install the KEDA HTTP add-on >= v0.14.0 (Helm chart kedacore/keda-add-ons-http); "
        "or keep every environment at min_replicas >= 1 with metrics.in_flight declared, "
        "so that no deployment goes through it"
    ),
    "gateway.networking.k8s.io": (
        "install the Gateway API CRDs >= v1.4.0, standard channel, or >= v1.2.0, experimental "
        "channel (standard-install.yaml of kubernetes-sigs/gateway-api's release, or your "
        "Gateway implementation's chart)"
    ),
    "gateway.envoyproxy.io": (
        "install Envoy Gateway >= v1.5 (Helm chart oci://docker.io/envoyproxy/gateway-helm), "
        "whose SecurityPolicy asks for the stack's API keys; or, where another gateway checks "
        "keys, set cluster.gateway.implementation: other and auth: {public: true}"
    ),
    "monitoring.coreos.com": (
        "install the Prometheus Operator's CRDs >= v0.39.0 (Helm chart "
        "prometheus-community/kube-prometheus-stack, or prometheus-operator-crds); or set "
        "cluster.monitoring: false"
    ),
    "karpenter.sh": (
        "install Karpenter >= 1.0.0 (Helm chart oci://public.ecr.aws/karpenter/karpenter); or "
        "set another cluster.provisioner"
    ),
    "karpenter.k8s.aws": (
        "install Karpenter >= 1.0.0 (Helm chart oci://public.ecr.aws/karpenter/karpenter); or "
        "set another cluster.provisioner"
    ),
    "autoscaling.x-k8s.io": (
        "install Karpenter >= 1.14.0 (its karpenter-crd chart has the CapacityBuffer CRD; "
        "turn on its CapacityBuffer feature gate); or remove warm: from the pools"
    ),
}
"""What installs each group's CRDs, and the stack keys that leave its objects out (the
minimums are the README's "Cluster prerequisites")."""


def missing_apis(objects: Sequence[Mapping[str, Any]], reader: ClusterReader) -> list[Missing]:
    """A `Missing` per API group the cluster does not serve at all (its CRDs not installed),
    and per kind of a served group that it does not serve at the version the objects use."""
    using: dict[str, dict[tuple[str, str], list[Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        if group not in BUILT_IN_GROUPS:
            using[group][(obj["kind"], version)].append(obj)
    if not using:
        return []
    groups = reader.api_groups()
    found = []
    for group, kinds in sorted(using.items()):
        fix = INSTALLERS.get(group, f"install the CRDs of {group}")
        versions = groups.get(group)
        if versions is None:
            users = [o for objs in kinds.values() for o in objs]
            wanted = ", ".join(f"{kind} ({group}/{version})" for kind, version in sorted(kinds))
            found.append(
                missing(
                    "missing-crd",
                    f"the cluster does not serve API group {group} (its CRDs are not "
                    f"installed): {wanted}, needed by {needed_by(users)}: {fix}",
                    users,
                )
            )
            continue
        for (kind, version), users in sorted(kinds.items()):
            api_version = f"{group}/{version}"
            if version not in versions:
                why = f"{group} is served at {', '.join(versions)} only"
            else:
                served = reader.kinds(api_version)
                if kind in served:
                    continue
                why = f"{api_version} serves {', '.join(served) or 'no kind'}"
            found.append(
                missing(
                    "missing-crd",
                    f"the cluster does not serve {kind} at {api_version} ({why}: an older "
                    f"release?), needed by {needed_by(users)}: {fix}",
                    users,
                )
            )
    return found


ROUTES = "gateway.networking.k8s.io"
ROUTE_CRD = "httproutes.gateway.networking.k8s.io"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
BUNDLE = "gateway.networking.k8s.io/bundle-version"
CHANNEL = "gateway.networking.k8s.io/channel"


def old_route_crd(objects: Sequence[Mapping[str, Any]], reader: ClusterReader) -> list[Missing]:
    """An error when the HTTPRoutes name their rules and the cluster's HTTPRoute CRD (served
    at v1) has no rule `name`: the API server would refuse the routes or drop the names,
    and a SecurityPolicy whose rule is gone attaches to nothing (the endpoint is served
    without a key). A warning when the CRD cannot be read (reading CRDs needs a
    cluster-wide permission some users lack)."""
    named = [
        o
        for o in objects
        if o.get("kind") == "HTTPRoute"
        and any("name" in rule for rule in (o.get("spec") or {}).get("rules") or [])
    ]
    if not named or "v1" not in reader.api_groups().get(ROUTES, []):
        return []  # no routes with named rules, or no Gateway API v1: missing_apis says so
    if "HTTPRoute" not in reader.kinds(f"{ROUTES}/v1"):
        return []
    fix = INSTALLERS[ROUTES]
    try:
        crd = reader.get(CRDS, ROUTE_CRD)
    except ClusterUnreadable as exc:
        return [
            missing(
                "crd-not-read",
                f"could not read the HTTPRoute CRD to check that its rules have a `name`, which "
                f"{needed_by(named)} set ({exc}); if the cluster's Gateway API is older: {fix}",
                named,
                Severity.WARNING,
            )
        ]
    if crd is None or _rules_have_names(crd):
        return []
    annotations = crd.get("metadata", {}).get("annotations") or {}
    release = (
        f"Gateway API {annotations[BUNDLE]}, {annotations.get(CHANNEL, 'unknown')} channel"
        if BUNDLE in annotations
        else "no Gateway API release named"
    )
    return [
        missing(
            "old-crd",
            f"the cluster's HTTPRoute CRD ({release}) has no rule `name`, which "
            f"{needed_by(named)} set so that their SecurityPolicies target the rules "
            "(sectionName): the API server would refuse the routes or drop the names, and a "
            f"policy whose rule is gone leaves its endpoint without a key: {fix}",
            named,
        )
    ]


def _rules_have_names(crd: Mapping[str, Any]) -> bool:
    """Whether the CRD's v1 schema has `spec.rules[].name` (a CRD without v1: left to
    missing_apis)."""
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("name") != "v1":
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        spec = (schema.get("properties") or {}).get("spec") or {}
        rules = (spec.get("properties") or {}).get("rules") or {}
        return "name" in ((rules.get("items") or {}).get("properties") or {})
    return True

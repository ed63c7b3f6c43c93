"""Preflight (issue #22, item 7) against recorded cluster answers: each thing the demo's
objects need from the cluster, removed in turn, is reported by name with what installs it;
with all of them there, nothing is."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import Compiled, compile_stack
from iac.diagnostics import Severity
from iac.object_validation.crds import default_crd_dir
from iac.preflight import ClusterUnreadable, Kubectl, Missing, kubeconfig_file, preflight
from iac.preflight.gateways import hostnames_intersect, refusal, selector_matches
from iac.preflight.references import key_secret_references, secret_references
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT, compile_text
from tests.support.missing_prerequisites import MISSING_ALONE, OLD_CRD, old_route_crd

RESOURCE_KINDS = {
    "namespaces": "Namespace",
    "secrets": "Secret",
    "services": "Service",
    "gateways.v1.gateway.networking.k8s.io": "Gateway",
    "customresourcedefinitions.apiextensions.k8s.io": "CustomResourceDefinition",
}


class RecordedCluster:
    """A cluster's answers: the API groups it serves (group → version → kinds) and its
    objects."""

    def __init__(self, served: dict[str, dict[str, list[str]]], objects: list[dict[str, Any]]):
        self.served = served
        self.objects = objects

    def api_groups(self) -> dict[str, list[str]]:
        return {group: list(versions) for group, versions in self.served.items()}

    def kinds(self, group_version: str) -> list[str]:
        group, _, version = group_version.rpartition("/")
        return self.served[group][version]

    def names(self, resource: str, namespace: str | None = None) -> set[str]:
        kind = RESOURCE_KINDS[resource]
        return {
            o["metadata"]["name"]
            for o in self.objects
            if o["kind"] == kind and o["metadata"].get("namespace") == namespace
        }

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        kind = RESOURCE_KINDS[resource]
        for obj in self.objects:
            meta = obj["metadata"]
            if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
                return obj
        return None


def _namespace(name: str, **labels: str) -> dict[str, Any]:
    return {
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


def _gateway(*listeners: dict[str, Any], name: str = "inference") -> dict[str, Any]:
    return {
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "gateway-system"},
        "spec": {"gatewayClassName": "any", "listeners": list(listeners)},
    }


ROUTE_CRD = yaml.safe_load(
    (default_crd_dir() / "gateway.networking.k8s.io_httproutes.yaml").read_text()
)
"""The HTTPRoute CRD (Gateway API's standard channel, with rule names)."""

WILDCARD_LISTENER = {
    "name": "https",
    "protocol": "HTTPS",
    "port": 443,
    "hostname": "*.models.example.com",
    "allowedRoutes": {"namespaces": {"from": "All"}},
}

PREREQUISITES: dict[str, dict[str, Any]] = {
    "KEDA": {"served": {"keda.sh": {"v1alpha1": ["ScaledObject", "TriggerAuthentication"]}}},
    "the HTTP add-on": {
        "served": {
            "http.keda.sh": {"v1alpha1": ["HTTPScaledObject"], "v1beta1": ["InterceptorRoute"]}
        }
    },
    "Gateway API": {
        "served": {
            "gateway.networking.k8s.io": {
                "v1": ["GRPCRoute", "Gateway", "GatewayClass", "HTTPRoute"],
                "v1beta1": ["Gateway", "GatewayClass", "HTTPRoute", "ReferenceGrant"],
            }
        },
        "objects": [ROUTE_CRD],
    },
    "Envoy Gateway": {"served": {"gateway.envoyproxy.io": {"v1alpha1": ["SecurityPolicy"]}}},
    "the Prometheus Operator": {
        "served": {"monitoring.coreos.com": {"v1": ["PodMonitor", "PrometheusRule"]}}
    },
    "Karpenter": {
        "served": {
            "karpenter.sh": {"v1": ["NodeClaim", "NodePool"]},
            "karpenter.k8s.aws": {"v1": ["EC2NodeClass"]},
        }
    },
    "namespace keda": {"objects": [_namespace("keda")]},
    "Secret hf-token": {
        "objects": [{"kind": "Secret", "metadata": {"name": "hf-token", "namespace": "models"}}]
    },
    "the key Secrets": {
        "objects": [
            {"kind": "Secret", "metadata": {"name": name, "namespace": "models"}}
            for name in ("customer-api-keys", "tester-api-keys")
        ]
    },
    "the interceptor": {
        "objects": [
            {
                "kind": "Service",
                "metadata": {"name": "keda-add-ons-http-interceptor-proxy", "namespace": "keda"},
                "spec": {"ports": [{"name": "proxy", "port": 8080}]},
            }
        ]
    },
    "the Gateway": {"objects": [_gateway(WILDCARD_LISTENER)]},
}
"""What the demo stack's objects need from a cluster, as its installers would leave it."""


def cluster_with(*names: str) -> RecordedCluster:
    served: dict[str, dict[str, list[str]]] = {"": {"v1": ["Namespace", "Secret", "Service"]}}
    objects: list[dict[str, Any]] = [_namespace("default"), _namespace("gateway-system")]
    for name in names:
        served.update(copy.deepcopy(PREREQUISITES[name].get("served", {})))
        objects.extend(copy.deepcopy(PREREQUISITES[name].get("objects", [])))
    return RecordedCluster(served, objects)


def demo() -> Compiled:
    return compile_stack(check_stack(str(ROOT / "stacks" / "demo.yaml")))


def test_a_cluster_with_every_prerequisite_passes() -> None:
    compiled = demo()
    assert preflight(compiled.objects, compiled.release.cluster, cluster_with(*PREREQUISITES)) == []


@pytest.mark.parametrize("absent", sorted(MISSING_ALONE))
def test_each_missing_prerequisite_is_named_with_what_installs_it(absent: str) -> None:
    compiled = demo()
    present = [name for name in PREREQUISITES if name != absent]
    found = preflight(compiled.objects, compiled.release.cluster, cluster_with(*present))
    assert [(m.id, m.message) for m in found] == MISSING_ALONE[absent]


def test_an_empty_cluster_is_missing_everything_at_once() -> None:
    compiled = demo()
    found = preflight(compiled.objects, compiled.release.cluster, cluster_with())
    by_id = [(m.id, m.message.split(",")[0].split(" (")[0]) for m in found]
    assert by_id == [
        ("missing-crd", "the cluster does not serve API group gateway.envoyproxy.io"),
        ("missing-crd", "the cluster does not serve API group gateway.networking.k8s.io"),
        ("missing-crd", "the cluster does not serve API group http.keda.sh"),
        ("missing-crd", "the cluster does not serve API group karpenter.k8s.aws"),
        ("missing-crd", "the cluster does not serve API group karpenter.sh"),
        ("missing-crd", "the cluster does not serve API group keda.sh"),
        ("missing-crd", "the cluster does not serve API group monitoring.coreos.com"),
        ("missing-namespace", "namespace keda does not exist"),
        ("missing-secret", "Secret models/customer-api-keys does not exist"),
        ("missing-secret", "Secret models/hf-token does not exist"),
        ("missing-secret", "Secret models/tester-api-keys does not exist"),
        ("missing-service", "Service keda/keda-add-ons-http-interceptor-proxy does not exist"),
        # Without the Gateway API there is no Gateway to look for: the CRDs are the finding.
    ]


def test_a_kind_at_a_version_the_cluster_does_not_serve() -> None:
    compiled = demo()
    cluster = cluster_with(*PREREQUISITES)
    cluster.served["keda.sh"] = {"v1beta1": ["ScaledObject"]}
    cluster.served["http.keda.sh"] = {"v1alpha1": ["HTTPScaledObject"], "v1beta1": []}
    found = preflight(compiled.objects, compiled.release.cluster, cluster)
    assert [m.message for m in found] == [
        "the cluster does not serve InterceptorRoute at http.keda.sh/v1beta1 (http.keda.sh/v1beta1 "
        "serves no kind: an older release?), needed by InterceptorRoute models/bge-large-v1, "
        "InterceptorRoute models/llama-3-8b-dev, InterceptorRoute models/llama-3-8b-v4: install "
        "the KEDA HTTP add-on >= v0.14.0 (Helm chart kedacore/keda-add-ons-http); or keep every "
        "environment at min_replicas >= 1 with metrics.in_flight declared, so that no deployment "
        "goes through it",
        "the cluster does not serve ScaledObject at keda.sh/v1alpha1 (keda.sh is served at "
        "v1beta1 only: an older release?), needed by ScaledObject models/bge-large-v1, "
        "ScaledObject models/llama-3-8b-dev, ScaledObject models/llama-3-8b-v2 and 2 more: "
        "install KEDA >= 2.14 (Helm chart kedacore/keda)",
    ]


SECRETS_STACK = """
    version: 1
    imports: [MODULES/vllm.yaml]
    cluster: {name: c, namespace: serving, domain: models.example.com, create_namespace: false,
              monitoring: false}
    models:
      chat:
        template: vllm
        params: {hf_model: m}
        resources: {accelerator: H100, cpu: "8", memory: 64Gi}
        secrets: [hf-token]
        image_pull_secrets: [registry]
        deployments:
          v1: {}
        environments:
          production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 2}}
    auth: {public: true}
"""


def test_a_namespace_iac_does_not_create_and_the_pull_secret(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, SECRETS_STACK)
    cluster = cluster_with("KEDA", "Gateway API", "the Gateway")
    found = preflight(compiled.objects, compiled.release.cluster, cluster)
    assert found[0] == Missing(
        "missing-namespace",
        "namespace serving does not exist, needed by Deployment serving/chat-v1, HTTPRoute "
        "serving/chat, NetworkPolicy serving/iac-model-servers and 2 more: create it (kubectl "
        "create namespace serving), or set cluster.create_namespace: true so that iac creates it",
        model=None,
        deployment=None,
    )
    assert [(m.id, m.message, m.model, m.deployment) for m in found[1:]] == [
        (
            "missing-secret",
            "Secret serving/hf-token does not exist, read by Deployment serving/chat-v1 through "
            "envFrom: create it (kubectl create secret generic hf-token -n serving "
            "--from-literal=KEY=VALUE); iac names it (secrets:, weights.secret) but never holds "
            "its values",
            "chat",
            "v1",
        ),
        (
            "missing-secret",
            "Secret serving/registry does not exist, read by Deployment serving/chat-v1 through "
            "imagePullSecrets: create it (kubectl create secret docker-registry registry -n "
            "serving --docker-server=REGISTRY --docker-username=USER --docker-password=TOKEN); "
            "iac names it (image_pull_secrets:) but never holds its values",
            "chat",
            "v1",
        ),
    ]


def test_secret_references_of_a_pod_leave_out_optional_ones() -> None:
    pod = {
        "initContainers": [{"envFrom": [{"secretRef": {"name": "init"}}]}],
        "containers": [
            {
                "envFrom": [
                    {"secretRef": {"name": "a"}},
                    {"secretRef": {"name": "maybe", "optional": True}},
                    {"configMapRef": {"name": "not-a-secret"}},
                ],
                "env": [
                    {"name": "X", "valueFrom": {"secretKeyRef": {"name": "b", "key": "k"}}},
                    {"name": "Y", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
            }
        ],
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [
            {"name": "v", "secret": {"secretName": "c"}},
            {"name": "w", "secret": {"secretName": "d", "optional": True}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "e"}}]}},
        ],
    }
    assert list(secret_references(pod)) == [
        ("init", "envFrom"),
        ("a", "envFrom"),
        ("b", "env"),
        ("pull", "imagePullSecrets"),
        ("c", "volume"),
        ("e", "volume"),
    ]


def test_an_interceptor_without_the_port_the_routes_name() -> None:
    compiled = demo()
    cluster = cluster_with(*PREREQUISITES)
    service = cluster.get("services", "keda-add-ons-http-interceptor-proxy", "keda")
    assert service is not None
    service["spec"]["ports"] = [{"port": 9090}]
    assert [m.message for m in preflight(compiled.objects, compiled.release.cluster, cluster)] == [
        "Service keda/keda-add-ons-http-interceptor-proxy has no port 8080 (it has 9090), a "
        "backend of HTTPRoute models/bge-large, HTTPRoute models/llama-3-8b: set "
        "cluster.scale_from_zero.interceptor_port to the port of its proxy"
    ]


# --- the Gateway's listeners -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("listener", "route", "matches"),
    [
        (None, "a.example.com", True),
        ("", "a.example.com", True),
        ("a.example.com", "a.example.com", True),
        ("b.example.com", "a.example.com", False),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.example.org", False),
        ("*.example.com", "*.example.com", True),
        ("*.example.com", "*.b.example.com", True),
        ("*.b.example.com", "*.example.com", True),
        ("a.example.com", "*.example.com", True),
        ("example.com", "*.example.com", False),
    ],
)
def test_hostnames_match_as_gateway_api_says(
    listener: str | None, route: str, matches: bool
) -> None:
    assert hostnames_intersect(listener, route) is matches


def test_selectors() -> None:
    labels = {"team": "ml", "kubernetes.io/metadata.name": "models"}
    assert selector_matches({"matchLabels": {"team": "ml"}}, labels)
    assert not selector_matches({"matchLabels": {"team": "web"}}, labels)
    assert selector_matches(
        {"matchExpressions": [{"key": "team", "operator": "In", "values": ["ml"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["ml"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, labels)
    assert selector_matches(
        {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, labels
    )


@pytest.mark.parametrize(
    ("listener", "reason"),
    [
        (WILDCARD_LISTENER, None),
        (
            {"name": "any", "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}},
            None,
        ),
        (
            {"name": "tcp", "protocol": "TCP", "allowedRoutes": {"namespaces": {"from": "All"}}},
            "its protocol is TCP, which takes no HTTPRoute",
        ),
        (
            {"name": "same", "protocol": "HTTP"},
            "it admits routes from gateway-system only (allowedRoutes.namespaces.from: Same)",
        ),
        (
            {
                "name": "grpc",
                "protocol": "HTTPS",
                "allowedRoutes": {"namespaces": {"from": "All"}, "kinds": [{"kind": "GRPCRoute"}]},
            },
            "its allowedRoutes.kinds leave out HTTPRoute",
        ),
        (
            {
                "name": "selected",
                "protocol": "HTTPS",
                "allowedRoutes": {
                    "namespaces": {"from": "Selector", "selector": {"matchLabels": {"gw": "yes"}}}
                },
            },
            "its allowedRoutes.namespaces.selector does not select namespace models",
        ),
        (
            {
                "name": "other",
                "protocol": "HTTPS",
                "hostname": "*.example.org",
                "allowedRoutes": {"namespaces": {"from": "All"}},
            },
            "its hostname *.example.org does not match bge-large.models.example.com",
        ),
    ],
)
def test_why_a_listener_refuses_a_route(listener: dict[str, Any], reason: str | None) -> None:
    assert (
        refusal(
            listener,
            "gateway-system",
            "models",
            {"kubernetes.io/metadata.name": "models"},
            ["bge-large.models.example.com"],
        )
        == reason
    )


def test_a_gateway_with_no_listener_for_the_hosts_names_each_route_and_why() -> None:
    compiled = demo()
    cluster = cluster_with(*PREREQUISITES)
    cluster.objects = [o for o in cluster.objects if o["kind"] != "Gateway"]
    cluster.objects.append(
        _gateway(
            {"name": "http", "protocol": "HTTP", "port": 80},
            {**WILDCARD_LISTENER, "hostname": "*.example.org"},
        )
    )
    found = preflight(compiled.objects, compiled.release.cluster, cluster)
    assert [(m.id, m.model, m.message) for m in found] == [
        (
            "gateway-listener",
            model,
            f"Gateway gateway-system/inference has no listener that takes HTTPRoute "
            f"models/{model} for {model}.models.example.com (listener http: it admits routes "
            "from gateway-system only (allowedRoutes.namespaces.from: Same); listener https: "
            f"its hostname *.example.org does not match {model}.models.example.com): add a "
            "listener for *.models.example.com that admits routes from models, or name a "
            "Gateway that has one in cluster.gateway",
        )
        for model in ("bge-large", "llama-3-8b")
    ]


def test_a_section_name_picks_one_listener() -> None:
    compiled = demo()
    namespace = next(o for o in compiled.objects if o["kind"] == "Namespace")
    route = copy.deepcopy(next(o for o in compiled.objects if o["kind"] == "HTTPRoute"))
    route["spec"]["parentRefs"][0]["sectionName"] = "internal"
    cluster = cluster_with(*PREREQUISITES)
    found = preflight([namespace, route], compiled.release.cluster, cluster)
    assert [m.message for m in found] == [
        "Gateway gateway-system/inference has no listener that takes HTTPRoute models/bge-large "
        "for bge-large.models.example.com (it has no listener named internal): add a listener "
        "for *.models.example.com that admits routes from models, or name a Gateway that has "
        "one in cluster.gateway"
    ]
    route["spec"]["parentRefs"][0]["sectionName"] = "https"
    assert preflight([namespace, route], compiled.release.cluster, cluster) == []


def test_a_selector_listener_reads_the_route_namespace_labels_from_the_cluster() -> None:
    compiled = demo()
    cluster = cluster_with(*PREREQUISITES)
    selected = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"gw": "yes"}}}}
    cluster.objects = [o for o in cluster.objects if o["kind"] != "Gateway"]
    cluster.objects.append(_gateway({**WILDCARD_LISTENER, "allowedRoutes": selected}))
    found = preflight(compiled.objects, compiled.release.cluster, cluster)
    assert {m.id for m in found} == {"gateway-listener"}  # iac's namespace has no `gw` label
    cluster.objects.append(_namespace("models", gw="yes"))
    assert preflight(compiled.objects, compiled.release.cluster, cluster) == []


# --- reading with kubectl --------------------------------------------------------------------


def test_kubectl_reads_under_the_kubeconfig_and_context_it_is_given() -> None:
    commands: list[list[str]] = []
    answers = {
        "/apis": {"groups": [{"name": "keda.sh", "versions": [{"version": "v1alpha1"}]}]},
        "/apis/keda.sh/v1alpha1": {
            "resources": [
                {"name": "scaledobjects", "kind": "ScaledObject"},
                {"name": "scaledobjects/status", "kind": "ScaledObject"},
            ]
        },
    }

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        if command[1:3] == ["get", "--raw"]:
            out = json.dumps(answers[command[3]])
        elif command[2] == "namespaces":
            out = "namespace/default\nnamespace/keda\n"
        else:
            out = ""  # --ignore-not-found: absent
        return subprocess.CompletedProcess(command, 0, out, "")

    kubectl = Kubectl("/tmp/kc", "prod", run=run)
    assert kubectl.api_groups() == {"": ["v1"], "keda.sh": ["v1alpha1"]}
    assert kubectl.api_groups() is kubectl.api_groups()  # read once
    assert kubectl.kinds("keda.sh/v1alpha1") == ["ScaledObject"]
    assert kubectl.names("namespaces") == {"default", "keda"}
    assert kubectl.get("services", "x", "keda") is None
    assert commands == [
        ["kubectl", "get", "--raw", "/apis", "--kubeconfig", "/tmp/kc", "--context", "prod"],
        ["kubectl", "get", "--raw", "/apis/keda.sh/v1alpha1", "--kubeconfig", "/tmp/kc", "--context", "prod"],
        ["kubectl", "get", "namespaces", "-o", "name", "--kubeconfig", "/tmp/kc", "--context", "prod"],
        ["kubectl", "get", "services", "x", "-n", "keda", "-o", "json", "--ignore-not-found", "--kubeconfig", "/tmp/kc", "--context", "prod"],
    ]  # fmt: skip


def test_kubectl_failures_say_what_could_not_be_read() -> None:
    def refused(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            command, 1, "", "The connection to the server 127.0.0.1:6443 was refused\n"
        )

    with pytest.raises(ClusterUnreadable) as refusal_error:
        Kubectl(run=refused).api_groups()
    assert str(refusal_error.value) == (
        "preflight could not read the cluster: `kubectl get --raw /apis`: The connection to "
        "the server 127.0.0.1:6443 was refused"
    )

    def absent(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("kubectl")

    with pytest.raises(ClusterUnreadable) as absent_error:
        Kubectl(run=absent).names("namespaces")
    assert str(absent_error.value) == (
        "preflight reads the cluster with kubectl, which is not on PATH; install it"
    )


def test_a_group_version_listed_but_not_found_serves_no_kind() -> None:
    """Its CRDs were deleted between the read of `/apis` and this one (seen in CI: a
    preflight right after Envoy Gateway's CRD was removed)."""

    def gone(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            command, 1, "", "Error from server (NotFound): the server could not find the "
            "requested resource\n",
        )  # fmt: skip

    assert Kubectl(run=gone).kinds("gateway.envoyproxy.io/v1alpha1") == []
    with pytest.raises(ClusterUnreadable):  # elsewhere NotFound is still an error
        Kubectl(run=gone).api_groups()


def test_a_kubeconfig_setting_is_a_path_or_the_contents(tmp_path: Path) -> None:
    (tmp_path / "kc.yaml").write_text("apiVersion: v1\n")
    with kubeconfig_file("kc.yaml", tmp_path) as path:
        assert path == str(tmp_path / "kc.yaml")
    with kubeconfig_file(None, tmp_path) as path:
        assert path is None
    contents = "apiVersion: v1\nkind: Config\n"
    with kubeconfig_file(contents, tmp_path) as path:
        assert path is not None
        written = Path(path)
        assert written.read_text() == contents
        assert written.stat().st_mode & 0o077 == 0  # private: it holds credentials
    assert not written.exists()


# --- where the apply goes ----------------------------------------------------------------------


def test_the_stack_config_says_which_cluster_preflight_reads() -> None:
    from iac.program.settings import ClusterAccess, cluster_access

    assert cluster_access(
        {"iac:kubeconfig": "~/.kube/prod", "iac:context": "", "other:key": "x"}
    ) == ClusterAccess(kubeconfig="~/.kube/prod", context=None, render_dir=None)
    assert cluster_access({"iac:renderDir": "out"}).render_dir == "out"


def test_plan_base_live_notes_a_cluster_it_cannot_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from iac.preflight import cluster_findings

    compiled = demo()
    monkeypatch.setenv("PATH", str(tmp_path))  # no kubectl
    found = cluster_findings(
        compiled.objects, compiled.objects, compiled.release.cluster, None, None, tmp_path
    )
    assert [f.to_dict() for f in found] == [
        {
            "id": "preflight-not-run",
            "level": "info",
            "message": "the cluster was not checked: preflight reads the cluster with kubectl, "
            "which is not on PATH; install it",
        }
    ]


def test_iac_preflight_refuses_a_kubeconfig_that_is_not_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(
        cli, ["preflight", "stacks/demo.yaml", "--kubeconfig", str(missing)]
    )
    assert result.exit_code == 1
    assert result.output == f"--kubeconfig {missing}: no such file\n"


# --- issue #25: HTTPS for the hosts, the key Secrets, rule names in the HTTPRoute CRD ---------

PLAIN_HTTP = (
    "Gateway gateway-system/inference has no HTTPS listener for *.models.example.com, so it "
    "takes HTTPRoute models/bge-large, HTTPRoute models/llama-3-8b over HTTP only: requests, "
    "and the API keys in their headers, cross the network unencrypted. Add an HTTPS listener "
    "for *.models.example.com with a certificate for it (tls.certificateRefs), unless TLS ends "
    "in front of the Gateway (a load balancer)"
)
HTTP_LISTENER = {**WILDCARD_LISTENER, "name": "http", "protocol": "HTTP", "port": 80}


def test_a_gateway_taking_the_hosts_over_http_only_is_one_warning() -> None:
    compiled = demo()
    cluster = cluster_with(*PREREQUISITES)
    cluster.objects = [o for o in cluster.objects if o["kind"] != "Gateway"]
    cluster.objects.append(_gateway(HTTP_LISTENER))
    found = preflight(compiled.objects, compiled.release.cluster, cluster)
    assert found == [Missing("gateway-https", PLAIN_HTTP, level=Severity.WARNING)]
    # An HTTPS listener beside it for the hosts: nothing to say.
    cluster.objects[-1] = _gateway(HTTP_LISTENER, WILDCARD_LISTENER)
    assert preflight(compiled.objects, compiled.release.cluster, cluster) == []
    # One that does not take the routes (another domain) does not count.
    cluster.objects[-1] = _gateway(
        HTTP_LISTENER, {**WILDCARD_LISTENER, "hostname": "*.example.org"}
    )
    assert preflight(compiled.objects, compiled.release.cluster, cluster) == found


def test_a_key_secret_a_policy_accepts_is_read_from_the_namespace() -> None:
    policy = {
        "kind": "SecurityPolicy",
        "metadata": {"name": "p", "namespace": "m"},
        "spec": {
            "apiKeyAuth": {
                "credentialRefs": [
                    {"group": "", "kind": "Secret", "name": "a"},
                    {"name": "b"},
                    {"group": "example.com", "kind": "Vault", "name": "not-a-secret"},
                ]
            }
        },
    }
    assert list(key_secret_references(policy)) == [("a", "apiKeyAuth"), ("b", "apiKeyAuth")]
    assert list(key_secret_references({**policy, "kind": "BackendTrafficPolicy"})) == []


def test_an_httproute_crd_without_rule_names_is_an_error_naming_the_release_to_install() -> None:
    compiled = demo()
    cluster = cluster_with(*PREREQUISITES)
    cluster.objects = [o for o in cluster.objects if o["kind"] != "CustomResourceDefinition"]
    cluster.objects.append(old_route_crd(ROUTE_CRD))
    found = preflight(compiled.objects, compiled.release.cluster, cluster)
    assert found == [Missing("old-crd", OLD_CRD)]


def test_an_httproute_crd_that_cannot_be_read_is_a_warning() -> None:
    class NoCrdAccess(RecordedCluster):
        def get(
            self, resource: str, name: str, namespace: str | None = None
        ) -> dict[str, Any] | None:
            if resource.startswith("customresourcedefinitions"):
                raise ClusterUnreadable("forbidden")
            return super().get(resource, name, namespace)

    compiled = demo()
    every = cluster_with(*PREREQUISITES)
    found = preflight(
        compiled.objects, compiled.release.cluster, NoCrdAccess(every.served, every.objects)
    )
    assert [(m.id, m.level, m.message.split(" (forbidden)")[0]) for m in found] == [
        (
            "crd-not-read",
            Severity.WARNING,
            "could not read the HTTPRoute CRD to check that its rules have a `name`, which "
            "HTTPRoute models/bge-large, HTTPRoute models/llama-3-8b set",
        )
    ]


def _preflight_cli(monkeypatch: pytest.MonkeyPatch, found: list[Missing]) -> tuple[int, str, str]:
    import iac.cli.preflight

    monkeypatch.setattr(iac.cli.preflight, "check_cluster", lambda *args: found)
    result = CliRunner().invoke(cli, ["preflight", str(ROOT / "stacks" / "demo.yaml")])
    return result.exit_code, result.stdout, result.stderr


def test_iac_preflight_prints_warnings_and_exits_0_unless_there_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = ROOT / "stacks" / "demo.yaml"
    objects = len(demo().objects)
    warning = Missing("gateway-https", PLAIN_HTTP, level=Severity.WARNING)
    code, out, err = _preflight_cli(monkeypatch, [warning])
    assert code == 0
    assert err == f"warning: {PLAIN_HTTP} [gateway-https]\n"
    assert (
        out == f"{stack}: the cluster has everything its {objects} objects need (1 warning above)\n"
    )
    code, out, err = _preflight_cli(monkeypatch, [Missing("old-crd", OLD_CRD), warning])
    assert code == 1
    assert err.splitlines() == [
        f"error: {OLD_CRD} [old-crd]",
        f"warning: {PLAIN_HTTP} [gateway-https]",
        f"{stack}: the cluster lacks 1 thing the objects need (above)",
    ]
    assert out == ""

"""Offline validation of emitted Kubernetes objects: built-in kinds against kubernetes-validate's
strict schemas, custom resources against the CRDs in IAC_CRD_DIR (default ../shared/crds).

The objects are written by hand in the shape a GPU model-serving compiler emits them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from iac.object_validation import (
    CRD_DIR_ENV,
    DEFAULT_KUBERNETES_VERSION,
    CrdDirNotFound,
    ObjectValidator,
    default_crd_dir,
    validation_problems,
)

Obj = dict[str, Any]
NS = "llm"
CRDS = default_crd_dir()


@pytest.fixture(autouse=True)
def _default_crd_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the default folder unless it sets IAC_CRD_DIR itself."""
    monkeypatch.delenv(CRD_DIR_ENV, raising=False)


@pytest.fixture(scope="module")
def validator() -> ObjectValidator:
    return ObjectValidator(str(CRDS))


# --- objects as the compiler would emit them ---------------------------------------------------


def deployment() -> Obj:
    labels = {"app.kubernetes.io/name": "llama-3-8b", "iac.dev/deployment": "llama-3-8b-v1"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llama-3-8b-v1", "namespace": NS, "labels": labels},
        # No spec.replicas: KEDA owns the replica count.
        "spec": {
            "selector": {"matchLabels": {"iac.dev/deployment": "llama-3-8b-v1"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8000"},
                },
                "spec": {
                    "priorityClassName": "gpu-serving",
                    "terminationGracePeriodSeconds": 120,
                    "nodeSelector": {"karpenter.sh/nodepool": "gpu-l4"},
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {
                            "name": "server",
                            "image": "vllm/vllm-openai:v0.11.0",
                            "imagePullPolicy": "IfNotPresent",
                            "args": [
                                "--model",
                                "meta-llama/Llama-3.1-8B-Instruct",
                                "--port",
                                "8000",
                            ],
                            "env": [{"name": "HF_HOME", "value": "/models"}],
                            "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
                            "resources": {
                                "requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"},
                                "limits": {"memory": "32Gi", "nvidia.com/gpu": 1},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/health", "port": "http"},
                                "periodSeconds": 10,
                                "failureThreshold": 90,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/health", "port": 8000},
                                "periodSeconds": 5,
                            },
                            "lifecycle": {"preStop": {"sleep": {"seconds": 15}}},
                            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [
                        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
                    ],
                },
            },
        },
    }


def service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "llama-3-8b-v1", "namespace": NS},
        "spec": {
            "type": "ClusterIP",
            "selector": {"iac.dev/deployment": "llama-3-8b-v1"},
            "ports": [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pdb() -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "llama-3-8b-v1", "namespace": NS},
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": {"iac.dev/deployment": "llama-3-8b-v1"}},
        },
    }


def scaled_object() -> Obj:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "llama-3-8b-v1", "namespace": NS},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "llama-3-8b-v1",
            },
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "minReplicaCount": 1,
            "maxReplicaCount": 8,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleUp": {
                            "stabilizationWindowSeconds": 0,
                            "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}],
                        },
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                            "tolerance": "0.05",
                        },
                    }
                }
            },
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": "http://prometheus.monitoring.svc:9090",
                        "query": 'sum(vllm:num_requests_waiting{namespace="llm"})',
                        "threshold": "4",
                        "activationThreshold": "1",
                    },
                }
            ],
        },
    }


def http_route() -> Obj:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "llama-3-8b", "namespace": NS},
        "spec": {
            "parentRefs": [{"name": "inference", "namespace": "gateway", "sectionName": "https"}],
            "hostnames": ["api.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/models/llama-3-8b"}}],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
                            },
                        }
                    ],
                    "backendRefs": [
                        {"name": "llama-3-8b-v1", "port": 8000, "weight": 90},
                        {"name": "llama-3-8b-v2", "port": 8000, "weight": 10},
                    ],
                    "timeouts": {"request": "300s"},
                }
            ],
        },
    }


def interceptor_route() -> Obj:
    return {
        "apiVersion": "http.keda.sh/v1beta1",
        "kind": "InterceptorRoute",
        "metadata": {"name": "llama-3-8b-v1", "namespace": NS},
        "spec": {
            "target": {"service": "llama-3-8b-v1", "port": 8000},
            "scalingMetric": {"concurrency": {"targetValue": 8}},
            "rules": [
                {
                    "hosts": ["api.example.com"],
                    "paths": [{"value": "/models/llama-3-8b"}],
                    "headers": [{"name": "x-model", "value": "llama-3-8b"}],
                }
            ],
            "timeouts": {"request": "300s", "responseHeader": "120s"},
        },
    }


def reference_grant() -> Obj:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "gateway-to-llm", "namespace": NS},
        "spec": {
            "from": [
                {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "gateway"}
            ],
            "to": [{"group": "", "kind": "Service"}],
        },
    }


def node_pool() -> Obj:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu-l4"},
        "spec": {
            "template": {
                "metadata": {"labels": {"iac.dev/gpu": "l4"}},
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "gpu",
                    },
                    "requirements": [
                        {
                            "key": "karpenter.k8s.aws/instance-family",
                            "operator": "In",
                            "values": ["g6"],
                        },
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": ["on-demand", "spot"],
                        },
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                    "expireAfter": "720h",
                },
            },
            "limits": {"nvidia.com/gpu": 16, "cpu": "1000"},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m"},
            "weight": 10,
        },
    }


def namespace() -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}


def priority_class() -> Obj:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "gpu-serving"},
        "value": 1000000,
        "globalDefault": False,
        "preemptionPolicy": "PreemptLowerPriority",
        "description": "Model servers on GPU nodes.",
    }


def config_map() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "llama-3-8b-chat-template", "namespace": NS},
        "data": {"template.jinja": "{% for m in messages %}{{ m.content }}{% endfor %}"},
    }


def daemon_set() -> Obj:
    labels = {"app.kubernetes.io/name": "model-prefetch"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "model-prefetch", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"karpenter.sh/nodepool": "gpu-l4"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "prefetch",
                            "image": "ghcr.io/example/prefetch:1.0",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ],
                },
            },
        },
    }


def pvc() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "model-cache", "namespace": NS},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "gp3",
            "resources": {"requests": {"storage": "200Gi"}},
        },
    }


VALID: dict[str, Callable[[], Obj]] = {
    "Deployment": deployment,
    "Service": service,
    "PodDisruptionBudget": pdb,
    "ScaledObject": scaled_object,
    "HTTPRoute": http_route,
    "InterceptorRoute": interceptor_route,
    "ReferenceGrant": reference_grant,
    "NodePool": node_pool,
    "Namespace": namespace,
    "PriorityClass": priority_class,
    "ConfigMap": config_map,
    "DaemonSet": daemon_set,
    "PersistentVolumeClaim": pvc,
}
BUILTIN = ["Deployment", "Service", "PodDisruptionBudget", "Namespace", "PriorityClass"]
BUILTIN += ["ConfigMap", "DaemonSet", "PersistentVolumeClaim"]


def one_problem(validator: ObjectValidator, obj: Obj) -> str:
    found = validator.problems(obj)
    assert len(found) == 1, found
    return found[0]


# --- valid objects --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_object_has_no_problems(validator: ObjectValidator, name: str) -> None:
    assert validator.problems(VALID[name]()) == []


def test_validation_problems_of_a_whole_stack_is_empty() -> None:
    assert validation_problems([make() for make in VALID.values()]) == []


def test_default_kubernetes_version_is_a_shipped_strict_schema_set() -> None:
    assert ObjectValidator().kubernetes_version == DEFAULT_KUBERNETES_VERSION
    assert ObjectValidator(kubernetes_version="1.33").problems(deployment()) == []


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_verdicts_agree_with_kubernetes_validate(
    validator: ObjectValidator, name: str
) -> None:
    """We read kubernetes-validate's files ourselves (for speed); its own validate() agrees."""
    obj = VALID[name]()
    kubernetes_validate.validate(obj, DEFAULT_KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(obj)
    broken["spec" if "spec" in broken else "metadata"]["unknownField"] = 1
    with pytest.raises(kubernetes_validate.ValidationError) as caught:
        kubernetes_validate.validate(broken, DEFAULT_KUBERNETES_VERSION, strict=True)
    assert "unknownField" in caught.value.message
    assert any("unknownField: unknown field" in p for p in validator.problems(broken))


GOLDEN = sorted((Path(__file__).parents[1] / "golden").glob("*.yaml"))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_renders_of_the_examples_validate(path: Path) -> None:
    """What the compiler really emits for the examples (tests/golden) is valid."""
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert objects
    assert validation_problems(objects) == []


# --- invalid objects: the problem names the bad field -----------------------------------------


def test_typo_in_a_container_field(validator: ObjectValidator) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert one_problem(validator, obj) == (
        "apps/v1/Deployment/llm/llama-3-8b-v1: "
        "spec.template.spec.containers[0].imagePullPolicyy: unknown field (not in the schema)"
    )


def test_replicas_of_the_wrong_type(validator: ObjectValidator) -> None:
    obj = deployment()
    obj["spec"]["replicas"] = "two"
    assert one_problem(validator, obj) == (
        "apps/v1/Deployment/llm/llama-3-8b-v1: spec.replicas: expected integer, got string 'two'"
    )


def test_integers_past_their_format_are_problems(validator: ObjectValidator) -> None:
    # Decoded into Go's int32 by the API server (built in) or the controller (CRDs).
    obj = deployment()
    obj["spec"]["replicas"] = 2**31
    assert one_problem(validator, obj) == (
        "apps/v1/Deployment/llm/llama-3-8b-v1: spec.replicas: 2147483648 is greater than the "
        "maximum of 2147483647"
    )
    obj["spec"]["replicas"] = 2**31 - 1
    assert validator.problems(obj) == []
    scaler = scaled_object()
    scaler["spec"]["maxReplicaCount"] = 10**12
    assert one_problem(validator, scaler) == (
        "keda.sh/v1alpha1/ScaledObject/llm/llama-3-8b-v1: spec.maxReplicaCount: 1000000000000 "
        "is greater than the maximum of 2147483647"
    )


def test_port_given_as_a_list(validator: ObjectValidator) -> None:
    obj = service()
    obj["spec"]["ports"][0]["port"] = [8000]
    problem = one_problem(validator, obj)
    assert problem.startswith("v1/Service/llm/llama-3-8b-v1: spec.ports[0].port: ")
    assert "expected integer, got array" in problem


def test_int_or_string_rejects_a_list(validator: ObjectValidator) -> None:
    obj = deployment()
    probe = obj["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    probe["httpGet"]["port"] = ["http"]
    problem = one_problem(validator, obj)
    assert "containers[0].startupProbe.httpGet.port: expected" in problem
    assert "string" in problem
    assert "integer" in problem


def test_gpu_quantity_key_is_quoted_in_the_path(validator: ObjectValidator) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = [1]
    assert 'resources.limits["nvidia.com/gpu"]: expected' in one_problem(validator, obj)


def test_unknown_scaled_object_spec_field(validator: ObjectValidator) -> None:
    obj = scaled_object()
    obj["spec"]["minReplicas"] = 1  # KEDA calls it minReplicaCount
    assert one_problem(validator, obj) == (
        "keda.sh/v1alpha1/ScaledObject/llm/llama-3-8b-v1: spec.minReplicas: "
        "unknown field (not in the schema)"
    )


def test_keda_trigger_metadata_values_must_be_strings(validator: ObjectValidator) -> None:
    obj = scaled_object()
    obj["spec"]["triggers"][0]["metadata"]["threshold"] = 4
    assert "spec.triggers[0].metadata.threshold: expected string, got integer 4" in one_problem(
        validator, obj
    )


def test_scaled_object_minimum(validator: ObjectValidator) -> None:
    obj = scaled_object()
    obj["spec"]["maxReplicaCount"] = 0
    assert "spec.maxReplicaCount: " in one_problem(validator, obj)


def test_http_route_weight_as_a_string(validator: ObjectValidator) -> None:
    obj = http_route()
    obj["spec"]["rules"][0]["backendRefs"][1]["weight"] = "10"
    assert one_problem(validator, obj) == (
        "gateway.networking.k8s.io/v1/HTTPRoute/llm/llama-3-8b: "
        "spec.rules[0].backendRefs[1].weight: expected integer, got string '10'"
    )


def test_http_route_unknown_rewrite_type(validator: ObjectValidator) -> None:
    obj = http_route()
    obj["spec"]["rules"][0]["filters"][0]["urlRewrite"]["path"]["type"] = "ReplacePrefix"
    assert "urlRewrite.path.type: " in one_problem(validator, obj)


def test_http_route_rules_default_like_the_api_server(validator: ObjectValidator) -> None:
    """`rules` has a default (match everything); defaults apply before validation."""
    obj = http_route()
    del obj["spec"]["rules"]
    assert validator.problems(obj) == []


def test_validation_does_not_change_the_object(validator: ObjectValidator) -> None:
    obj = http_route()
    del obj["spec"]["rules"][0]["backendRefs"][0]["weight"]  # defaulted to 1 while validating
    before = copy.deepcopy(obj)
    assert validator.problems(obj) == []
    assert obj == before


@pytest.mark.parametrize("value", ["32GB", "one", "1.5 Gi", True])
def test_quantities_have_the_api_servers_syntax(validator: ObjectValidator, value: Any) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = value
    problem = one_problem(validator, obj)
    assert "containers[0].resources.requests.memory: " in problem


@pytest.mark.parametrize("value", ["32Gi", "500m", "1e3", "0.5", 2, 1.5])
def test_quantities_that_are_fine(validator: ObjectValidator, value: Any) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = value
    assert validator.problems(obj) == []


def test_karpenter_limit_quantity(validator: ObjectValidator) -> None:
    obj = node_pool()
    obj["spec"]["limits"]["nvidia.com/gpu"] = "16 GPUs"
    assert one_problem(validator, obj) == (
        'karpenter.sh/v1/NodePool/gpu-l4: spec.limits["nvidia.com/gpu"]: '
        "'16 GPUs' is not a quantity (such as 500m, 4, 1.5, 32Gi, 100G)"
    )


def test_enum_lists_the_choices(validator: ObjectValidator) -> None:
    obj = node_pool()
    obj["spec"]["template"]["spec"]["requirements"][0]["operator"] = "in"
    assert one_problem(validator, obj).endswith(
        "spec.template.spec.requirements[0].operator: 'in' is not one of: "
        '"Gte", "Lte", "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"'
    )


def test_interceptor_route_set_and_map_lists(validator: ObjectValidator) -> None:
    obj = interceptor_route()
    rule = obj["spec"]["rules"][0]
    rule["hosts"].append("api.example.com")  # x-kubernetes-list-type: set
    rule["headers"].append({"name": "x-model", "value": "other"})  # map keyed by name
    found = validator.problems(obj)
    assert len(found) == 2, found
    assert "spec.rules[0].headers: items 0 and 1 have the same key (name='x-model')" in found[0]
    assert "spec.rules[0].hosts: " in found[1]


def test_interceptor_route_missing_target_service(validator: ObjectValidator) -> None:
    obj = interceptor_route()
    del obj["spec"]["target"]["service"]
    assert one_problem(validator, obj).endswith("spec.target.service: required field is missing")


def test_missing_name(validator: ObjectValidator) -> None:
    obj = pdb()
    del obj["metadata"]["name"]
    assert one_problem(validator, obj) == (
        "policy/v1/PodDisruptionBudget/llm/?: metadata.name: required field is missing"
    )


def test_missing_name_of_a_custom_resource(validator: ObjectValidator) -> None:
    obj = scaled_object()
    obj["metadata"] = {"namespace": NS}
    assert "metadata.name: required field is missing" in one_problem(validator, obj)


def test_cluster_scoped_custom_resource_given_a_namespace(validator: ObjectValidator) -> None:
    obj = node_pool()
    obj["metadata"]["namespace"] = NS
    assert one_problem(validator, obj) == (
        "karpenter.sh/v1/NodePool/gpu-l4: metadata.namespace: "
        "must not be set: NodePool is cluster-scoped ('llm')"
    )


@pytest.mark.parametrize("make", [namespace, priority_class])
def test_cluster_scoped_builtin_given_a_namespace(
    validator: ObjectValidator, make: Callable[[], Obj]
) -> None:
    obj = make()
    obj["metadata"]["namespace"] = NS
    assert "metadata.namespace: must not be set" in one_problem(validator, obj)


@pytest.mark.parametrize("make", [deployment, scaled_object, http_route])
def test_namespaced_kind_without_a_namespace(
    validator: ObjectValidator, make: Callable[[], Obj]
) -> None:
    obj = make()
    del obj["metadata"]["namespace"]
    problem = one_problem(validator, obj)
    assert "/?/" in problem.split(":")[0]
    assert "metadata.namespace: required" in problem


def test_unknown_kind_is_a_problem(validator: ObjectValidator) -> None:
    obj = {"apiVersion": "serving.example.com/v1", "kind": "Model", "metadata": {"name": "m"}}
    problem = one_problem(validator, obj)
    assert problem.startswith("serving.example.com/v1/Model/m: kind: no schema for Model")
    assert str(CRDS.resolve()) in problem  # the validator names the folder it read


def test_wrongly_cased_kind_gets_a_hint(validator: ObjectValidator) -> None:
    obj = scaled_object()
    obj["kind"] = "Scaledobject"
    assert "did you mean kind 'ScaledObject'?" in one_problem(validator, obj)


def test_removed_builtin_version_lists_the_served_ones(validator: ObjectValidator) -> None:
    obj = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "x", "namespace": NS},
    }
    assert "versions that are: autoscaling/v1, autoscaling/v2" in one_problem(validator, obj)


def test_missing_api_version_and_kind(validator: ObjectValidator) -> None:
    found = validator.problems({"metadata": {"name": "x"}})
    assert found == [
        "?/?/x: apiVersion: required field is missing or not a string",
        "?/?/x: kind: required field is missing or not a string",
    ]


@pytest.mark.parametrize(
    ("make", "name", "rule"),
    [
        (service, "8b-llama", "DNS-1035 label"),  # a Service name must start with a letter
        (service, "l" * 64, "at most 63"),
        (namespace, "llm.prod", "DNS-1123 label"),
        (deployment, "Llama", "DNS-1123 subdomain"),
        (scaled_object, "llama_3", "DNS-1123 subdomain"),
    ],
)
def test_names_follow_the_kinds_rule(
    validator: ObjectValidator, make: Callable[[], Obj], name: str, rule: str
) -> None:
    obj = make()
    obj["metadata"]["name"] = name
    assert any("metadata.name: " in p and rule in p for p in validator.problems(obj)), (
        validator.problems(obj)
    )


def test_a_long_dotted_deployment_name_is_fine(validator: ObjectValidator) -> None:
    obj = deployment()
    obj["metadata"]["name"] = "llama.3-8b." + "x" * 100  # a subdomain, up to 253
    assert validator.problems(obj) == []


def test_label_values_and_keys(validator: ObjectValidator) -> None:
    obj = deployment()
    obj["metadata"]["labels"]["iac.dev/model"] = "meta-llama/Llama-3.1-8B"  # '/' not allowed
    obj["spec"]["template"]["metadata"]["labels"]["bad key"] = "x"
    found = validator.problems(obj)
    assert len(found) == 2, found
    assert 'metadata.labels["iac.dev/model"]: ' in found[0]
    assert 'spec.template.metadata.labels["bad key"]: invalid label key' in found[1]


# --- the CRD → JSON schema conversion, on a CRD written for the test ---------------------------

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1alpha1
    served: false
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size, level]
            x-kubernetes-validations:
            - {rule: "self.size != 0", message: "size must not be 0"}
            properties:
              size: {x-kubernetes-int-or-string: true, anyOf: [{type: integer}, {type: string}]}
              note: {type: string, nullable: true}
              mode: {type: string, enum: [fast, slow], nullable: true}
              level: {type: string, default: low}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
              anything: {x-kubernetes-preserve-unknown-fields: true}
              ratio: {type: number, minimum: 0, exclusiveMinimum: true}
              addr: {type: string, format: ipv4}
              since: {type: string, format: date-time}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                x-kubernetes-preserve-unknown-fields: true
              settings:
                type: object
                properties:
                  depth: {type: integer, format: int32}
"""


@pytest.fixture
def widget_dir(tmp_path: Path) -> Path:
    (tmp_path / "example.com_widgets.yaml").write_text(WIDGET_CRD)
    return tmp_path


def widget(**spec: Any) -> Obj:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": NS},
        "spec": {"size": 1, **spec},
    }


def test_conversion_accepts_what_the_api_server_accepts(widget_dir: Path) -> None:
    v = ObjectValidator(str(widget_dir))
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    ok = widget(
        size="10%",
        note=None,
        mode=None,
        extra={"free": {"form": [1, 2]}},
        anything=[1, "two"],
        ratio=0.5,
        addr="10.0.0.1",
        since="not checked",
        template=template,
        settings={"depth": 3},
    )
    assert v.problems(ok) == []
    assert v.problems(widget(size=0)) == []  # CEL rules are not checked


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"size": [1]}, "spec.size: expected integer or string, got array [1]"),
        ({"note": 3}, "spec.note: expected string, got integer 3"),
        ({"mode": "medium"}, "spec.mode: "),
        ({"level": None, "unknown": 1}, "spec.unknown: unknown field (not in the schema)"),
        ({"settings": {"depht": 3}}, "spec.settings.depht: unknown field (not in the schema)"),
        ({"ratio": 0}, "spec.ratio: "),
        ({"addr": "10.0.0"}, "spec.addr: "),
        ({"template": {"kind": "Pod"}}, "spec.template.apiVersion: required field is missing"),
        ({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"nam": "p"}}}, "nam"),
    ],
)
def test_conversion_rejects_what_the_api_server_rejects(
    widget_dir: Path, spec: dict[str, Any], expected: str
) -> None:
    problem = one_problem(ObjectValidator(str(widget_dir)), widget(**spec))
    assert problem.startswith("example.com/v1/Widget/llm/w: ")
    assert expected in problem


def test_required_field_with_a_default_is_filled_in(widget_dir: Path) -> None:
    # `level` is required and defaulted: a missing (or null) value gets the default.
    assert ObjectValidator(str(widget_dir)).problems(widget(level=None)) == []


def test_unserved_crd_version_is_a_problem(widget_dir: Path) -> None:
    obj = widget()
    obj["apiVersion"] = "example.com/v1alpha1"
    assert "not served (served: false)" in one_problem(ObjectValidator(str(widget_dir)), obj)


# --- the CRD folder ---------------------------------------------------------------------------


def test_crd_dir_from_the_environment_with_one_crd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keda.sh_scaledobjects.yaml").write_bytes(
        (CRDS / "keda.sh_scaledobjects.yaml").read_bytes()
    )
    monkeypatch.setenv(CRD_DIR_ENV, str(tmp_path))
    assert validation_problems([scaled_object(), deployment()]) == []
    found = validation_problems([http_route()])
    assert len(found) == 1
    assert f"neither a built-in kind of Kubernetes {DEFAULT_KUBERNETES_VERSION}" in found[0]
    assert str(tmp_path) in found[0]


def test_crds_in_a_list_document(tmp_path: Path) -> None:
    crd = yaml.safe_load((CRDS / "karpenter.sh_nodepools.yaml").read_text())
    listing = {"apiVersion": "v1", "kind": "List", "items": [crd]}
    (tmp_path / "from-cluster.yaml").write_text("---\n" + yaml.safe_dump(listing))
    assert ObjectValidator(str(tmp_path)).problems(node_pool()) == []


def test_missing_crd_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope"
    monkeypatch.setenv(CRD_DIR_ENV, str(missing))
    with pytest.raises(CrdDirNotFound) as caught:
        validation_problems([deployment()])
    assert isinstance(caught.value, FileNotFoundError)
    assert CRD_DIR_ENV in str(caught.value)
    assert str(missing) in str(caught.value)


def test_missing_crd_dir_passed_in(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"CRD folder not found: {tmp_path / 'nope'}"):
        ObjectValidator(str(tmp_path / "nope"))


def test_unknown_kubernetes_version() -> None:
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes '1\.9'; it ships: .*1\.34"):
        ObjectValidator(kubernetes_version="1.9")


def test_non_object_input(validator: ObjectValidator) -> None:
    bad: Any = ["not", "an", "object"]
    assert validator.problems(bad) == ["?: (root): expected an object (mapping), got array"]


# --- speed --------------------------------------------------------------------------------


def test_ten_thousand_objects_take_seconds(validator: ObjectValidator) -> None:
    makers = list(VALID.values())
    objects = [makers[i % len(makers)]() for i in range(10_000)]
    start = time.perf_counter()
    found = [p for obj in objects for p in validator.problems(obj)]
    elapsed = time.perf_counter() - start
    assert found == []
    assert elapsed < 20, f"{elapsed:.1f} s for 10,000 objects"

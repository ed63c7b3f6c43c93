"""Compile rules, one test per rule (design §4, issue #3)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from iac.compile import APPLY_ORDER, object_id
from iac.compile.names import object_name
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from tests.support.compile_helpers import ROOT, compile_text, find, kinds

HEAD = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, namespace: serving, domain: models.example.com, provisioner: karpenter}
"""


def with_head(body: str) -> str:
    return HEAD + textwrap.dedent(body)


def routes_by_path(compiled, model: str) -> dict[str, dict]:
    rules = {}
    for obj in compiled.objects:
        if obj["kind"] == "HTTPRoute" and obj["metadata"]["labels"]["iac.dev/model"] == model:
            for rule in obj["spec"]["rules"]:
                rules[rule["matches"][0]["path"]["value"]] = rule
    return rules


def test_only_inactive_deployments_set_replicas_and_objects_come_in_apply_order(
    tmp_path: Path,
) -> None:
    compiled = compile_text(
        tmp_path, (ROOT / "stacks" / "demo.yaml").read_text().replace("../modules", "MODULES")
    )
    deployments = {o["metadata"]["name"]: o for o in compiled.objects if o["kind"] == "Deployment"}
    paused = {
        o["metadata"]["name"]
        for o in compiled.objects
        if o["kind"] == "ScaledObject"
        and "autoscaling.keda.sh/paused-replicas" in o["metadata"].get("annotations", {})
    }
    assert paused
    assert paused < set(deployments)
    for name, deployment in deployments.items():
        if name in paused:  # no pod ever
            assert deployment["spec"]["replicas"] == 0
            assert deployment["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
        else:  # KEDA owns the count
            assert "replicas" not in deployment["spec"]
            assert "annotations" not in deployment["metadata"]
    ranks = [APPLY_ORDER.index(o["kind"]) for o in compiled.objects]
    assert ranks == sorted(ranks)
    ids = [object_id(o) for o in compiled.objects]
    assert len(ids) == len(set(ids)), "every object is emitted once"
    assert "apps/v1/Deployment/models/llama-3-8b-v3" in ids
    assert "v1/Namespace/models" in ids


def test_gpu_count_taint_and_placement_for_h100x2(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          big:
            template: vllm
            params: {hf_model: org/big, tensor_parallel_size: 2}
            resources: {accelerator: "H100:2", cpu: "16", memory: 128Gi}
            deployments: {v1: {}}
        auth: {public: true}
        """
        ),
    )
    pod = find(compiled, "Deployment", "big-v1")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["cpu"] == "16"
    assert "cpu" not in container["resources"]["limits"]  # no CPU throttling
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert pod["nodeSelector"] == {"iac.dev/node-pool": "gpu-h100"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert pod["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}
    ]
    assert "--tensor-parallel-size=2" in container["args"]


def test_workload_practice_probes_drain_security_secrets(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            secrets: [hf-token, other-secret]
            run_as_user: 1000
            deployments: {v1: {health: {startup_timeout: 45m}}}
        auth: {public: true}
        """
        ),
    )
    pod = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (
        container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"]
        == 2700
    )
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 15}}
    assert pod["terminationGracePeriodSeconds"] > 15
    assert container["envFrom"] == [
        {"secretRef": {"name": "hf-token"}},
        {"secretRef": {"name": "other-secret"}},
    ]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "tolerations" not in pod  # no accelerator: a CPU pod
    assert "environment" not in str(pod)  # pods never carry the environment label


def test_autoscaling_mapping_for_a_bound_deployment(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            deployments: {v1: {autoscaling: {max_replicas: 99}}}
            environments:
              production:
                deployment: v1
                autoscaling: {min_replicas: 2, max_replicas: 6, scale_down_delay: 10m,
                              max_scale_down_rate: 25, autoscaling_window: 2m,
                              concurrency_target: 10, target_utilization: 70}
        auth: {public: true}
        """
        ),
    )
    scaled = find(compiled, "ScaledObject", "m-v1")["spec"]
    assert scaled["minReplicaCount"] == 2
    assert scaled["maxReplicaCount"] == 6  # the environment's, not the deployment's 99
    assert scaled["cooldownPeriod"] == 600
    assert scaled["initialCooldownPeriod"] == 1800
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert behavior["scaleDown"]["policies"] == [
        {"type": "Percent", "value": 25, "periodSeconds": 600}
    ]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["threshold"] == "7"
    assert "[120s]" in trigger["metadata"]["query"]
    assert 'pod=~"m-v1-[a-z0-9]+-[a-z0-9]+"' in trigger["metadata"]["query"]
    assert kinds(compiled, "m-v1") == {
        "Deployment",
        "Service",
        "ScaledObject",
        "PodDisruptionBudget",
        "PodMonitor",
    }
    budget = find(compiled, "PodDisruptionBudget", "m-v1")["spec"]
    assert budget["maxUnavailable"] == 1
    route = routes_by_path(compiled, "m")["/environments/production"]
    assert route["backendRefs"] == [{"name": "m-v1", "port": 8000}]


def test_scale_to_zero_routes_through_the_interceptor(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            deployments: {v1: {}}
            environments:
              production: {deployment: v1, autoscaling: {min_replicas: 0, max_replicas: 3}}
        auth: {public: true}
        """
        ),
    )
    scaled = find(compiled, "ScaledObject", "m-v1")["spec"]
    assert scaled["minReplicaCount"] == 0
    assert scaled["triggers"] == [
        {
            "type": "external-push",
            "metadata": {
                "scalerAddress": "keda-add-ons-http-external-scaler.keda:9090",
                "interceptorRoute": "m-v1",
            },
        }
    ]
    route = find(compiled, "InterceptorRoute", "m-v1")["spec"]
    assert route["target"] == {"service": "m-v1", "port": 8000}
    assert route["rules"] == [
        {"hosts": ["m.models.example.com"], "headers": [{"name": "x-iac-backend", "value": "m-v1"}]}
    ]
    assert route["scalingMetric"] == {"concurrency": {"targetValue": 44}}
    rule = routes_by_path(compiled, "m")["/environments/production"]
    assert rule["backendRefs"] == [
        {"name": "keda-add-ons-http-interceptor-proxy", "namespace": "keda", "port": 8080}
    ]
    assert {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [
        {"name": "x-iac-backend", "value": "m-v1"}]}} in rule["filters"]  # fmt: skip
    grant = find(compiled, "ReferenceGrant", "iac-serving-to-interceptor")
    assert grant["metadata"]["namespace"] == "keda"
    assert grant["spec"]["from"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "serving"}
    ]
    assert "PodDisruptionBudget" not in kinds(compiled, "m-v1")


def test_inactive_deployment_has_no_pods_and_no_route(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            deployments: {v1: {state: inactive}, v2: {}}
            environments:
              production: {deployment: v2, autoscaling: {min_replicas: 1, max_replicas: 2}}
        auth: {public: true}
        """
        ),
    )
    scaled = find(compiled, "ScaledObject", "m-v1")
    assert scaled["metadata"]["annotations"] == {"autoscaling.keda.sh/paused-replicas": "0"}
    assert kinds(compiled, "m-v1") == {"Deployment", "Service", "ScaledObject"}  # objects kept
    paths = routes_by_path(compiled, "m")
    assert "/deployments/v1" not in paths
    assert "/deployments/v2" in paths
    assert "m-v1" not in str(paths)


def test_a_90_10_split_routes_directly_with_weights_and_keeps_a_replica_each(
    tmp_path: Path,
) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            deployments: {v3: {}, v4: {image: vllm/vllm-openai:v0.7.0}}
            environments:
              production:
                traffic: {v3: 90, v4: 10}
                autoscaling: {min_replicas: 0, max_replicas: 10}
        auth: {public: true}
        """
        ),
    )
    rule = routes_by_path(compiled, "m")["/environments/production"]
    assert rule["backendRefs"] == [
        {"name": "m-v3", "port": 8000, "weight": 90},
        {"name": "m-v4", "port": 8000, "weight": 10},
    ]
    v3 = find(compiled, "ScaledObject", "m-v3")["spec"]
    v4 = find(compiled, "ScaledObject", "m-v4")["spec"]
    # A warm replica each, and the room above one replica (9) shared 90/10 (8 and 1).
    assert (v3["minReplicaCount"], v3["maxReplicaCount"]) == (1, 9)
    assert (v4["minReplicaCount"], v4["maxReplicaCount"]) == (1, 2)
    assert v3["triggers"][0]["type"] == "prometheus"
    assert "InterceptorRoute" not in kinds(compiled, "m-v3")


def test_split_without_in_flight_metric_warns_and_pins(tmp_path: Path) -> None:
    diagnostics = Diagnostics()
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: example/server:1
            deployments: {a: {}, b: {}}
            environments:
              production: {traffic: {a: 50, b: 50}, autoscaling: {min_replicas: 2, max_replicas: 4}}
        auth: {public: true}
        """,
        diagnostics,
    )
    a = find(compiled, "ScaledObject", "m-a")["spec"]
    assert (a["minReplicaCount"], a["maxReplicaCount"]) == (1, 1)
    assert [d.message for d in diagnostics.warnings] == [
        "'a' is in a traffic split but its server declares no `metrics.in_flight`, so it cannot "
        "autoscale during the split; its replicas are held at 1",
        "'b' is in a traffic split but its server declares no `metrics.in_flight`, so it cannot "
        "autoscale during the split; its replicas are held at 1",
    ]


def test_development_deployment_is_zero_to_one_behind_the_interceptor(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            autoscaling: {min_replicas: 1, max_replicas: 5}
            deployments: {dev: {kind: development}}
        auth: {public: true}
        """
        ),
    )
    scaled = find(compiled, "ScaledObject", "m-dev")["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 1)
    assert "InterceptorRoute" in kinds(compiled, "m-dev")
    assert "/deployments/dev" in routes_by_path(compiled, "m")


def test_long_names_are_cut_with_a_stable_hash_and_fit_keda(tmp_path: Path) -> None:
    model = "a-model-with-a-really-long-descriptive-name-for-testing"
    compiled = compile_text(
        tmp_path,
        f"""\
        version: 1
        cluster: {{name: c}}
        models:
          {model}:
            image: example/server:1
            deployments: {{deployment-number-one: {{}}}}
        auth: {{public: true}}
        """,
    )
    name = object_name(model, "deployment-number-one", limit=54)
    assert len(name) == 54
    again = compile_text(tmp_path, (tmp_path / "stack.yaml").read_text())
    assert name in {o["metadata"]["name"] for o in again.objects if o["kind"] == "Deployment"}
    so = find(compiled, "ScaledObject", name)
    assert len("keda-hpa-" + so["metadata"]["name"]) <= 63
    assert find(compiled, "HTTPRoute", model)


def test_object_name_collisions_are_errors(tmp_path: Path) -> None:
    with pytest.raises(StackInvalid) as info:
        compile_text(
            tmp_path,
            """\
            version: 1
            cluster: {name: c}
            models:
              a-b: {image: x, deployments: {c: {}}}
              a: {image: x, deployments: {b-c: {}}}
            auth: {public: true}
            """,
        )
    assert [str(d).split(": error: ")[1] for d in info.value.diagnostics] == [
        "models.a.deployments.b-c: objects of this deployment would be named 'a-b-c' (Service, "
        "Deployment, InterceptorRoute, ScaledObject), like those of deployment 'c' of model "
        "'a-b' (line 4); rename one"
    ]


def test_scale_down_delay_beyond_the_hpa_period_limit_warns(tmp_path: Path) -> None:
    diagnostics = Diagnostics()
    compiled = compile_text(
        tmp_path,
        with_head(
            """\
        models:
          m:
            template: vllm
            params: {hf_model: org/m}
            deployments: {v1: {autoscaling: {scale_down_delay: 1h}}}
        auth: {public: true}
        """
        ),
        diagnostics,
    )
    behavior = find(compiled, "ScaledObject", "m-v1")["spec"]["advanced"][
        "horizontalPodAutoscalerConfig"
    ]
    assert behavior["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 3600
    assert behavior["behavior"]["scaleDown"]["policies"][0]["periodSeconds"] == 1800
    (warning,) = diagnostics.warnings
    assert warning.location.line == 8
    assert "the longest period the HPA accepts" in warning.message


def test_namespace_object_only_when_asked_and_many_endpoints_split_routes(tmp_path: Path) -> None:
    deployments = ", ".join(f"v{i}: {{}}" for i in range(20))
    compiled = compile_text(
        tmp_path,
        f"""\
        version: 1
        cluster: {{name: c, create_namespace: false}}
        models:
          m:
            image: x
            deployments: {{{deployments}}}
        auth: {{public: true}}
        """,
    )
    assert not [o for o in compiled.objects if o["kind"] == "Namespace"]
    routes = [o for o in compiled.objects if o["kind"] == "HTTPRoute"]
    assert [r["metadata"]["name"] for r in routes] == ["m", "m-2"]
    assert [len(r["spec"]["rules"]) for r in routes] == [16, 4]
    assert "hostnames" not in routes[0]["spec"]


def test_network_policy_admits_only_gateway_interceptor_and_monitoring(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, gateway: {name: gw, namespace: edge}, monitoring_namespace: obs}
        models:
          m:
            image: example/server:1
            image_pull_secrets: [registry-creds]
            deployments: {v1: {}}
        auth: {public: true}
        """,
    )
    policy = find(compiled, "NetworkPolicy", "iac-model-servers")
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/component": "model-server"}
    }
    sources = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in policy["spec"]["ingress"][0]["from"]
    ]
    assert sources == ["edge", "keda", "obs"]
    pod = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry-creds"}]
    off = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, network_policy: false}
        models:
          m: {image: example/server:1, deployments: {v1: {}}}
        auth: {public: true}
        """,
    )
    assert not [o for o in off.objects if o["kind"] == "NetworkPolicy"]


def test_args_that_drop_the_templates_flags_are_a_warning_naming_them(tmp_path: Path) -> None:
    from iac.diagnostics import Diagnostics
    from iac.validate import check_stack

    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "vllm.yaml").write_text((ROOT / "modules" / "vllm.yaml").read_text())
    (tmp_path / "stack.yaml").write_text(
        "version: 1\n"
        "imports: [modules/vllm.yaml]\n"
        "cluster: {name: c, namespace: models}\n"
        "models:\n"
        "  chat:\n"
        "    template: vllm\n"
        "    params: {hf_model: org/chat}\n"
        "    resources: {accelerator: 'L4:1', cpu: '4', memory: 16Gi}\n"
        "    deployments:\n"
        "      v1: {args: [--model=org/chat, --port=8000, --enable-prefix-caching]}\n"
        "      v2: {}\n"
        "    environments:\n"
        "      production: {deployment: v2}\n"
        "auth: {public: true}\n"
    )
    warnings = Diagnostics()
    check_stack(str(tmp_path / "stack.yaml"), warnings)
    found = [str(w) for w in warnings.sorted() if "args-replaced" in str(w)]
    assert found == [
        f"{tmp_path / 'stack.yaml'}:10:18: warning: models.chat.deployments.v1.args: `args` "
        "replaces the list of template 'vllm' whole, so `--max-model-len`, "
        "`--gpu-memory-utilization`, `--tensor-parallel-size` are no longer passed: repeat in "
        "this list what the server still needs (the template's: --model=org/chat, "
        "--port=8000, --max-model-len=8192, --gpu-memory-utilization=0.9, "
        "--tensor-parallel-size=1) [args-replaced]"
    ]

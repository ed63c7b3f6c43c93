"""Cold starts: weights cache, image pre-pull, warm capacity, schedules, one startup budget
(issue #12). Every object compiled here is also schema-validated (compile_text)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.errors import StackInvalid
from tests.support.compile_helpers import compile_text, find

KARPENTER = "version: 1\ncluster: {name: c, provisioner: karpenter}\n"
GKE = "version: 1\ncluster: {name: c, provisioner: gke, gke: {cluster: k, location: us-central1}}\n"


def stack(head: str, body: str) -> str:
    return head + textwrap.dedent(body)


@pytest.mark.parametrize(
    ("source", "cache", "image", "fetch", "volume"),
    [
        ("hf://meta-llama/Meta-Llama-3-8B-Instruct@5f0b02c", "node", "python:3.12.8-slim-bookworm",
         "huggingface-cli download 'meta-llama/Meta-Llama-3-8B-Instruct' --revision '5f0b02c'",
         {"hostPath": {"path": "/var/lib/iac/weights/", "type": "DirectoryOrCreate"}}),
        ("s3://models/llama-3-8b/", "cluster", "amazon/aws-cli:2.22.35",
         "aws s3 sync 's3://models/llama-3-8b/' /weights --no-progress",
         {"persistentVolumeClaim": {"claimName": "iac-weights-"}}),
        ("gs://models/llama-3-8b", "none", "gcr.io/google.com/cloudsdktool/google-cloud-cli:504.0.1-slim",
         "gcloud storage rsync --recursive 'gs://models/llama-3-8b' /weights",
         {"emptyDir": {}}),
    ],
)  # fmt: skip
def test_weights_are_fetched_once_into_a_cache_mounted_read_only(
    tmp_path: Path, source: str, cache: str, image: str, fetch: str, volume: dict
) -> None:
    compiled = compile_text(
        tmp_path,
        stack(
            KARPENTER,
            f"""\
            models:
              m:
                image: vllm/vllm-openai:v0.6.3
                resources: {{accelerator: H100, cpu: "8", memory: 64Gi}}
                weights: {{source: "{source}", cache: {cache}, secret: hf-token}}
                weights_size: 16Gi
                deployments: {{v1: {{}}}}
            auth: {{public: true}}
            """,
        ),
    )
    pod = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["image"] == image
    script = init["command"][2]
    assert fetch in script
    assert "-lt 15461882265 ]" in script  # 90 % of 16Gi must have arrived
    assert init["envFrom"] == [{"secretRef": {"name": "hf-token"}}]
    (weights,) = [v for v in pod["volumes"] if v["name"] == "weights"]
    kind = next(iter(volume))
    assert kind in weights
    if kind == "hostPath":
        assert weights["hostPath"]["path"].startswith("/var/lib/iac/weights/")
    server = pod["containers"][0]
    assert {"name": "weights", "mountPath": "/models/weights", "readOnly": True} in server[
        "volumeMounts"
    ]
    claims = [o for o in compiled.objects if o["kind"] == "PersistentVolumeClaim"]
    if cache == "cluster":
        (claim,) = claims
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        assert claim["spec"]["resources"]["requests"]["storage"] == "24Gi"
        assert weights["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    else:
        assert claims == []


def test_a_new_revision_gets_a_new_node_cache(tmp_path: Path) -> None:
    def cache_path(revision: str) -> str:
        compiled = compile_text(
            tmp_path,
            stack(
                KARPENTER,
                f"""\
                models:
                  m:
                    image: x:1
                    weights: {{source: "hf://org/m@{revision}"}}
                    deployments: {{v1: {{}}}}
                auth: {{public: true}}
                """,
            ),
        )
        pod = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
        return str(pod["volumes"][0]["hostPath"]["path"])

    assert cache_path("a") == cache_path("a")
    assert cache_path("a") != cache_path("b")


def test_images_are_prepulled_on_the_pool_their_deployments_use(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        stack(
            KARPENTER,
            """\
            models:
              a: {image: "vllm/vllm-openai:v0.6.3", resources: {accelerator: H100}, deployments: {v1: {}, v2: {image: "vllm/vllm-openai:v0.7.0"}, old: {state: inactive, image: "old:1"}}}
              b: {image: "tei:1.5", resources: {accelerator: L4}, deployments: {v1: {}}}
              cpu: {image: "cpu:1", deployments: {v1: {}}}
            auth: {public: true}
            """,
        ),
    )
    h100 = find(compiled, "DaemonSet", "iac-prepull-gpu-h100")["spec"]["template"]["spec"]
    assert [c["image"] for c in h100["initContainers"]] == [
        "vllm/vllm-openai:v0.6.3",
        "vllm/vllm-openai:v0.7.0",
    ]
    assert h100["nodeSelector"] == {"iac.dev/node-pool": "gpu-h100"}
    assert h100["containers"][0]["image"] == "registry.k8s.io/pause:3.10"
    assert find(compiled, "DaemonSet", "iac-prepull-gpu-l4")
    assert len([o for o in compiled.objects if o["kind"] == "DaemonSet"]) == 2


def test_warm_capacity_is_a_capacity_buffer_with_karpenter(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        stack(
            KARPENTER,
            """\
            node_pools:
              h100: {accelerator: H100, warm: {nodes: 1}}
            models:
              m:
                image: x:1
                resources: {accelerator: "H100:2", cpu: "16", memory: 128Gi}
                deployments: {v1: {}}
                environments:
                  production: {deployment: v1, warm: {replicas: 2}}
            auth: {public: true}
            """,
        ),
    )
    node_buffer = find(compiled, "CapacityBuffer", "iac-warm-pool-h100")
    assert node_buffer["spec"] == {"podTemplateRef": {"name": "iac-warm-pool-h100"}, "replicas": 1}
    node_template = find(compiled, "PodTemplate", "iac-warm-pool-h100")["template"]["spec"]
    assert node_template["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "8"
    env_buffer = find(compiled, "CapacityBuffer", "iac-warm-m-v1")
    assert env_buffer["spec"]["replicas"] == 2
    env_template = find(compiled, "PodTemplate", "iac-warm-m-v1")["template"]["spec"]
    requests = env_template["containers"][0]["resources"]["requests"]
    assert requests == {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "2"}
    assert env_template["nodeSelector"] == {"iac.dev/node-pool": "h100"}
    assert not [o for o in compiled.objects if o["kind"] == "PriorityClass"]


def test_warm_capacity_elsewhere_is_preemptible_placeholders(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        stack(
            GKE,
            """\
            models:
              m:
                image: x:1
                resources: {accelerator: L4, cpu: "4", memory: 16Gi}
                deployments: {v1: {}}
                environments:
                  production: {deployment: v1, warm: {replicas: 3}}
            auth: {public: true}
            """,
        ),
    )
    placeholder = find(compiled, "Deployment", "iac-warm-m-v1")
    assert placeholder["spec"]["replicas"] == 3
    pod = placeholder["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "iac-warm-capacity"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    priority = find(compiled, "PriorityClass", "iac-warm-capacity")
    assert (priority["value"], priority["preemptionPolicy"]) == (-10, "Never")


def test_a_warm_gke_node_is_the_pools_machine(tmp_path: Path) -> None:
    # GKE nodes are the pool's machine type: an L4 pool of one-GPU g2 machines keeps a node
    # warm with a 1-GPU placeholder (the accelerator's 8 per node would never fit one);
    # an on-demand H100 pool gets 8-GPU a3-highgpu-8g nodes.
    compiled = compile_text(
        tmp_path,
        stack(
            GKE,
            """\
            node_pools:
              l4: {accelerator: L4, warm: {nodes: 2}}
              h100: {accelerator: H100, warm: {nodes: 1}}
            models:
              a: {image: x:1, resources: {accelerator: L4}, deployments: {v1: {}}}
              b: {image: x:1, resources: {accelerator: H100}, deployments: {v1: {}}}
            auth: {public: true}
            """,
        ),
    )
    machines = {d["name"]: d["properties"]["nodeConfig"] for d in compiled.cloud}
    for name, replicas, gpus in (("l4", 2, "1"), ("h100", 1, "8")):
        placeholder = find(compiled, "Deployment", f"iac-warm-pool-{name}")
        assert placeholder["spec"]["replicas"] == replicas
        pod = placeholder["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert str(machines[name]["guestAccelerators"][0]["count"]) == gpus
        assert pod["nodeSelector"] == machines[name]["labels"]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"])
def test_schedules_become_cron_triggers_in_their_time_zone(tmp_path: Path, zone: str) -> None:
    compiled = compile_text(
        tmp_path,
        stack(
            KARPENTER,
            f"""\
            models:
              m:
                image: x:1
                deployments: {{v1: {{}}}}
                environments:
                  production:
                    deployment: v1
                    autoscaling:
                      min_replicas: 0
                      max_replicas: 4
                      schedules:
                        - {{start: "0 8 * * 1-5", end: "0 20 * * 1-5", timezone: {zone}, min_replicas: 2}}
                        - {{start: "0 12 * * *", end: "30 13 * * *", timezone: {zone}, min_replicas: 9}}
            auth: {{public: true}}
            """,
        ),
    )
    triggers = find(compiled, "ScaledObject", "m-v1")["spec"]["triggers"]
    assert triggers[0]["type"] == "external-push"  # load still scales it; schedules add floors
    assert triggers[1:] == [
        {"type": "cron", "metadata": {"timezone": zone, "start": "0 8 * * 1-5",
                                       "end": "0 20 * * 1-5", "desiredReplicas": "2"}},
        {"type": "cron", "metadata": {"timezone": zone, "start": "0 12 * * *",
                                       "end": "30 13 * * *", "desiredReplicas": "4"}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ('{start: "0 8 * *", end: "0 20 * * *", min_replicas: 1}',
         "'0 8 * *' is not a cron expression of 5 fields"),
        ('{start: "0 8 * * *", end: "0 20 * * *", timezone: Mars/Olympus, min_replicas: 1}',
         "unknown time zone 'Mars/Olympus'; use an IANA name like Europe/Berlin"),
    ],
)  # fmt: skip
def test_bad_schedules_are_located_errors(tmp_path: Path, schedule: str, message: str) -> None:
    with pytest.raises(StackInvalid) as info:
        compile_text(
            tmp_path,
            stack(
                KARPENTER,
                f"models:\n  m: {{image: x, autoscaling: {{schedules: [{schedule}]}}, deployments: {{v1: {{}}}}}}\n",
            ),
        )
    assert message in str(info.value)


def test_one_startup_budget_reaches_probe_cooldown_and_interceptor(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        stack(
            KARPENTER,
            """\
            models:
              m:
                image: x:1
                health: {startup_timeout: 45m}
                deployments: {v1: {}}
            auth: {public: true}
            """,
        ),
    )
    probe = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]["containers"][0][
        "startupProbe"
    ]
    assert probe["periodSeconds"] * probe["failureThreshold"] == 2700
    assert find(compiled, "ScaledObject", "m-v1")["spec"]["initialCooldownPeriod"] == 2700
    route = find(compiled, "InterceptorRoute", "m-v1")["spec"]
    assert route["timeouts"]["readiness"] == f"{2700 + 600}s"  # plus a node and an image


def test_plan_warns_when_a_cold_start_outlasts_the_gateway(tmp_path: Path) -> None:
    text = "version: 1\ncluster: {name: c, gateway_timeout: 5m}\nmodels:\n  m: {image: x:1, deployments: {v1: {}}}\nauth: {public: true}\n"
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["plan", str(path), "--base", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    (finding,) = [
        f
        for f in json.loads(result.stdout)["findings"]
        if f["id"] == "cold-start-exceeds-gateway-timeout"
    ]
    assert finding["message"].startswith(
        "v1 may scale to zero, and waking it can take up to 40m (node, image, startup budget), "
        "but the Gateway gives up after 5m"
    )


def test_plan_shows_what_warm_capacity_costs(tmp_path: Path) -> None:
    base = "version: 1\ncluster: {name: c, provisioner: karpenter}\npricing: {gpu_hourly: {L4: 1.0}}\nmodels:\n  m: {image: x:1, resources: {accelerator: L4}, deployments: {v1: {}}}\nauth: {public: true}\n"
    head = base.replace(
        "cluster: {name: c, provisioner: karpenter}",
        "cluster: {name: c, provisioner: karpenter}\nnode_pools: {l4: {accelerator: L4, warm: {nodes: 1}}}",
    )
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "head.yaml").write_text(head)
    result = CliRunner().invoke(
        cli,
        [
            "plan",
            str(tmp_path / "head.yaml"),
            "--base",
            str(tmp_path / "base.yaml"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)["cost"]["lines"]
    # One warm L4 node: 8 devices × $1 × 730 h, all the time.
    assert {
        "model": "(warm capacity)",
        "environment": "pool-l4",
        "base": {"floor": 0.0, "ceiling": 0.0},
        "head": {"floor": 5840.0, "ceiling": 5840.0},
    } in lines

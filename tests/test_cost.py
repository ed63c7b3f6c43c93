"""`iac cost` (issue #9): monthly floor and ceiling per model, environment, deployment and
node pool; the same totals as the plan's cost."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.compile.pricing import HOURS_PER_MONTH, release_cost
from iac.cost_report import cost_report, to_markdown, to_text
from iac.validate import check_stack
from tests.compile_helpers import ROOT

STACK = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, provisioner: karpenter}
node_pools:
  big: {accelerator: H100}
pricing:
  gpu_hourly: {H100: 4.0}
models:
  llm:
    template: vllm
    params: {hf_model: org/llm}
    resources: {accelerator: "H100:2"}
    deployments:
      v1: {}
      v2: {state: inactive}
      dev: {kind: development}
    environments:
      production:
        deployment: v1
        autoscaling: {min_replicas: 1, max_replicas: 3}
  small:
    image: org/small:1
    resources: {accelerator: H100_40GB}
    deployments: {a: {}, b: {}}
    environments:
      production:
        traffic: {a: 50, b: 50}
        autoscaling: {min_replicas: 2, max_replicas: 4}
  cpu:
    image: org/cpu:1
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 2}}
"""


def write(tmp_path: Path, text: str = STACK) -> str:
    path = tmp_path / "stack.yaml"
    path.write_text(textwrap.dedent(text).replace("MODULES", str(ROOT / "modules")))
    return str(path)


def report_of(path: str):  # type: ignore[no-untyped-def]
    stack = check_stack(path)
    return cost_report(compile_stack(stack).release, stack.spec.pricing), stack


def test_lines_per_deployment_with_their_prices(tmp_path: Path) -> None:
    report, _ = report_of(write(tmp_path))
    lines = {(line.model, line.deployment): line for line in report.lines}
    assert set(lines) == {("llm", "v1"), ("llm", "dev"), ("small", "a"), ("small", "b"),
                          ("cpu", "v1")}  # fmt: skip
    llm = lines[("llm", "v1")]
    assert (llm.node_pool, llm.accelerator, llm.replica_hourly) == ("big", "H100:2", 8.0)
    assert llm.basis == "2 × stack pricing.gpu_hourly"
    assert llm.floor == 1 * 8.0 * HOURS_PER_MONTH
    assert llm.ceiling == 3 * 8.0 * HOURS_PER_MONTH
    # A MIG slice costs half a device; each side of the 50/50 split is held at its min (it
    # has no in-flight metric to scale on during the split).
    half = lines[("small", "a")]
    assert half.replica_hourly == 2.0
    assert (half.min_replicas, half.max_replicas) == (1, 1)
    assert "1/2 of H100" in half.basis
    assert lines[("cpu", "v1")].replica_hourly == 0
    assert lines[("llm", "dev")].environment is None
    assert report.inactive == 1


def assert_totals_are_the_plans(report, stack) -> None:  # type: ignore[no-untyped-def]
    """`iac cost`'s totals by model and environment are those `iac plan` compares."""
    expected = {
        (line.model, line.environment): (round(line.floor, 2), round(line.ceiling, 2))
        for line in release_cost(compile_stack(stack).release, stack.spec.pricing)
    }
    found = {
        (e["model"], e["environment"]): (e["floor"], e["ceiling"])
        for e in report.to_dict()["environments"]
    }
    assert found == expected
    assert report.floor == pytest.approx(sum(f for f, _ in expected.values()))


def test_totals_per_environment_are_the_plans(tmp_path: Path) -> None:
    report, stack = report_of(write(tmp_path))
    assert_totals_are_the_plans(report, stack)


def test_warm_capacity_has_lines_and_the_totals_stay_the_plans(tmp_path: Path) -> None:
    """`warm: {nodes: 1}` on the GKE stack's L4 pool: a placeholder the size of a node runs
    all month; `iac cost` shows it and its totals are still `release_cost`'s."""
    report, stack = report_of(write(tmp_path, GKE_STACK))
    (warm,) = [line for line in report.lines if line.model == "(warm capacity)"]
    assert (warm.environment, warm.deployment, warm.node_pool) == ("pool-l4", "1 placeholder", "l4")
    assert warm.accelerator == "L4"
    assert warm.floor == warm.ceiling == pytest.approx(G2_STANDARD_8 * HOURS_PER_MONTH)
    assert_totals_are_the_plans(report, stack)
    # The warm node's GPU is in the pool's whole nodes, as it is on the cluster.
    (l4,) = [pool for pool in report.nodes if pool.node_pool == "l4"]
    assert l4.floor_devices == 1 + 1  # the warm node's GPU and embed's one replica


def test_node_pools_and_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cost", write(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["currency"] == "USD"
    assert found["period"] == "month (730 h)"
    assert found["cloud"] == "aws"
    pools = {p["node_pool"]: (p["floor"], p["ceiling"]) for p in found["node_pools"]}
    # big: llm v1 (1..3 × $8) and dev (0..1 × $8); the slices land on a derived pool.
    assert pools["big"] == (5840.0, 23360.0)
    assert pools["gpu-h100-40gb"] == (2920.0, 2920.0)
    assert pools["(CPU only)"] == (0.0, 0.0)
    assert found["total"] == {"floor": 8760.0, "ceiling": 26280.0}
    assert found["inactive_deployments"] == 1
    v1 = next(d for d in found["deployments"] if d["deployment"] == "v1" and d["model"] == "llm")
    assert v1 == {
        "model": "llm",
        "environment": "production",
        "deployment": "v1",
        "node_pool": "big",
        "accelerator": "H100:2",
        "replicas": {"min": 1, "max": 3},
        "replica_hourly": 8.0,
        "price_basis": "2 × stack pricing.gpu_hourly",
        "floor": 5840.0,
        "ceiling": 17520.0,
    }


def test_text_and_markdown(tmp_path: Path) -> None:
    path = write(tmp_path)
    report, _ = report_of(path)
    text = to_text(path, report)
    assert "by node pool" in text
    assert "by environment" in text
    assert "total: floor $8,760, ceiling $26,280" in text
    assert "llm / production" in text
    markdown = to_markdown(path, report)
    assert "| llm | production | v1 | big | H100:2 | 1..3 | $8.00 | $5,840 | $17,520 |" in markdown
    assert "**Total**: floor $8,760, ceiling $26,280" in markdown


def test_catalog_prices_and_unpriced_accelerators(tmp_path: Path) -> None:
    text = STACK.replace("pricing:\n  gpu_hourly: {H100: 4.0}\n", "").replace(
        "provisioner: karpenter", "provisioner: existing"
    )
    text = text.replace("image: org/cpu:1", "image: org/cpu:1\n    resources: {accelerator: V100}")
    report, _ = report_of(write(tmp_path, text))
    assert report.cloud is None
    llm = next(line for line in report.lines if line.deployment == "v1" and line.model == "llm")
    assert llm.basis == "2 × Baseten list price (reference)"
    assert report.unpriced == ["V100"]
    assert "no price for V100" in to_text("s", report)


def test_demo_stack(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cost", str(ROOT / "stacks/demo.yaml")])
    assert result.exit_code == 0, result.output
    assert "llama-3-8b  production   v3" in result.output
    assert "h100" in result.output


GKE_STACK = """\
version: 1
cluster: {name: c, provisioner: gke, gke: {cluster: serving, location: us-central1}}
node_pools:
  mig: {accelerator: H100_40GB, capacity_type: spot}
  l4: {accelerator: L4, warm: {nodes: 1}}
models:
  llm:
    image: org/llm:1
    resources: {accelerator: H100, cpu: "8", memory: 64Gi}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 6}}
  embed:
    image: org/embed:1
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 3}}
  small:
    image: org/small:1
    resources: {accelerator: H100_40GB}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 3, max_replicas: 3}}
"""
A3_HIGH_8G = 88.4899999025753
A3_HIGH_1G = 11.0612499878219
G2_STANDARD_8 = 0.853624271


def test_gke_prices_a_gpu_at_the_machine_its_pool_gets(tmp_path: Path) -> None:
    report, stack = report_of(write(tmp_path, GKE_STACK))
    compiled = compile_stack(stack)
    machines = {d["name"]: d["properties"]["nodeConfig"]["machineType"] for d in compiled.cloud}
    assert machines == {"gpu-h100": "a3-highgpu-8g", "l4": "g2-standard-8", "mig": "a3-highgpu-1g"}
    lines = {line.model: line for line in report.lines}
    # On demand, H100 nodes are a3-highgpu-8g: 1/8 of one per GPU.
    assert lines["llm"].replica_hourly == pytest.approx(A3_HIGH_8G / 8)
    assert lines["llm"].basis == "gcp a3-highgpu-8g on-demand ÷ 8 GPUs (node pool gpu-h100)"
    # 4 CPUs and 16Gi do not fit g2-standard-4 once GKE reserves its share: the pool's
    # g2-standard-8 is the price, not the cheaper machine the pool never gets.
    assert lines["embed"].replica_hourly == pytest.approx(G2_STANDARD_8)
    assert "g2-standard-8" in lines["embed"].basis
    # A slice: half of the spot pool's one-GPU machine (priced at its on-demand list price).
    assert lines["small"].replica_hourly == pytest.approx(A3_HIGH_1G / 2)
    assert lines["small"].basis == (
        "1/2 of H100: gcp a3-highgpu-1g on-demand ÷ 1 GPU (node pool mig)"
    )
    # `iac plan` prices the same; a warm L4 node is one whole g2-standard-8 all month.
    plan = {
        (line.model, line.environment): (line.floor, line.ceiling)
        for line in release_cost(compiled.release, stack.spec.pricing)
    }
    assert plan[("llm", "production")] == pytest.approx(
        (A3_HIGH_8G / 8 * HOURS_PER_MONTH, 6 * A3_HIGH_8G / 8 * HOURS_PER_MONTH)
    )
    warm = G2_STANDARD_8 * HOURS_PER_MONTH
    assert plan[("(warm capacity)", "pool-l4")] == pytest.approx((warm, warm))


def test_gke_says_what_whole_nodes_cost(tmp_path: Path) -> None:
    report, _ = report_of(write(tmp_path, GKE_STACK))
    nodes = {pool.node_pool: pool for pool in report.nodes}
    h100 = nodes["gpu-h100"]
    # 1..6 one-GPU replicas: one 8-GPU node either way, billed whole.
    assert (h100.machine, h100.devices_per_node) == ("a3-highgpu-8g", 8)
    assert (h100.floor_devices, h100.floor_nodes, h100.ceiling_devices, h100.ceiling_nodes) == (
        1, 1, 6, 1,
    )  # fmt: skip
    assert h100.floor == pytest.approx(A3_HIGH_8G * HOURS_PER_MONTH)
    # 3 slices, 2 to a GPU: 2 GPUs, on 2 one-GPU nodes.
    assert (nodes["mig"].floor_devices, nodes["mig"].floor_nodes) == (2, 2)
    # 3 one-GPU replicas and the warm node kept beside them (`warm: {nodes: 1}`).
    assert (nodes["l4"].ceiling_devices, nodes["l4"].ceiling_nodes) == (4, 4)
    # The lines count GPUs only; the whole nodes are stated beside them, not in the totals.
    assert report.floor == pytest.approx(
        sum(line.min_replicas * line.replica_hourly for line in report.lines) * HOURS_PER_MONTH
    )
    text = to_text("s", report)
    assert "the idle GPUs of a partly filled node are billed too and are not in the totals" in text
    assert (
        "gpu-h100: a3-highgpu-8g nodes (8 GPUs, $88.49/h) billed whole: floor 1 GPU on at "
        "least 1 node ($64,598), ceiling 6 GPUs on at least 1 node ($64,598)"
    ) in text
    found = json.loads(CliRunner().invoke(cli, ["cost", write(tmp_path, GKE_STACK), "--format",
                                                "json"]).stdout)  # fmt: skip
    (h100_json,) = [n for n in found["whole_nodes"] if n["node_pool"] == "gpu-h100"]
    assert h100_json["floor"] == {"gpus": 1, "nodes": 1, "cost": round(h100.floor, 2)}


def test_gke_pricing_overrides(tmp_path: Path) -> None:
    # `gpu_hourly` still wins (a node costs it × its GPUs); `instance_hourly` reprices the
    # machines and so may change which one the pool gets, and the price with it.
    text = (
        GKE_STACK + "pricing: {gpu_hourly: {H100: 4.0}, instance_hourly: {g2-standard-16: 0.5}}\n"
    )
    report, stack = report_of(write(tmp_path, text))
    lines = {line.model: line for line in report.lines}
    assert lines["llm"].replica_hourly == 4.0
    assert lines["llm"].basis == (
        "gcp a3-highgpu-8g: 8 × stack pricing.gpu_hourly ÷ 8 GPUs (node pool gpu-h100)"
    )
    assert lines["small"].replica_hourly == 2.0
    assert lines["embed"].replica_hourly == 0.5
    assert lines["embed"].basis == "gcp g2-standard-16 (stack) ÷ 1 GPU (node pool l4)"
    (pool,) = [d for d in compile_stack(stack).cloud if d["name"] == "l4"]
    assert pool["properties"]["nodeConfig"]["machineType"] == "g2-standard-16"


def test_karpenter_prices_the_cheapest_instance_a_replica_fits_on(tmp_path: Path) -> None:
    # Karpenter picks instance types when it launches nodes: the estimate is the cheapest
    # instance carrying the accelerator on which a replica fits whole, and no whole-node
    # figures. `embed` asks 4 CPUs and 16Gi: not on a g6.xlarge (4 vCPUs, 16 GiB, less
    # what the node keeps), so a g6.2xlarge.
    text = GKE_STACK.replace("provisioner: gke", "provisioner: karpenter")
    report, _ = report_of(write(tmp_path, text))
    lines = {line.model: line for line in report.lines}
    assert lines["embed"].basis == "aws g6.2xlarge on-demand"
    assert lines["embed"].replica_hourly == 0.9776
    assert report.nodes == ()
    assert report.to_dict()["whole_nodes"] == []


KARPENTER_L4 = """\
version: 1
cluster: {name: c, provisioner: karpenter}
node_pools:
  l4: {accelerator: L4}
  picked: {accelerator: L4, instance_types: [g6.4xlarge, g6.8xlarge]}
models:
  four:  # 4 GPUs: a whole g6.12xlarge, not four times a g6.xlarge
    image: org/m:1
    resources: {accelerator: "L4:4", node_pool: l4}
    deployments: {v1: {}}
  three:  # 3 GPUs: one a g6.12xlarge, whose fourth GPU it pays for too
    image: org/m:1
    resources: {accelerator: "L4:3", node_pool: l4}
    deployments: {v1: {}}
  cpu-bound:  # 40 CPUs: two a g6.24xlarge (96 vCPUs) at 6.68, cheaper than a g6.16xlarge each
    image: org/m:1
    resources: {accelerator: L4, cpu: "40", node_pool: l4}
    deployments: {v1: {}}
  small:  # the defaults (1 CPU, 2Gi): the cheapest one-GPU instance
    image: org/m:1
    resources: {accelerator: L4, node_pool: l4}
    deployments: {v1: {}}
  restricted:  # only the pool's instance types
    image: org/m:1
    resources: {accelerator: L4, node_pool: picked}
    deployments: {v1: {}}
"""


def test_karpenter_prices_follow_the_replicas_shape_and_the_pools_types(tmp_path: Path) -> None:
    report, _ = report_of(write(tmp_path, KARPENTER_L4))
    found = {line.model: (line.basis, round(line.replica_hourly, 4)) for line in report.lines}
    assert found == {
        "four": ("4 × aws g6.12xlarge on-demand", 4.6016),
        "three": ("3 × aws g6.12xlarge on-demand ÷ 3 of its 4 GPUs (1 replica a node)", 4.6016),
        "cpu-bound": ("aws g6.24xlarge on-demand ÷ 2 of its 4 GPUs (2 replicas a node)", 3.3376),
        "small": ("aws g6.xlarge on-demand", 0.8048),
        "restricted": ("aws g6.4xlarge on-demand", 1.3232),
    }
    # The plan's cost and `iac simulate` price replicas the same way.
    stack = check_stack(write(tmp_path, KARPENTER_L4))
    release = compile_stack(stack).release
    monthly = {line.model: line.ceiling for line in release_cost(release, stack.spec.pricing)}
    assert monthly["three"] == pytest.approx(4.6016 * HOURS_PER_MONTH)


def test_an_explicit_gpu_price_still_wins_on_karpenter(tmp_path: Path) -> None:
    text = KARPENTER_L4.replace("node_pools:", "pricing: {gpu_hourly: {L4: 1.0}}\nnode_pools:")
    report, _ = report_of(write(tmp_path, text))
    found = {line.model: line.replica_hourly for line in report.lines}
    assert found == {"four": 4.0, "three": 3.0, "cpu-bound": 1.0, "small": 1.0, "restricted": 1.0}

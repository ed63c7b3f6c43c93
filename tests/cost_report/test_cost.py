"""`iac cost` (issue #9): monthly floor and ceiling per model, environment, deployment and
node pool; the same totals as the plan's cost."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from iac.catalog import catalog
from iac.cli import cli
from iac.compile import compile_stack
from iac.compile.capacity.machines import Machine, Replica, allocatable, nodes_needed, per_node
from iac.compile.capacity.pricing import HOURS_PER_MONTH, release_cost, whole_nodes
from iac.compile.release.node_pools import PoolPlan
from iac.cost_report import cost_report, to_markdown, to_text
from iac.errors import StackInvalid
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT
from tests.support.stacks import write_stack

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
auth: {public: true}
"""


def write(tmp_path: Path, text: str = STACK) -> str:
    return str(write_stack(tmp_path, text))


def report_of(path: str):  # type: ignore[no-untyped-def]
    stack = check_stack(path)
    return cost_report(compile_stack(stack).release, stack.spec.pricing), stack


def test_lines_per_deployment_with_their_prices(tmp_path: Path) -> None:
    report, _ = report_of(write(tmp_path))
    lines = {(line.model, line.deployment): line for line in report.lines}
    assert set(lines) == {("llm", "v1"), ("llm", "dev"), ("small", "a"), ("small", "b"),
                          ("cpu", "v1"), ("(whole nodes)", "1..1 p5.48xlarge")}  # fmt: skip
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
    # Two H100s a replica: only a p5.48xlarge (8 GPUs) holds one, and Karpenter buys it
    # whole. At the floor (1 replica) 6 of its GPUs are idle, at $4 each; at the ceiling
    # (4 replicas with dev's) none.
    idle = lines[("(whole nodes)", "1..1 p5.48xlarge")]
    assert (idle.environment, idle.node_pool) == ("big", "big")
    assert (idle.floor, idle.ceiling) == (6 * 4.0 * HOURS_PER_MONTH, 0.0)


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
    (l4,) = [pool for pool in report.nodes if pool.pool == "l4"]
    (group,) = l4.groups
    assert (group.floor_devices, group.floor_nodes) == (1 + 1, 2)  # warm node, embed's one


def test_node_pools_and_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cost", write(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["currency"] == "USD"
    assert found["period"] == "month (730 h)"
    assert found["cloud"] == "aws"
    pools = {p["node_pool"]: (p["floor"], p["ceiling"]) for p in found["node_pools"]}
    # big: llm v1 (1..3 × $8) and dev (0..1 × $8), 2 to 8 GPUs, on one p5.48xlarge of
    # 8 × $4 either way; the slices land on a derived pool, 2 to a p5.4xlarge.
    assert pools["big"] == (23360.0, 23360.0)
    assert pools["gpu-h100-40gb"] == (2920.0, 2920.0)
    assert pools["(CPU only)"] == (0.0, 0.0)
    assert found["total"] == {"floor": 26280.0, "ceiling": 26280.0}
    assert found["inactive_deployments"] == 1
    big = next(n for n in found["whole_nodes"] if n["node_pool"] == "big")
    assert big == {
        "node_pool": "big",
        "machine": "p5.48xlarge",
        "gpus_per_node": 8,
        "node_hourly": 32.0,
        "price_basis": "p5.48xlarge: 8 × stack pricing.gpu_hourly",
        "floor": {"gpus": 2, "nodes": 1, "cost": 23360.0},
        "ceiling": {"gpus": 8, "nodes": 1, "cost": 23360.0},
    }
    assert found["basis"].startswith("billed by the node: Karpenter launches whole instances")
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
    assert "total: floor $26,280, ceiling $26,280" in text
    assert "llm / production" in text
    markdown = to_markdown(path, report)
    assert "| llm | production | v1 | big | H100:2 | 1..3 | $8.00 | $5,840 | $17,520 |" in markdown
    assert (
        "| (whole nodes) | big | 1..1 p5.48xlarge | big | H100 | - | - | $17,520 | $0 |" in markdown
    )
    assert "**Total**: floor $26,280, ceiling $26,280" in markdown


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
auth: {public: true}
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


def test_gke_bills_whole_nodes(tmp_path: Path) -> None:
    """GKE bills a pool's machines whole (issue #20): the totals are the nodes' cost, with
    the GPUs no replica requests in a `(whole nodes)` line per pool."""
    report, stack = report_of(write(tmp_path, GKE_STACK))
    nodes = {pool.pool: pool for pool in report.nodes}
    (h100,) = nodes["gpu-h100"].groups
    # 1..6 one-GPU replicas: one 8-GPU node either way, billed whole.
    assert (h100.machine, h100.devices) == ("a3-highgpu-8g", 8)
    assert (h100.floor_devices, h100.floor_nodes, h100.ceiling_devices, h100.ceiling_nodes) == (
        1, 1, 6, 1,
    )  # fmt: skip
    assert h100.floor == pytest.approx(A3_HIGH_8G * HOURS_PER_MONTH)
    # 3 slices, 2 to a GPU: 2 one-GPU nodes, half of one idle.
    (mig,) = nodes["mig"].groups
    assert (mig.floor_units, mig.floor_devices, mig.floor_nodes, mig.idle) == (3, 2, 2, (1, 1))
    # 3 one-GPU replicas and the warm node kept beside them (`warm: {nodes: 1}`).
    (l4,) = nodes["l4"].groups
    assert (l4.ceiling_devices, l4.ceiling_nodes) == (4, 4)
    whole = {line.environment: line for line in report.lines if line.model == "(whole nodes)"}
    assert set(whole) == {"gpu-h100", "mig"}  # l4's nodes are one GPU each: none idle
    assert whole["gpu-h100"].deployment == "1..1 a3-highgpu-8g"
    assert (whole["gpu-h100"].floor, whole["gpu-h100"].ceiling) == pytest.approx(
        (7 * A3_HIGH_8G / 8 * HOURS_PER_MONTH, 2 * A3_HIGH_8G / 8 * HOURS_PER_MONTH)
    )
    assert whole["mig"].deployment == "2..2 a3-highgpu-1g"
    assert whole["mig"].floor == pytest.approx(A3_HIGH_1G / 2 * HOURS_PER_MONTH)
    # The totals are what the nodes cost: 1 a3-highgpu-8g, 2 a3-highgpu-1g, 2..4 g2-standard-8.
    floor = (A3_HIGH_8G + 2 * A3_HIGH_1G + 2 * G2_STANDARD_8) * HOURS_PER_MONTH
    ceiling = (A3_HIGH_8G + 2 * A3_HIGH_1G + 4 * G2_STANDARD_8) * HOURS_PER_MONTH
    assert (report.floor, report.ceiling) == pytest.approx((floor, ceiling))
    pools = {name: (f, c) for name, f, c in report.by_pool()}
    assert pools["gpu-h100"] == pytest.approx((A3_HIGH_8G * HOURS_PER_MONTH,) * 2)
    assert_totals_are_the_plans(report, stack)
    text = to_text("s", report)
    assert (
        "  gpu-h100: a3-highgpu-8g nodes (8 GPUs, $88.49/h): floor 1 node for 1 GPU requested, "
        "7 idle ($64,598), ceiling 1 node for 6 GPUs, 2 idle ($64,598)\n"
    ) in text
    assert (
        "  mig: a3-highgpu-1g nodes (1 GPU, $11.06/h): floor 2 nodes for 3 × H100_40GB "
        "requested, 1 idle ($16,149), ceiling 2 nodes for 3 × H100_40GB, 1 idle ($16,149)\n"
    ) in text
    found = json.loads(CliRunner().invoke(cli, ["cost", write(tmp_path, GKE_STACK), "--format",
                                                "json"]).stdout)  # fmt: skip
    (h100_json,) = [n for n in found["whole_nodes"] if n["node_pool"] == "gpu-h100"]
    assert h100_json["floor"] == {"gpus": 1, "nodes": 1, "cost": round(h100.floor, 2)}
    assert found["total"]["floor"] == round(floor, 2)


GKE_EXAMPLE = """\
iac cost examples/06-gke (USD per month of 730 h, gcp prices)

model          environment  deployment          node pool  accelerator  replicas  $/replica-h    floor  ceiling
bge-large      production   v1                  spot-l4    L4               1..4        $0.85     $623   $2,493
llama-3-8b     production   v1                  gpu-h100   H100             1..6       $11.06   $8,075  $48,448
(whole nodes)  gpu-h100     1..1 a3-highgpu-8g  gpu-h100   H100                -            -  $56,523  $16,149

by environment
  (whole nodes) / gpu-h100  floor    $56,523  ceiling    $16,149
  bge-large / production    floor       $623  ceiling     $2,493
  llama-3-8b / production   floor     $8,075  ceiling    $48,448

by node pool
  gpu-h100  floor    $64,598  ceiling    $64,598
  spot-l4   floor       $623  ceiling     $2,493

total: floor $65,221, ceiling $67,090
  floor: min replicas always on; ceiling: max replicas all month
  billed by the node: GKE bills a node pool's machines whole, so GPUs no replica requests on a partly filled node are billed too; a pool's (whole nodes) line is what its nodes cost beyond its replicas' lines, and each node pool's total is what its nodes cost
  gpu-h100: a3-highgpu-8g nodes (8 GPUs, $88.49/h): floor 1 node for 1 GPU requested, 7 idle ($64,598), ceiling 1 node for 6 GPUs, 2 idle ($64,598)
  spot-l4: g2-standard-8 nodes (1 GPU, $0.85/h): floor 1 node for 1 GPU requested ($623), ceiling 4 nodes for 4 GPUs ($2,493)
  prices: gcp a3-highgpu-8g on-demand ÷ 8 GPUs (node pool gpu-h100); gcp g2-standard-8 on-demand ÷ 1 GPU (node pool spot-l4)
"""


def test_the_gke_example_costs_what_gke_bills(monkeypatch: pytest.MonkeyPatch) -> None:
    """`iac cost examples/06-gke`, every line (issue #20: its headline left out the 8-GPU
    node its own footnote said the one replica needs); `iac plan` and the budget policy
    count the same totals."""
    from iac.diff.plan import make_plan
    from iac.policy import pricing_context

    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["cost", "examples/06-gke"])
    assert result.exit_code == 0, result.output
    assert result.stdout == GKE_EXAMPLE
    stack = check_stack("examples/06-gke")
    compiled = compile_stack(stack)
    plan = make_plan(None, compiled, None, stack.spec.pricing)
    assert plan.cost["head"] == {"floor": 65220.85, "ceiling": 67090.28}
    context = pricing_context(stack.spec.pricing, "gke", compiled.release)
    assert context.ceilings is not None
    ceilings = context.ceilings()
    assert round(sum(ceilings.values()), 2) == 67090.28
    assert round(ceilings["production"], 2) == 50940.86  # llama-3-8b's and bge-large's


def test_a_gke_pool_capped_by_max_gpus_bills_no_more_nodes(tmp_path: Path) -> None:
    """Replicas past a pool's `max_gpus` stay pending: its ceiling is the nodes it may have,
    and its `(whole nodes)` line takes off what their lines count."""
    text = GKE_STACK.replace(
        "l4: {accelerator: L4, warm: {nodes: 1}}", "l4: {accelerator: L4, max_gpus: 2}"
    )
    report, stack = report_of(write(tmp_path, text))
    (l4,) = [pool for pool in report.nodes if pool.pool == "l4"]
    assert l4.capped
    (group,) = l4.groups
    assert (group.ceiling_nodes, group.ceiling_units, group.idle[1]) == (2, 3, -1)
    pools = {name: (f, c) for name, f, c in report.by_pool()}
    assert pools["l4"] == pytest.approx(
        (G2_STANDARD_8 * HOURS_PER_MONTH, 2 * G2_STANDARD_8 * HOURS_PER_MONTH)
    )
    (whole,) = [line for line in report.lines if line.environment == "l4"]
    assert whole.ceiling == pytest.approx(-G2_STANDARD_8 * HOURS_PER_MONTH)
    assert_totals_are_the_plans(report, stack)
    assert (
        "  l4: g2-standard-8 nodes (1 GPU, $0.85/h): floor 1 node for 1 GPU requested ($623), "
        "ceiling 2 nodes for 3 GPUs, 1 of them without room ($1,246); its max_gpus caps it at "
        "2 nodes: the ceiling's replicas beyond them stay pending, unbilled\n"
    ) in to_text("s", report)
    assert "\n(whole nodes)  l4           1..2 g2-standard-8  l4         L4" in to_text("s", report)
    assert "  (whole nodes) / l4        floor         $0  ceiling      -$623\n" in to_text(
        "s", report
    )


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
    # instance carrying the accelerator on which a replica fits whole. `embed` asks 4 CPUs
    # and 16Gi: not on a g6.xlarge (4 vCPUs, 16 GiB, less what the node keeps), so a
    # g6.2xlarge. An H100 replica gets a p5.4xlarge: its price per GPU equals the
    # p5.48xlarge's, and Karpenter launches the smaller for a replica alone.
    text = GKE_STACK.replace("provisioner: gke", "provisioner: karpenter")
    report, stack = report_of(write(tmp_path, text))
    lines = {line.model: line for line in report.lines}
    assert lines["embed"].basis == "aws g6.2xlarge on-demand"
    assert lines["embed"].replica_hourly == 0.9776
    assert lines["llm"].basis == "aws p5.4xlarge on-demand"
    nodes = {(pool.pool, g.machine): (g.floor_nodes, g.ceiling_nodes)
             for pool in report.nodes for g in pool.groups}  # fmt: skip
    # The warm node holds the 8 L4s a node may carry (the catalog's most): a g6.48xlarge,
    # whose price the line's cheapest price per GPU (8 g6.xlarge GPUs) does not reach.
    assert nodes == {
        ("gpu-h100", "p5.4xlarge"): (1, 6),
        ("l4", "g6.2xlarge"): (1, 3),
        ("l4", "g6.48xlarge"): (1, 1),
        ("mig", "p5.4xlarge"): (2, 2),
    }
    whole = {line.environment: (line.floor, line.ceiling) for line in report.lines
             if line.model == "(whole nodes)"}  # fmt: skip
    assert set(whole) == {"l4", "mig"}
    assert whole["l4"] == pytest.approx(((13.3504 - 8 * 0.8048) * HOURS_PER_MONTH,) * 2)
    assert whole["mig"] == pytest.approx(((2 * 6.88 - 3 * 6.88 / 2) * HOURS_PER_MONTH,) * 2)
    assert_totals_are_the_plans(report, stack)


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
auth: {public: true}
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
        "(whole nodes)": ("whole nodes beyond the replicas' lines", 0.0),
    }
    # The plan's cost and `iac simulate` price replicas the same way.
    stack = check_stack(write(tmp_path, KARPENTER_L4))
    release = compile_stack(stack).release
    monthly = {line.model: line.ceiling for line in release_cost(release, stack.spec.pricing)}
    assert monthly["three"] == pytest.approx(4.6016 * HOURS_PER_MONTH)
    # Whole instances: cpu-bound's one replica runs alone, on the cheapest instance that
    # holds it (a g6.16xlarge at 3.3968), not on half of a g6.24xlarge (3.3376).
    assert monthly["(whole nodes)"] == pytest.approx((3.3968 - 3.3376) * HOURS_PER_MONTH)
    nodes = {g.machine: g.ceiling_nodes for pool in report.nodes for g in pool.groups}
    assert nodes == {"g6.12xlarge": 2, "g6.16xlarge": 1, "g6.xlarge": 1, "g6.4xlarge": 1}


def test_an_explicit_gpu_price_still_wins_on_karpenter(tmp_path: Path) -> None:
    text = KARPENTER_L4.replace("node_pools:", "pricing: {gpu_hourly: {L4: 1.0}}\nnode_pools:")
    report, _ = report_of(write(tmp_path, text))
    found = {line.model: line.replica_hourly for line in report.lines}
    assert found == {"four": 4.0, "three": 3.0, "cpu-bound": 1.0, "small": 1.0,
                     "restricted": 1.0, "(whole nodes)": 0.0}  # fmt: skip
    # A node costs its GPUs at that price: three's g6.12xlarge has a fourth GPU, billed too.
    (whole,) = [line for line in report.lines if line.model == "(whole nodes)"]
    assert (whole.floor, whole.ceiling) == (0.0, 1.0 * HOURS_PER_MONTH)


# Whole nodes (issue #20) -----------------------------------------------------------------


def _plan(accelerator: str) -> PoolPlan:
    return PoolPlan(
        name="p",
        accelerator=catalog().accelerators[accelerator],
        declared=True,
        capacity_type="on-demand",
        demand=(),
        max_gpus=None,
        instance_types=(),
        labels={},
        node_class=None,
    )


A3_8G = Machine("a3-highgpu-8g", 8, 208, 1872, A3_HIGH_8G)


def _replica(units: int, cpu: float, memory_gib: float = 8) -> Replica:
    return Replica("m", "d", 0, units, cpu, int(memory_gib * 2**30))


@pytest.mark.parametrize(
    ("shapes", "nodes"),
    [
        ([(_replica(1, 8), 6)], 1),  # 6 of 8 GPUs on one node
        ([(_replica(1, 8), 9)], 2),
        ([(_replica(1, 100), 3)], 2),  # 100 CPUs: two a node (207 allocatable)
        ([(_replica(4, 8), 1), (_replica(1, 8), 4)], 1),  # the small ones fill the big one's node
        ([(_replica(4, 8), 1), (_replica(1, 8), 5)], 2),
        ([(_replica(4, 8), 3), (_replica(3, 8), 2)], 3),  # 4+3 | 4+3 | 4
        ([(_replica(9, 8), 1)], 0),  # fits no node: compiling the pool reports it
        ([], 0),
    ],
)
def test_whole_nodes_pack_replicas_first_fit_decreasing(
    shapes: list[tuple[Replica, int]], nodes: int
) -> None:
    assert nodes_needed(_plan("H100"), A3_8G, shapes) == nodes


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 8), st.sampled_from([0.5, 1, 8, 30, 70, 110]), st.integers(0, 40)),
        max_size=5,
    )
)
def test_whole_nodes_are_no_fewer_than_the_resources_need_nor_more_than_apart(
    shapes: list[tuple[int, float, int]],
) -> None:
    """Between the least any packing needs (by GPUs, by CPU) and packing each shape on
    nodes of its own."""
    plan = _plan("H100")
    replicas = [(_replica(units, cpu), count) for units, cpu, count in shapes]
    found = nodes_needed(plan, A3_8G, replicas)
    fitting = [(r, c) for r, c in replicas if per_node(plan, A3_8G, r) >= 1]
    cpu = allocatable(A3_8G)[0]
    assert cpu is not None
    least = max(
        math.ceil(sum(r.units * c for r, c in fitting) / 8),
        math.ceil(sum(r.cpu * c for r, c in fitting) / cpu),
    )
    apart = sum(math.ceil(c / per_node(plan, A3_8G, r)) for r, c in fitting)
    assert least <= found <= apart


_SHAPES = st.tuples(
    st.sampled_from(["H100", "H100:2", "H100:4", "L4", "L4:2", "H100_40GB"]),
    st.sampled_from(["1", "8", "30", "100"]),
    st.sampled_from(["2Gi", "64Gi", "300Gi"]),
    st.integers(0, 5),
    st.integers(0, 12),
)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["gke", "karpenter", "existing"]),
    st.lists(_SHAPES, min_size=1, max_size=4),
    st.booleans(),
)
def test_whole_nodes_cost_at_least_the_lines_and_every_total_agrees(
    tmp_path_factory: pytest.TempPathFactory,
    provisioner: str,
    shapes: list[tuple[str, str, str, int, int]],
    priced: bool,
) -> None:
    """For any stack: the nodes a pool is billed for cost at least its replicas' lines (the
    `(whole nodes)` line is never negative without a `max_gpus` cap), and `iac cost`'s
    totals are `iac plan`'s and the budget rule's."""
    from iac.diff.plan import make_plan
    from iac.policy import pricing_context

    gke = ", gke: {cluster: c, location: us-central1}" if provisioner == "gke" else ""
    models = "".join(
        f"  m{i}:\n    image: org/m:1\n"
        f'    resources: {{accelerator: "{kind}", cpu: "{cpu}", memory: {memory}}}\n'
        "    deployments: {v1: {}}\n"
        f"    environments:\n      production: {{deployment: v1, autoscaling: "
        f"{{min_replicas: {low}, max_replicas: {max(low, high, 1)}}}}}\n"
        for i, (kind, cpu, memory, low, high) in enumerate(shapes)
    )
    pricing = "pricing: {gpu_hourly: {L4: 1.0}}\n" if priced else ""
    text = f"version: 1\ncluster: {{name: c, provisioner: {provisioner}{gke}}}\n{pricing}"
    path = tmp_path_factory.mktemp("stack") / "stack.yaml"
    path.write_text(text + "models:\n" + models)
    try:
        stack = check_stack(str(path))
        compiled = compile_stack(stack)
    except StackInvalid:
        return  # a replica no machine holds: a located error, covered elsewhere
    release = compiled.release
    for bill in whole_nodes(release, stack.spec.pricing):
        assert not bill.capped
        assert bill.unused[0] >= -0.01, bill
        assert bill.unused[1] >= -0.01, bill
    report = cost_report(release, stack.spec.pricing)
    lines = release_cost(release, stack.spec.pricing)
    assert report.floor == pytest.approx(sum(line.floor for line in lines))
    assert report.ceiling == pytest.approx(sum(line.ceiling for line in lines))
    plan = make_plan(None, compiled, None, stack.spec.pricing)
    assert plan.cost["head"]["ceiling"] == round(report.ceiling, 2)
    context = pricing_context(stack.spec.pricing, provisioner, release)
    assert context.ceilings is not None
    assert sum(context.ceilings().values()) == pytest.approx(report.ceiling)
    if provisioner == "existing":
        assert report.nodes == ()

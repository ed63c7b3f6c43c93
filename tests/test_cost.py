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


def test_totals_per_environment_are_the_plans(tmp_path: Path) -> None:
    report, stack = report_of(write(tmp_path))
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

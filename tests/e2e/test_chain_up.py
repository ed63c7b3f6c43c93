"""A chain's promotion through `iac up` on the real Pulumi engine (issue #27; the
Kubernetes provider rendering to a folder, local file backend): example 09's chain goes to
its new deployment in one rollout and ends at the head; a failed gate rolls every chainlet
back to what was live."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner

import iac.up
from iac.cli import cli
from iac.compile import compile_stack
from iac.validate import check_stack
from tests.support.render_project import render_project

if TYPE_CHECKING:
    from conftest import PulumiEngine

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "09-rag-chain" / "stack.yaml"
STACK = "dev"
GATE = "gates: [{name: errors, query: 'err{model=\"$model\"}', max: 0.05}]"


@pytest.fixture
def project(tmp_path: Path, pulumi_engine: PulumiEngine, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Example 09 with a gate on production's promotion, rendering to `rendered/`."""
    for key, value in pulumi_engine.env.items():
        monkeypatch.setenv(key, value)
    text = EXAMPLE.read_text().replace("../../modules/", "../modules/")
    text = text.replace("cleanup: scale_to_zero}", f"cleanup: scale_to_zero, {GATE}}}")
    assert GATE in text
    directory = render_project(tmp_path, pulumi_engine, text, STACK, program=False)
    shutil.copytree(ROOT / "modules", directory / "modules")
    return directory


def stack_file(project: Path) -> Path:
    return project / "stacks" / f"{STACK}.yaml"


def up(project: Path) -> Any:
    args = ["up", str(stack_file(project)), "--stack", STACK, "--project-dir", str(project)]
    return CliRunner().invoke(cli, [*args, "--yes"])


def lifecycle(project: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, [args[0], str(stack_file(project)), *args[1:]])
    assert result.exit_code == 0, result.output


def rendered(project: Path) -> list[tuple[str, str]]:
    objects = [yaml.safe_load(p.read_text()) for p in (project / "rendered").rglob("*.yaml")]
    return sorted(map(comparable, objects))


def compiled(text: str, project: Path) -> list[tuple[str, str]]:
    """What `iac render` prints for a stack text, read beside the project's stack."""
    path = project / "stacks" / "check.yaml"
    path.write_text(text)
    try:
        return sorted(map(comparable, compile_stack(check_stack(str(path))).objects))
    finally:
        path.unlink()


def comparable(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return (
        f"{obj['apiVersion']}/{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}",
        json.dumps(obj, sort_keys=True),
    )


def gate_reads(monkeypatch: pytest.MonkeyPatch, value: float) -> list[str]:
    """Every gate reads `value` (no Prometheus in the test); the queries read."""
    queries: list[str] = []

    def reader(server: str) -> Any:
        return lambda query: queries.append(query) or value

    monkeypatch.setattr(iac.up, "prometheus_reader", reader)
    return queries


@pytest.mark.e2e
def test_a_chain_promotion_goes_up_as_one_and_a_failed_gate_rolls_it_all_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = up(project)
    assert first.exit_code == 0, first.output + first.stderr
    live = stack_file(project).read_text()
    assert rendered(project) == compiled(live, project)

    # v2 serves staging: production gets a copy of it, every chainlet at once.
    lifecycle(project, "promote", "rag", "v2", "--to", "production", "--copy")
    queries = gate_reads(monkeypatch, 0.01)
    result = up(project)
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip().endswith("done")
    stages = [line for line in result.stderr.splitlines() if line.startswith("stage ")]
    assert stages == [
        "stage 1/3: chain rag/production: 0% to v2-production (rag-router 2 replicas, v1 2; "
        "rag-embedder 1 replicas, v1 1; rag-llm 1 replicas, v1 1)",
        "stage 2/3: chain rag/production: 100% to v2-production (rag-router 2 replicas, v1 2; "
        "rag-embedder 1 replicas, v1 1; rag-llm 1 replicas, v1 1)",
        "stage 3/3: chain rag/production: v1 scale to zero",
    ]
    assert queries == ['err{model="rag-router"}']  # once, after the switch
    promoted = stack_file(project).read_text()
    assert rendered(project) == compiled(promoted, project)

    # Back to v1, and the gate fails after the switch: the whole chain returns to v2-production.
    lifecycle(project, "promote", "rag", "v1", "--to", "production")
    gate_reads(monkeypatch, 0.5)
    failed = up(project)
    assert failed.exit_code == 1, failed.output + failed.stderr
    assert "stage 2 failed: gate errors: 0.5 is above 0.05" in failed.stderr
    assert "rolling back to the last good release" in failed.stderr
    assert failed.stdout.strip().endswith("rolled-back: gate errors: 0.5 is above 0.05")
    assert rendered(project) == compiled(promoted, project)

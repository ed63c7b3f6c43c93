"""A stack of two models on one domain, and `iac up` of it against a live cluster, for the
live tests of `iac status` and of drift (issue #22, items 6 and 8).

`llama` has production (v2, 2..4 replicas), staging (v3) and a deactivated v1; `mistral`
splits production 90/10 between v1 and v2.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from iac.cli import cli
from iac.compile import Compiled, compile_stack
from iac.validate import check_stack
from tests.e2e.live_project import live_project
from tests.live.cluster import REPO_ROOT, LiveCluster, nodes_for
from tests.live.prerequisites import stack_prerequisites

if TYPE_CHECKING:
    from conftest import PulumiEngine

STACK = "dev"
STACK_TEXT = """\
version: 1
imports: [../modules/vllm.yaml]
cluster: {name: live, namespace: models, domain: models.example.com}
models:
  llama:
    template: vllm
    params: {hf_model: meta-llama/Meta-Llama-3-8B-Instruct}
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments:
      v1: {state: inactive}
      v2: {}
      v3: {}
    environments:
      production:
        deployment: v2
        autoscaling: {min_replicas: 2, max_replicas: 4}
      staging:
        deployment: v3
        autoscaling: {min_replicas: 1, max_replicas: 2}
  mistral:
    template: vllm
    params: {hf_model: mistralai/Mistral-7B-Instruct-v0.3}
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments:
      v1: {}
      v2: {}
    environments:
      production:
        traffic: {v1: 90, v2: 10}
        autoscaling: {min_replicas: 2, max_replicas: 6}
auth: {public: true}
"""


def write_stack(directory: Path) -> Path:
    """The stack file (and the module it imports) under `directory`."""
    (directory / "modules").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "modules" / "vllm.yaml", directory / "modules" / "vllm.yaml")
    (directory / "stacks").mkdir()
    stack_file = directory / "stacks" / "live.yaml"
    stack_file.write_text(STACK_TEXT, encoding="utf-8")
    return stack_file


def use_engine_and_kubectl(
    monkeypatch: pytest.MonkeyPatch, engine: PulumiEngine, control_plane_bin: Path
) -> None:
    """The CLI in this process drives the engine (Automation API) and kubectl, as a user's
    shell would: the engine's environment, the control plane's kubectl on PATH."""
    for key, value in engine.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{control_plane_bin}:{engine.env['PATH']}")


def prepare(engine: PulumiEngine, cluster: LiveCluster, work: Path) -> tuple[Path, Path, Compiled]:
    """The stack file, its Pulumi project and its compile, with what the cluster needs
    before `iac up` (Gateway, Secrets, GPU nodes) created."""
    stack_file = write_stack(work / "src")
    project = live_project(engine, cluster, stack_file, work / "project", STACK)
    compiled = compile_stack(check_stack(str(stack_file)))
    cluster.apply(stack_prerequisites(compiled.objects))
    cluster.apply(nodes_for(compiled.objects, prefix="live"))
    return stack_file, project, compiled


def iac(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def iac_up(stack_file: Path, project: Path) -> Result:
    return iac("up", str(stack_file), "--stack", STACK, "--project-dir", str(project), "--yes")

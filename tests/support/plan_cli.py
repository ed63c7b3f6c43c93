"""`iac plan` run through the command line as users run it, and the base stack the plan tests
change: one model with an inactive, a serving and a staged deployment, and one to remove."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from iac.cli import cli
from tests.support.stacks import write_stack

BASE = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, provisioner: karpenter, domain: models.example.com}
auth: {key_sets: {clients: [model-api-keys]}, api_keys: [clients]}  # (policies are tested apart)
policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}
models:
  llama:
    template: vllm
    params: {hf_model: org/llama}
    resources: {accelerator: H100}
    deployments:
      v2: {state: inactive}
      v3: {}
      v4: {image: vllm/vllm-openai:v0.7.0}
    environments:
      production:
        deployment: v3
        autoscaling: {min_replicas: 2, max_replicas: 4}
        promotion: {strategy: rolling, max_surge_percent: 50, stabilization: 5m}
      staging: {deployment: v4}
  old:
    image: x
    deployments: {v1: {}}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write stack `text` as `name` in `tmp_path`; its path as `iac` takes it."""
    return str(write_stack(tmp_path, text, name))


def plan(tmp_path: Path, base: str, head: str, *args: str) -> Result:
    """`iac plan HEAD --base BASE ARGS...` of two stack texts."""
    base_path = write(tmp_path, "base.yaml", base)
    head_path = write(tmp_path, "head.yaml", head)
    return CliRunner().invoke(cli, ["plan", head_path, "--base", base_path, *args])


def plan_json(tmp_path: Path, base: str, head: str) -> dict[str, Any]:
    """The JSON plan of two stack texts; the command must not have failed."""
    result = plan(tmp_path, base, head, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)

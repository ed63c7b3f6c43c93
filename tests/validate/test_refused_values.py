"""Refused before apply, in every command that reads the stack (issue #21, item 1): what the
bad-input corpus (tests/cases/invalid) cannot show, since its cases only print errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

from click.testing import CliRunner

from iac.cli import cli
from tests.support.compile_helpers import compile_text, find

ROOT = Path(__file__).resolve().parents[2]

CREDENTIAL = """\
version: 1
cluster: {name: c}
POLICIES
models:
  chat:
    image: vllm/vllm-openai:v0.6.3
    resources: {cpu: 4, memory: 16Gi}
    env: {HF_TOKEN: hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345678}
    deployments: {v1: {}, v2: {}}
    environments: {production: {deployment: v1}}
auth: {public: true}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_credential_inline_is_never_rendered(tmp_path: Path) -> None:
    path = write(tmp_path, CREDENTIAL.replace("POLICIES\n", ""))
    for command in (["validate"], ["render"], ["render", "--format", "json"], ["cost"]):
        result = CliRunner().invoke(cli, [*command, str(path)])
        assert result.exit_code == 1, command
        assert "hf_aBcDeF" not in result.stdout
        assert "error: models.chat.env.HF_TOKEN: `HF_TOKEN` holds a Hugging Face token" in (
            result.stderr
        )
        assert "`secrets: [hf-token]`" in result.stderr


def test_a_waiver_accepts_it_with_its_reason(tmp_path: Path) -> None:
    waiver = "policies: {waivers: [{rule: secret-in-env, deployment: v1, reason: public demo}]}"
    path = write(tmp_path, CREDENTIAL.replace("POLICIES", waiver))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    # Waived for v1 only: v2 inherits the same value, unwaived.
    assert result.exit_code == 1
    assert f"{path}:8:21: info: models.chat.env.HF_TOKEN: waived (public demo)" in result.stderr
    assert f"{path}:8:21: error: models.chat.env.HF_TOKEN: `HF_TOKEN` holds" in result.stderr
    for scope in ("model: chat", "environment: production, deployment: v1"):
        path.write_text(CREDENTIAL.replace("POLICIES", waiver.replace("deployment: v1", scope)))
        if scope.startswith("environment"):  # v2 serves no environment: still an error
            assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 1
            continue
        result = CliRunner().invoke(cli, ["validate", str(path)])
        assert result.exit_code == 0, result.stderr
        assert "info: models.chat.env.HF_TOKEN: waived (public demo)" in result.stderr


def test_a_derived_pool_is_named_as_iac_cost_shows_it(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, provisioner: karpenter}
        node_pools:
          h100: {accelerator: H100}
        models:
          embed:
            image: org/embed:1
            resources: {accelerator: L4, cpu: "4", memory: 16Gi, node_pool: gpu-l4}
            deployments: {v1: {}}
        auth: {public: true}
        """,
    )
    pool = find(compiled, "NodePool", "gpu-l4")
    assert pool["spec"]["template"]["metadata"]["labels"]["iac.dev/node-pool"] == "gpu-l4"
    selector = find(compiled, "Deployment", "embed-v1")["spec"]["template"]["spec"]["nodeSelector"]
    assert selector["iac.dev/node-pool"] == "gpu-l4"
    cost = CliRunner().invoke(cli, ["cost", str(tmp_path / "stack.yaml")])
    assert cost.exit_code == 0
    assert "gpu-l4" in cost.stdout


def test_maxima_no_cluster_can_run_are_said_where_cost_counts_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, provisioner: karpenter}
        models:
          chat:
            image: org/chat:1
            resources: {accelerator: L4, cpu: "4", memory: 16Gi}
            deployments: {v1: {}}
            environments:
              production: {deployment: v1, autoscaling: {max_replicas: 2000000000}}
        auth: {public: true}
        """,
    )
    result = CliRunner().invoke(cli, ["cost", str(path)])
    assert result.exit_code == 0
    assert result.stderr == (
        f"{path}:9:64: warning: models.chat.environments.production.autoscaling.max_replicas: "
        "chat/v1 may scale to 2,000,000,000 replicas, but a Kubernetes cluster is built for "
        "at most 150,000 pods: the ceilings `iac cost` shows count replicas that can never "
        "run. Lower max_replicas, or split the stack over clusters [max-replicas-unreachable]\n"
    )
    path.write_text(path.read_text().replace("2000000000", "1000000000000"))
    result = CliRunner().invoke(cli, ["cost", str(path)])
    assert result.exit_code == 1
    assert "1000000000000 is too large: at most 2,147,483,647" in result.stderr
    assert result.stdout == ""


def test_a_rolling_promotions_overhead_is_bounded_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          a:
            image: org/a:1
            resources: {cpu: "4", memory: 16Gi}
            deployments: {v1: {}}
            environments:
              p:
                deployment: v1
                autoscaling: {min_replicas: 1000000000, max_replicas: 1000000000}
                promotion: {strategy: rolling, replica_overhead_percent: 300}
        auth: {public: true}
        """,
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert (
        f"{path}:12:66: error: models.a.environments.p.promotion.replica_overhead_percent: a "
        "rolling promotion first scales the previous deployment to 4,000,000,000 replicas "
        "(min_replicas 1,000,000,000 plus 300 %), past the 2,147,483,647 its ScaledObject "
        "holds: lower the overhead or min_replicas\n"
    ) in result.stderr


def test_a_placeholder_a_later_level_replaces_is_not_reported(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        imports: [MODULES/vllm.yaml]
        cluster: {name: c}
        models:
          llama:
            template: vllm
            params: {hf_model: org/llama}
            args: ["--model=${hf_modle}"]
            deployments:
              v1: {args: ["--model=${hf_model}", "--served-model-name=${hf_model}"]}
        auth: {public: true}
        """,
    )
    container = find(compiled, "Deployment", "llama-v1")["spec"]["template"]["spec"]["containers"]
    assert container[0]["args"] == ["--model=org/llama", "--served-model-name=org/llama"]

"""`iac cost` of a chain (issue #27): its chainlets' lines grouped under the chain, per
environment, with the chain's total, in text, markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.cost_report import cost_report, to_markdown, to_text
from iac.validate import check_stack
from tests.support.stacks import write_stack

STACK = """\
version: 1
cluster: {name: c, provisioner: existing}
node_pools:
  big: {accelerator: H100}
pricing:
  gpu_hourly: {H100: 4.0, L4: 1.0}
auth: {public: true}
models:
  solo:
    image: org/solo:1
    resources: {accelerator: L4}
    deployments: {v1: {}}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 2}}
chains:
  qa:
    entrypoint: front
    chainlets:
      front: {image: org/front:1, calls: [llm, embed]}
      embed:
        image: org/embed:1
        resources: {accelerator: L4}
        autoscaling: {min_replicas: 0, max_replicas: 2}
      llm: {image: org/llm:1, resources: {accelerator: "H100:2"}}
    deployments:
      v1: {}
      v2: {chainlets: {llm: {image: org/llm:2}}}
      v3: {state: inactive}
      dev: {kind: development}
    environments:
      production:
        deployment: v1
        autoscaling: {llm: {min_replicas: 1, max_replicas: 3}}
      staging:
        deployment: v2
"""


def _report(tmp_path: Path, text: str = STACK):  # type: ignore[no-untyped-def]
    path = str(write_stack(tmp_path, text))
    stack = check_stack(path)
    return path, cost_report(compile_stack(stack).release, stack.spec.pricing)


def test_text_groups_a_chains_lines_per_environment_with_its_total(tmp_path: Path) -> None:
    # llm: 2 × $4 an hour, production 1..3, staging 0..1; embed $1, 0..2 in environments;
    # front on CPU (no price); the development deployment (0..1 each) serves none: `(none)`.
    path, report = _report(tmp_path)
    text = to_text(path, report)
    section = text[text.index("by chain") : text.index("by node pool")]
    assert section == (
        "by chain\n"
        "  qa (entrypoint front)  floor     $5,840  ceiling    $32,850\n"
        "    qa / (none)          floor         $0  ceiling     $6,570\n"
        "      qa-embed           floor         $0  ceiling       $730\n"
        "      qa-front           floor         $0  ceiling         $0\n"
        "      qa-llm             floor         $0  ceiling     $5,840\n"
        "    qa / production      floor     $5,840  ceiling    $18,980\n"
        "      qa-embed           floor         $0  ceiling     $1,460\n"
        "      qa-front           floor         $0  ceiling         $0\n"
        "      qa-llm             floor     $5,840  ceiling    $17,520\n"
        "    qa / staging         floor         $0  ceiling     $7,300\n"
        "      qa-embed           floor         $0  ceiling     $1,460\n"
        "      qa-front           floor         $0  ceiling         $0\n"
        "      qa-llm             floor         $0  ceiling     $5,840\n"
        "\n"
    )
    # The model outside the chain is in the stack's total, not the chain's.
    assert "total: floor $6,570, ceiling $34,310" in text


def test_markdown_names_each_row_in_full(tmp_path: Path) -> None:
    path, report = _report(tmp_path)
    markdown = to_markdown(path, report)
    section = markdown[markdown.index("**By chain**") : markdown.index("**By node pool**")]
    assert section.splitlines()[2:7] == [
        "| chain / environment / chainlet | floor | ceiling |",
        "|---|---:|---:|",
        "| qa (entrypoint front) | $5,840 | $32,850 |",
        "| qa / (none) | $0 | $6,570 |",
        "| qa / (none) / qa-embed | $0 | $730 |",
    ]
    assert "| qa / production / qa-llm | $5,840 | $17,520 |" in section


def test_json_adds_chains_and_keeps_every_key(tmp_path: Path) -> None:
    path = str(write_stack(tmp_path, STACK))
    result = CliRunner().invoke(cli, ["cost", path, "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert list(found) == [
        "currency", "period", "cloud", "basis", "deployments", "environments", "node_pools",
        "total", "unpriced", "inactive_deployments", "whole_nodes", "chains",
    ]  # fmt: skip
    (chain,) = found["chains"]
    production = next(e for e in chain["environments"] if e["environment"] == "production")
    assert {k: v for k, v in chain.items() if k != "environments"} == {
        "chain": "qa",
        "entrypoint": "front",
        "floor": 5840.0,
        "ceiling": 32850.0,
    }
    assert [e["environment"] for e in chain["environments"]] == ["(none)", "production", "staging"]
    assert production == {
        "environment": "production",
        "floor": 5840.0,
        "ceiling": 18980.0,
        "chainlets": [
            {"chainlet": "embed", "model": "qa-embed", "floor": 0.0, "ceiling": 1460.0},
            {"chainlet": "front", "model": "qa-front", "floor": 0.0, "ceiling": 0.0},
            {"chainlet": "llm", "model": "qa-llm", "floor": 5840.0, "ceiling": 17520.0},
        ],
    }
    # The chain's lines are the models' lines, as before.
    llm = [d for d in found["deployments"] if d["model"] == "qa-llm"]
    assert [(d["environment"], d["floor"], d["ceiling"]) for d in llm] == [
        ("production", 5840.0, 17520.0), ("staging", 0.0, 5840.0), (None, 0.0, 5840.0),
    ]  # fmt: skip


def test_a_stack_without_chains_has_no_chain_section(tmp_path: Path) -> None:
    text = STACK[: STACK.index("chains:")]
    path, report = _report(tmp_path, text)
    assert "by chain" not in to_text(path, report)
    assert "By chain" not in to_markdown(path, report)
    assert report.to_dict()["chains"] == []

"""`iac plan` of a chain's promotion says everything of the chain once, in its words: its
endpoints under its name, its cost grouped by chain, each chainlet's replicas in the
rollout's steps, findings naming the chain and chainlet at the chain's lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from iac.cli import cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "09-rag-chain" / "stack.yaml"


def _promoted(tmp_path: Path) -> tuple[Path, Path]:
    """Example 09 (base), and a copy of it with v2 promoted to production by `iac promote`
    (`--copy`: v2 serves staging) (head)."""
    text = EXAMPLE.read_text().replace("../../modules/", str(EXAMPLE.parents[2] / "modules") + "/")
    base, head = tmp_path / "base.yaml", tmp_path / "head.yaml"
    base.write_text(text)
    head.write_text(text)
    promoted = CliRunner().invoke(
        cli, ["promote", str(head), "rag", "v2", "--to", "production", "--copy"]
    )
    assert promoted.exit_code == 0, promoted.output
    return base, head


def _plan(base: Path, head: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["plan", str(head), "--base", str(base), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(title) + 1
    return lines[start : lines.index("", start)]


def test_a_chains_endpoints_are_listed_once_under_its_name(tmp_path: Path) -> None:
    base, head = _promoted(tmp_path)
    assert _section(_plan(base, head), "Endpoints") == [
        "  + chain rag deployment v2-production: https://rag.models.example.com/deployments/v2-production/"
    ]
    found = json.loads(_plan(base, head, "--format", "json"))["endpoints"]
    assert found == {
        "added": [
            {
                "model": None,
                "chain": "rag",
                "deployment": "v2-production",
                "url": "https://rag.models.example.com/deployments/v2-production/",
            }
        ],
        "removed": [],
        "moved": [],
    }


def test_a_chains_cost_is_grouped_by_chain(tmp_path: Path) -> None:
    base, head = _promoted(tmp_path)
    text = _plan(base, head).splitlines()
    at = next(i for i, line in enumerate(text) if line.startswith("Cost per month:"))
    assert text[at : at + 6] == [
        "Cost per month: floor $5,022 → $5,022 (+$0), ceiling $30,821 → $38,698 (+$7,877)",
        "  chain rag: floor $5,022 → $5,022 (+$0), ceiling $30,821 → $38,698 (+$7,877)",
        "    rag / (none): floor $0 → $0 (+$0), ceiling $0 → $7,877 (+$7,877)",
        "      rag-embedder: floor $0 → $0 (+$0), ceiling $0 → $2,855 (+$2,855)",
        "      rag-llm: floor $0 → $0 (+$0), ceiling $0 → $5,022 (+$5,022)",
        "Objects: 16 to add, 21 to change, 1 to remove",
    ]
    cost: dict[str, Any] = json.loads(_plan(base, head, "--format", "json"))["cost"]
    # Every key the contract names is kept; each chainlet's line says its chain.
    assert set(cost) == {
        "currency",
        "period",
        "base",
        "head",
        "delta",
        "lines",
        "unpriced",
        "chains",
    }
    assert [(line["model"], line["chain"], line["chainlet"]) for line in cost["lines"]] == [
        ("rag-embedder", "rag", "embedder"),
        ("rag-llm", "rag", "llm"),
    ]
    none = {"floor": 0, "ceiling": 0}
    assert cost["chains"] == [
        {
            "chain": "rag",
            "entrypoint": "router",
            "base": {"floor": 5022.4, "ceiling": 30821.18},
            "head": {"floor": 5022.4, "ceiling": 38698.18},
            "environments": [
                {
                    "environment": None,
                    "base": none,
                    "head": {"floor": 0.0, "ceiling": 7876.99},
                    "chainlets": [
                        {"chainlet": "embedder", "model": "rag-embedder", "base": none,
                         "head": {"floor": 0.0, "ceiling": 2854.59}},
                        {"chainlet": "llm", "model": "rag-llm", "base": none,
                         "head": {"floor": 0.0, "ceiling": 5022.4}},
                    ],
                }
            ],
        }
    ]  # fmt: skip
    markdown = _plan(base, head, "--format", "markdown")
    assert (
        "By chain:\n\n"
        "- chain rag: floor $5,022 → $5,022 (+$0), ceiling $30,821 → $38,698 (+$7,877)\n"
        "  - rag / (none): floor $0 → $0 (+$0), ceiling $0 → $7,877 (+$7,877)\n"
        "    - rag-embedder: floor $0 → $0 (+$0), ceiling $0 → $2,855 (+$2,855)\n"
        "    - rag-llm: floor $0 → $0 (+$0), ceiling $0 → $5,022 (+$5,022)\n"
    ) in markdown


def test_a_chain_rollouts_steps_show_every_chainlets_replicas(tmp_path: Path) -> None:
    base, head = _promoted(tmp_path)
    markdown = _plan(base, head, "--format", "markdown")
    table = markdown[markdown.index("| step |") :].split("\n\n")[0]
    assert table.splitlines() == [
        "| step | chainlet | previous | candidate | ready | traffic to candidate | wait |",
        "|---|---|---:|---:|---:|---:|---:|",
        "| scale-up | router | 2 | 2 | 2 | 0% | 0s |",
        "| scale-up | embedder | 1 | 1 | 1 | 0% | 0s |",
        "| scale-up | llm | 1 | 1 | 1 | 0% | 0s |",
        "| shift | router | 2 | 2 | 4 | 100% | 0s |",
        "| shift | embedder | 1 | 1 | 2 | 100% | 0s |",
        "| shift | llm | 1 | 1 | 2 | 100% | 0s |",
        "| cleanup | router | 0 | 2 | 2 | 100% | 0s |",
        "| cleanup | embedder | 0 | 1 | 1 | 100% | 0s |",
        "| cleanup | llm | 0 | 1 | 1 | 100% | 0s |",
    ]


def test_findings_name_the_chain_and_chainlet_at_the_chains_lines(tmp_path: Path) -> None:
    base, head = _promoted(tmp_path)
    assert _section(_plan(base, head), "Findings") == [
        "  warning production-min-zero (chain rag, chainlet embedder): "
        f"{head}:46:37: chains.rag.chainlets.embedder.autoscaling.min_replicas: production of "
        "chain rag may scale to zero at chainlet embedder: a request that calls it after an "
        "idle spell waits for its cold start. Set `min_replicas: 1` or more in "
        "`chains.rag.environments.production.autoscaling.embedder` (Baseten recommends 2)",
        # Said alike of each chainlet: said once, of the chain.
        "  info    promote-new-deployment (chain rag): v2-production is new in this change and "
        "has never been ready: the rollout waits for it before moving production's traffic",
    ]
    found = json.loads(_plan(base, head, "--format", "json"))["findings"]
    assert [(f["id"], f.get("model"), f["chain"], f.get("chainlet")) for f in found] == [
        ("production-min-zero", "rag-embedder", "rag", "embedder"),
        ("promote-new-deployment", None, "rag", None),
    ]


QA = """\
version: 1
cluster: {name: c1, domain: models.example.com}
auth: {public: true}
chains:
  qa:
    entrypoint: front
    chainlets:
      front: {image: ghcr.io/example/qa-front:1.0.0, calls: [llm]}
      llm: {image: vllm/vllm-openai:v0.8.5, resources: {cpu: "4", memory: 16Gi}}
    deployments: {v1: {}}
    environments: {production: {deployment: v1, autoscaling: {front: {min_replicas: 1}}}}
"""


def test_a_chains_moved_endpoint_and_its_chainlets_policy_finding_name_it(tmp_path: Path) -> None:
    base, head = tmp_path / "base.yaml", tmp_path / "head.yaml"
    base.write_text(QA)
    head.write_text(
        QA.replace(
            "    entrypoint: front\n", "    entrypoint: front\n    hostname: qa.example.com\n"
        )
    )
    found = json.loads(_plan(base, head, "--format", "json"))["findings"]
    said = {(f["id"], f.get("chainlet")): f for f in found}
    moved = said[("endpoint-moved", None)]
    assert (moved.get("model"), moved["chain"], moved["message"]) == (
        None,
        "qa",
        "the production endpoint of chain qa moves from "
        "https://qa.models.example.com/environments/production/ to "
        "https://qa.example.com/environments/production/: the old URL stops answering once "
        "this is applied; update the clients, or keep the old URL (`cluster.endpoints`, the "
        "chain's `hostname`)",
    )
    declared = said[("resources-declared", "front")]
    assert (declared["model"], declared["chain"], declared["message"]) == (
        "qa-front",
        "qa",
        f"{head}:9:7: chains.qa.chainlets.front: chainlet 'front' of chain 'qa': v1 declares "
        "no cpu or memory: the defaults (1 CPU, 2Gi) rarely fit a model server; set "
        "resources.cpu and resources.memory",
    )

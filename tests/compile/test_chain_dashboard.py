"""A chain's Grafana dashboard (issue #27): one per chain, a row per chainlet with the
panels its model's dashboard would have, instead of one dashboard per chainlet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iac.compile.monitoring.model_dashboard import dashboard, dashboard_shape, model_panels
from iac.errors import StackInvalid
from tests.support.compile_helpers import compile_text

STACK = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c1, namespace: serving}
auth: {public: true}
models:
  solo:
    image: org/solo:1
    deployments: {v1: {}}
    environments: {production: {deployment: v1}}
chains:
  qa:
    entrypoint: front
    chainlets:
      front: {image: org/front:1, calls: [llm, embed]}
      embed: {image: org/embed:1, calls: [cache]}
      cache: {image: org/cache:1}
      llm:
        template: vllm
        params: {hf_model: org/llm}
        resources: {accelerator: L4}
      spare: {image: org/spare:1}
    deployments:
      v1: {}
      v2: {}
      v3: {state: inactive}
    environments:
      production: {deployment: v1}
      staging: {deployment: v2}
"""


def _config_maps(tmp_path: Path, text: str = STACK) -> dict[str, dict[str, Any]]:
    compiled = compile_text(tmp_path, text)
    return {o["metadata"]["name"]: o for o in compiled.objects if o["kind"] == "ConfigMap"}


def test_one_dashboard_per_chain_and_none_per_chainlet(tmp_path: Path) -> None:
    config_maps = _config_maps(tmp_path)
    assert sorted(config_maps) == ["iac-chain-qa-dashboard", "solo-dashboard"]
    board = config_maps["iac-chain-qa-dashboard"]
    assert board["metadata"] == {
        "name": "iac-chain-qa-dashboard",
        "namespace": "serving",
        "labels": {
            "app.kubernetes.io/managed-by": "iac",
            "iac.dev/chain": "qa",
            "app.kubernetes.io/component": "monitoring",
            "grafana_dashboard": "1",
        },
    }
    assert list(board["data"]) == ["chain-qa.json"]


def test_a_row_per_chainlet_from_the_entrypoint_along_its_calls(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, STACK)
    (config_map,) = [
        o for o in compiled.objects if o["metadata"]["name"] == "iac-chain-qa-dashboard"
    ]
    board = json.loads(config_map["data"]["chain-qa.json"])
    assert (board["uid"], board["title"], board["tags"]) == (
        "iac-c1-chain-qa", "Chain qa (c1)", ["iac", "chain", "qa"],
    )  # fmt: skip
    rows = [(p["id"], p["title"], p["gridPos"]["y"]) for p in board["panels"] if p["type"] == "row"]
    # Breadth first from the entrypoint, in each chainlet's order of calls; then the rest.
    assert rows == [
        (1, "front (model qa-front): the entrypoint, calls llm, embed", 0),
        (3, "llm (model qa-llm)", 9),
        (12, "embed (model qa-embed): calls cache", 42),
        (14, "cache (model qa-cache)", 51),
        (16, "spare (model qa-spare)", 60),
    ]
    # Under each row, its chainlet's panels as its model's dashboard has them, two a line.
    llm = compiled.release.models["qa-llm"]
    shape = dashboard_shape(llm, "c1", "serving")
    own = dashboard(llm, "c1", "serving")["panels"]
    under = board["panels"][3:11]
    assert [p["title"] for p in under] == [p.title for p in model_panels(shape, "qa-llm")]
    assert [p["targets"] for p in under] == [p["targets"] for p in own]
    assert [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in under] == [
        (0, 10), (12, 10), (0, 18), (12, 18), (0, 26), (12, 26), (0, 34), (12, 34),
    ]  # fmt: skip
    assert [v["query"] for v in board["templating"]["list"]] == ["prometheus", "production,staging"]


def test_promotions_of_the_chain_are_one_mark(tmp_path: Path) -> None:
    board = json.loads(_config_maps(tmp_path)["iac-chain-qa-dashboard"]["data"]["chain-qa.json"])
    promotions, rollouts = board["annotations"]["list"][1:]
    chain = 'namespace="serving",model=~"qa-cache|qa-embed|qa-front|qa-llm|qa-spare"'
    assert promotions["expr"] == (
        f"count by (environment, deployment) (iac:replicas_desired:sum{{{chain},"
        'environment=~"$environment",environment!=""}) unless count by (environment, '
        f'deployment) (iac:replicas_desired:sum{{{chain},environment!=""}} offset 5m)'
    )
    # Only active deployments' pods (v3 is inactive).
    workloads = "|".join(f"qa-{c}-{d}" for c in ("front", "llm", "embed", "cache", "spare")
                         for d in ("v1", "v2"))  # fmt: skip
    assert f"({workloads})-[a-z0-9]+" in rollouts["expr"]


def test_no_dashboard_for_a_chain_without_active_deployments_or_monitoring(
    tmp_path: Path,
) -> None:
    chain = STACK.index("    deployments:\n      v1: {}\n      v2")
    inactive = STACK[:chain] + "    deployments:\n      v1: {state: inactive}\n"
    assert sorted(_config_maps(tmp_path, inactive)) == ["solo-dashboard"]
    off = STACK.replace("namespace: serving}", "namespace: serving, monitoring: false}")
    assert _config_maps(tmp_path, off) == {}


def test_a_model_named_like_the_chains_dashboard_is_refused_where_it_is(tmp_path: Path) -> None:
    text = STACK.replace("  solo:", "  iac-chain-qa:")
    with pytest.raises(StackInvalid) as caught:
        compile_text(tmp_path, text)
    assert [str(e) for e in caught.value.diagnostics if e.severity == "error"] == [
        f"{tmp_path / 'stack.yaml'}:14:7: error: chains.qa.chainlets.front: objects of this "
        "model would be named 'iac-chain-qa-dashboard' (ConfigMap), like those of model "
        "'iac-chain-qa' (line 6); rename one"
    ]

"""Chains desugared by the loader: each chainlet is the model `<chain>-<chainlet>`, its
deployments and environments those of the chain, located where the chain writes them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.spec.resolved import ChainMember, ResolvedStack
from iac.validate import check_stack

STACK = """\
version: 1
cluster: {name: test, domain: models.example.com}
auth: {public: true}
chains:
  rag:
    entrypoint: router
    chainlets:
      router:
        image: example/router:1
        calls: [embedder, llm, llm]
      embedder:
        image: example/embedder:1
        autoscaling: {min_replicas: 0, max_replicas: 3}
      llm:
        image: vllm/vllm-openai:v0.6.3
        resources: {accelerator: "H100:1"}
    deployments:
      v1: {}
      v2:
        chainlets:
          llm: {image: vllm/vllm-openai:v0.7.0}
      dev: {kind: development, from: v2}
    environments:
      production:
        deployment: v1
        autoscaling:
          llm: {min_replicas: 1, max_replicas: 4}
      staging: {deployment: v2}
"""


def load(tmp_path: Path, text: str = STACK) -> ResolvedStack:
    path = tmp_path / "stack.yaml"
    path.write_text(textwrap.dedent(text))
    return check_stack(str(path))


def test_each_chainlet_is_a_model_with_the_chains_deployments(tmp_path: Path) -> None:
    stack = load(tmp_path)
    assert sorted(stack.models) == ["rag-embedder", "rag-llm", "rag-router"]
    assert stack.chainlet_models == {"rag-embedder", "rag-llm", "rag-router"}
    assert stack.written_models() == {}
    assert stack.chains["rag"].entrypoint == "router"
    router = stack.models["rag-router"]
    assert router.chain == ChainMember("rag", "router", True, ("embedder", "llm"))
    assert router.answers_as == "rag"
    llm = stack.models["rag-llm"]
    assert llm.chain is not None
    assert not llm.chain.entrypoint
    # The override applies to its chainlet only, and `from:` copies it.
    images = {d: llm.deployments[d].container.image for d in ("v1", "v2", "dev")}
    assert images == {
        "v1": "vllm/vllm-openai:v0.6.3",
        "v2": "vllm/vllm-openai:v0.7.0",
        "dev": "vllm/vllm-openai:v0.7.0",
    }
    assert stack.models["rag-router"].deployments["v2"].container.image == "example/router:1"
    # A development chain deployment: each chainlet at most one replica.
    dev = stack.models["rag-embedder"].deployments["dev"]
    assert (dev.kind, dev.autoscaling.min_replicas, dev.autoscaling.max_replicas) == (
        "development",
        0,
        1,
    )
    # Per-chainlet environment autoscaling, over the chainlet's own.
    production = llm.environments["production"]
    assert production.traffic == (("v1", 100),)
    assert (production.autoscaling.min_replicas, production.autoscaling.max_replicas) == (1, 4)
    embedder = stack.models["rag-embedder"].environments["production"].autoscaling
    assert (embedder.min_replicas, embedder.max_replicas) == (0, 3)


def test_chainlet_settings_are_located_where_the_chain_writes_them(tmp_path: Path) -> None:
    stack = load(tmp_path)
    llm = stack.models["rag-llm"]
    assert llm.origins.path() == ("chains", "rag", "chainlets", "llm")
    v2 = llm.deployments["v2"]
    assert v2.origins.path(("image",)) == (
        "chains", "rag", "deployments", "v2", "chainlets", "llm", "image",
    )  # fmt: skip
    assert v2.origins(("image",)).line == 21
    assert llm.deployments["dev"].origins.path(("kind",)) == (
        "chains", "rag", "deployments", "dev", "kind",
    )  # fmt: skip
    scaling = llm.environments["production"].origins
    assert scaling.path(("autoscaling", "max_replicas")) == (
        "chains", "rag", "environments", "production", "autoscaling", "llm", "max_replicas",
    )  # fmt: skip
    assert scaling(("autoscaling", "max_replicas")).line == 27


def test_a_chainlet_error_is_located_in_the_chain(tmp_path: Path) -> None:
    text = STACK.replace("llm: {min_replicas: 1, max_replicas: 4}", "llm: {min_replicas: 5}")
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    diagnostics = Diagnostics()
    with pytest.raises(StackInvalid):
        check_stack(str(path), diagnostics)
    messages = [str(d) for d in diagnostics.errors]
    assert len(messages) == 1, messages
    assert "chains.rag.environments.production.autoscaling.llm.min_replicas" in messages[0]

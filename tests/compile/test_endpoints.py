"""Every model's endpoints are its own: host and path per model, and no two routes claiming
the same host and path in anything `iac render` writes (Gateway API would give such a match
to one route only: reference/data-plane.md)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from benchmarks.generate import large_stack
from iac.cli import cli
from iac.compile import compile_stack
from iac.spec.endpoints import ModelEndpoints, model_endpoints
from iac.spec.stack import Cluster
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT, compile_text

SOURCES = sorted((ROOT / "examples").glob("*/stack.yaml")) + sorted(
    (ROOT / "stacks").glob("*.yaml")
)


def claims(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(host, path) of every route rule's match; `*` for a route on any host."""
    found = []
    for obj in objects:
        if obj["kind"] != "HTTPRoute":
            continue
        hosts = obj["spec"].get("hostnames") or ["*"]
        for rule in obj["spec"]["rules"]:
            for match in rule["matches"]:
                found += [(host, match["path"]["value"]) for host in hosts]
    return found


def repeated(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [pair for pair, count in Counter(pairs).items() if count > 1]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name + "/" + p.name)
def test_no_two_rules_of_a_render_claim_the_same_host_and_path(source: Path) -> None:
    result = CliRunner().invoke(cli, ["render", str(source), "--format", "json"])
    assert result.exit_code == 0, result.output
    objects = json.loads(result.stdout)["items"]
    found = claims(objects)
    assert found
    assert repeated(found) == []


def test_a_generated_1000_model_stack_claims_each_host_and_path_once(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(large_stack(1000))
    objects = compile_stack(check_stack(str(path))).objects
    found = claims(objects)
    assert len(found) == 1000 * (2 + 3)  # two environments and three deployments a model
    assert repeated(found) == []
    assert len({host for host, _ in found}) == 1000


def test_the_demo_puts_each_model_on_its_own_host() -> None:
    objects = compile_stack(check_stack(str(ROOT / "stacks" / "demo.yaml"))).objects
    assert sorted(set(claims(objects))) == [
        ("bge-large.models.example.com", "/deployments/v1"),
        ("bge-large.models.example.com", "/environments/production"),
        ("llama-3-8b.models.example.com", "/deployments/dev"),
        ("llama-3-8b.models.example.com", "/deployments/v3"),
        ("llama-3-8b.models.example.com", "/deployments/v4"),
        ("llama-3-8b.models.example.com", "/environments/production"),
        ("llama-3-8b.models.example.com", "/environments/staging"),
    ]


@pytest.mark.parametrize(
    ("cluster", "hostname", "expected"),
    [
        ({"domain": "models.example.com"}, None,
         ModelEndpoints("chat.models.example.com", "")),
        ({"domain": "models.example.com", "endpoints": "path"}, None,
         ModelEndpoints("models.example.com", "/models/chat")),
        ({}, None, ModelEndpoints(None, "/models/chat")),
        ({"domain": "models.example.com"}, "chat.example.org",
         ModelEndpoints("chat.example.org", "")),
        ({"endpoints": "path"}, "chat.example.org", ModelEndpoints("chat.example.org", "")),
    ],
)  # fmt: skip
def test_where_a_model_answers(
    cluster: dict[str, str], hostname: str | None, expected: ModelEndpoints
) -> None:
    assert model_endpoints(Cluster(name="c", **cluster), "chat", hostname) == expected  # type: ignore[arg-type]


def test_urls_of_endpoints() -> None:
    on_host = ModelEndpoints("chat.models.example.com", "")
    assert on_host.environment_url("production") == (
        "https://chat.models.example.com/environments/production/"
    )
    assert on_host.deployment_url("v1") == "https://chat.models.example.com/deployments/v1/"
    shared = ModelEndpoints(None, "/models/chat")
    assert shared.environment_url("staging") == "/models/chat/environments/staging/"


def test_path_style_routes_and_interceptor_hosts(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, domain: models.example.com, endpoints: path}
        models:
          chat:
            image: vllm/vllm-openai:v0.8.5
            deployments: {v1: {}}
            environments: {production: {deployment: v1}}
          embed:
            image: ghcr.io/huggingface/text-embeddings-inference:1.6
            hostname: embed.example.org
            deployments: {v1: {}}
            environments: {production: {deployment: v1}}
        auth: {public: true}
        """,
    )
    assert sorted(claims(compiled.objects)) == [
        ("embed.example.org", "/deployments/v1"),
        ("embed.example.org", "/environments/production"),
        ("models.example.com", "/models/chat/deployments/v1"),
        ("models.example.com", "/models/chat/environments/production"),
    ]
    hosts = {
        o["metadata"]["name"]: o["spec"]["rules"][0]["hosts"]
        for o in compiled.objects
        if o["kind"] == "InterceptorRoute"
    }
    # The interceptor matches the host the request arrives on: the model's.
    assert hosts == {"chat-v1": ["models.example.com"], "embed-v1": ["embed.example.org"]}

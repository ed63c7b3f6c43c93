"""Resource options from the declarations (issue #5): `protect` for what the stack marks
protected, aliases for renamed models and deployments (`previous_names`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iac.compile.options import ObjectOptions
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.validate import check_stack
from tests.support.compile_helpers import compile_text
from tests.support.program_helpers import run_program
from tests.support.stacks import write_stack

STACK = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, namespace: models}
models:
  chat:
    template: vllm
    params: {hf_model: org/chat}
    resources: {accelerator: H100, cpu: "8", memory: 64Gi}
    PROTECT
    PREVIOUS
    weights: {source: "hf://org/chat", cache: cluster, protect: true}
    deployments:
      v1: {}
      v2: {image: vllm/vllm-openai:v0.7.0 DEPLOYMENT_PREVIOUS}
    environments:
      production: {deployment: v1}
  embed:
    template: vllm
    params: {hf_model: org/embed}
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments: {v1: {}}
auth: {public: true}
"""


def stack(protect: str = "", previous: str = "", deployment_previous: str = "") -> str:
    return (
        STACK.replace(" DEPLOYMENT_PREVIOUS", deployment_previous)
        .replace("PROTECT", protect)
        .replace("PREVIOUS", previous)
    )


def test_a_protected_model_protects_every_object_of_it_and_only_those(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, stack(protect="protect: true"))
    chat = {
        f"{o['apiVersion']}/{o['kind']}/models/{o['metadata']['name']}"
        for o in compiled.objects
        if (o["metadata"].get("labels") or {}).get("iac.dev/model") == "chat"
    }
    assert len(chat) > 10  # workloads, scalers, route, monitors, dashboard, weights volume
    assert {oid for oid, opts in compiled.options.items() if opts.protect} == chat
    assert all(opts == ObjectOptions(protect=True) for opts in compiled.options.values())


def test_a_protected_weights_cache_protects_its_volume(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, stack())
    (claim,) = [o for o in compiled.objects if o["kind"] == "PersistentVolumeClaim"]
    name = claim["metadata"]["name"]
    assert compiled.options == {
        f"v1/PersistentVolumeClaim/models/{name}": ObjectOptions(protect=True)
    }


def test_a_renamed_model_aliases_each_object_to_its_old_one(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, stack(previous="previous_names: [llama]"))
    aliases = {oid: opts.aliases for oid, opts in compiled.options.items() if opts.aliases}
    assert aliases["apps/v1/Deployment/models/chat-v1"] == ("Deployment/models/llama-v1",)
    assert aliases["v1/Service/models/chat-v2"] == ("Service/models/llama-v2",)
    assert aliases["keda.sh/v1alpha1/ScaledObject/models/chat-v1"] == (
        "ScaledObject/models/llama-v1",
    )
    assert aliases["gateway.networking.k8s.io/v1/HTTPRoute/models/chat"] == (
        "HTTPRoute/models/llama",
    )
    # Every object of the model whose name changes has exactly one alias; the weights
    # volume is named by its source, not the model, and keeps its name.
    chat = [
        o
        for o in compiled.objects
        if (o["metadata"].get("labels") or {}).get("iac.dev/model") == "chat"
    ]
    renamed = [o for o in chat if o["kind"] != "PersistentVolumeClaim"]
    assert len(aliases) == len(renamed)
    assert compiled.model_aliases == {"chat": ("llama",)}
    embed = [oid for oid in compiled.options if "/embed" in oid]
    assert embed == []


def test_a_renamed_deployment_aliases_its_own_objects_only(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, stack(deployment_previous=", previous_names: [v1b]"))
    aliases = {oid: opts.aliases for oid, opts in compiled.options.items() if opts.aliases}
    assert aliases["apps/v1/Deployment/models/chat-v2"] == ("Deployment/models/chat-v1b",)
    assert aliases["v1/Service/models/chat-v2"] == ("Service/models/chat-v1b",)
    assert all("chat-v2" in oid for oid in aliases), sorted(aliases)
    assert compiled.model_aliases == {}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            {"previous": "previous_names: [embed]"},
            "10:22: error: models.chat.previous_names[0]: 'embed' is the name of a model in this "
            "stack; a previous name must be one no model has now (remove it here, or rename "
            "that model)",
        ),
        (
            {"previous": "previous_names: [llama, llama]"},
            "10:29: error: models.chat.previous_names[1]: 'llama' is listed twice",
        ),
        (
            {"deployment_previous": ", previous_names: [v1]"},
            "14:61: error: models.chat.deployments.v2.previous_names[0]: 'v1' is the name of a "
            "deployment of chat; a previous name must be one no deployment of the model has now",
        ),
    ],
)
def test_previous_names_in_use_are_refused(
    tmp_path: Path, edit: dict[str, str], expected: str
) -> None:
    path = write_stack(tmp_path, stack(**edit))
    with pytest.raises(StackInvalid) as invalid:
        check_stack(str(path), Diagnostics())
    assert [str(d).removeprefix(f"{path}:") for d in invalid.value.diagnostics] == [expected]


def named(alias_specs: list[dict[str, Any]]) -> list[str]:
    """The names of name aliases (the SDK adds type aliases of its own, e.g. for the older
    API versions of Deployment)."""
    return [a["spec"]["name"] for a in alias_specs if "name" in a["spec"]]


def test_the_program_registers_protect_and_aliases(tmp_path: Path) -> None:
    path = write_stack(tmp_path, stack(protect="protect: true", previous="previous_names: [llama]"))
    run = run_program(path)
    deployment = run.one("kubernetes:apps/v1:Deployment", "Deployment/models/chat-v1")
    assert deployment.protect is True
    assert named(deployment.alias_specs) == ["Deployment/models/llama-v1"]
    component = run.one("iac:serving:Model", "chat")
    assert named(component.alias_specs) == ["llama"]
    other = run.one("kubernetes:apps/v1:Deployment", "Deployment/models/embed-v1")
    assert other.protect is False
    assert named(other.alias_specs) == []

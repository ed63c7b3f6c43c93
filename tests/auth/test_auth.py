"""Issue #25: API keys per model and environment, enforced at the Gateway (docs/auth.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from iac.cli import cli
from iac.compile import Compiled
from tests.support.compile_helpers import compile_text
from tests.support.stacks import write_stack

STACK = """\
version: 1
cluster: {name: c, domain: models.example.com}
auth:
  key_sets:
    staff: [staff-keys]
    testers: [tester-keys]
  api_keys: [staff]
policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}
models:
  chat:
    image: vllm/vllm-openai:v0.6.3
    deployments: {v1: {}, v2: {}}
    environments:
      production: {deployment: v1}
      staging: {deployment: v2, auth: {api_keys: [staff, testers]}}
  demo:
    image: vllm/vllm-openai:v0.6.3
    auth: {public: true}
    deployments: {v1: {}}
    environments: {production: {deployment: v1}}
"""


def _policies(compiled: Compiled) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o["spec"] for o in compiled.objects if o["kind"] == "SecurityPolicy"
    }


def test_a_key_set_allowed_on_staging_only_compiles_to_policies_on_the_intended_rules(
    tmp_path: Path,
) -> None:
    compiled = compile_text(tmp_path, STACK)  # every object checked against its CRD
    policies = _policies(compiled)
    assert sorted(policies) == ["chat-keys-staff", "chat-keys-staff-testers"]
    sections = {
        name: [(t["name"], t["sectionName"]) for t in spec["targetRefs"]]
        for name, spec in policies.items()
    }
    assert sections == {
        "chat-keys-staff": [
            ("chat", "environment-production"),
            ("chat", "deployment-v1"),
            ("chat", "deployment-v2"),
        ],
        "chat-keys-staff-testers": [("chat", "environment-staging")],
    }
    secrets = {
        name: [r["name"] for r in spec["apiKeyAuth"]["credentialRefs"]]
        for name, spec in policies.items()
    }
    assert secrets == {
        "chat-keys-staff": ["staff-keys"],
        "chat-keys-staff-testers": ["staff-keys", "tester-keys"],
    }
    # The public model has no policy; every rule a policy targets exists on its route.
    rules = {
        (o["metadata"]["name"], r["name"])
        for o in compiled.objects
        if o["kind"] == "HTTPRoute"
        for r in o["spec"]["rules"]
    }
    assert ("demo", "environment-production") in rules
    targeted = {(t["name"], t["sectionName"]) for s in policies.values() for t in s["targetRefs"]}
    assert targeted <= rules
    assert [o["kind"] for o in compiled.objects].index("SecurityPolicy") < [
        o["kind"] for o in compiled.objects
    ].index("HTTPRoute")


def _plan(tmp_path: Path, base: str, head: str) -> dict[str, Any]:
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "head.yaml").write_text(head)
    result = CliRunner().invoke(
        cli,
        [
            "plan",
            str(tmp_path / "head.yaml"),
            "--base",
            str(tmp_path / "base.yaml"),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    plan: dict[str, Any] = json.loads(result.output)
    return plan


def test_each_public_endpoint_is_a_warning_in_the_plan(tmp_path: Path) -> None:
    plan = _plan(tmp_path, STACK, STACK)
    public = [f for f in plan["findings"] if f["id"] == "public-endpoint"]
    assert public == [
        {
            "id": "public-endpoint",
            "level": "warning",
            "message": "https://demo.models.example.com/deployments/v1/ answers without an API "
            "key (public): anyone who reaches the Gateway can call it",
            "model": "demo",
        },
        {
            "id": "public-endpoint",
            "level": "warning",
            "message": "https://demo.models.example.com/environments/production/ answers "
            "without an API key (public): anyone who reaches the Gateway can call it",
            "model": "demo",
            "environment": "production",
        },
    ]


def test_a_policy_makes_public_endpoints_errors(tmp_path: Path) -> None:
    strict = STACK.replace("policies: {", "policies: {public_endpoints: {level: error}, ")
    (tmp_path / "base.yaml").write_text(STACK)
    (tmp_path / "head.yaml").write_text(strict)
    result = CliRunner().invoke(
        cli, ["plan", str(tmp_path / "head.yaml"), "--base", str(tmp_path / "base.yaml")]
    )
    assert result.exit_code == 1
    assert "public-endpoint" in result.output


def test_a_stack_without_auth_is_refused_at_its_models_with_the_lines_to_add(
    tmp_path: Path,
) -> None:
    silent = STACK.replace(STACK[STACK.index("auth:") : STACK.index("policies:")], "")
    silent = silent.replace("    auth: {public: true}\n", "").replace(
        ", auth: {api_keys: [staff, testers]}", ""
    )
    path = write_stack(tmp_path, silent)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:4:1: error: auth: nothing says who may call the endpoints of models chat, "
        "demo (no `auth:`): an endpoint asks for an API key unless the stack says it is "
        "public. Add at the top level `auth: {key_sets: {clients: [model-api-keys]}, "
        "api_keys: [clients]}` (a Secret `model-api-keys` in namespace models holding one "
        "key per client), or `auth: {public: true}` to serve without a key on purpose\n"
    )
    # `iac plan` stops at the same error; a policy cannot lower it (only public endpoints').
    (tmp_path / "base.yaml").write_text(STACK)
    relaxed = silent.replace("policies: {", "policies: {public_endpoints: {enabled: false}, ")
    (tmp_path / "head.yaml").write_text(relaxed)
    plan = CliRunner().invoke(
        cli, ["plan", str(tmp_path / "head.yaml"), "--base", str(tmp_path / "base.yaml")]
    )
    assert plan.exit_code == 1
    assert "head.yaml:4:1: error: auth: nothing says who may call" in plan.output


def test_a_model_left_out_by_a_stack_without_auth_is_named_and_may_say_it_itself(
    tmp_path: Path,
) -> None:
    silent = STACK.replace(STACK[STACK.index("auth:") : STACK.index("policies:")], "")
    silent = silent.replace(", auth: {api_keys: [staff, testers]}", "")
    path = write_stack(tmp_path, silent)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "nothing says who may call the endpoints of model chat (no `auth:`): an endpoint asks "
        "for an API key unless the stack says it is public. Add at the top level `auth: "
        "{key_sets: {clients: [model-api-keys]}, api_keys: [clients]}` (a Secret "
        "`model-api-keys` in namespace models holding one key per client), or `auth: "
        "{public: true}` to serve without a key on purpose, or an `auth:` on this model\n"
    )
    covered = silent.replace(
        "  chat:\n    image: vllm/vllm-openai:v0.6.3\n",
        "  chat:\n    image: vllm/vllm-openai:v0.6.3\n    auth: {public: true}\n",
    )
    assert CliRunner().invoke(cli, ["validate", str(write_stack(tmp_path, covered))]).exit_code == 0


def test_a_stack_of_no_models_needs_no_auth(tmp_path: Path) -> None:
    path = write_stack(tmp_path, "version: 1\ncluster: {name: c}\nmodels: {}\n")
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0


def test_rotating_a_key_set_shows_in_the_plan_and_restarts_no_pod(tmp_path: Path) -> None:
    added = STACK.replace("staff: [staff-keys]", "staff: [staff-keys, staff-keys-2027]")
    plan = _plan(tmp_path, STACK, added)
    assert plan["events"] == []
    changed = plan["objects"]["changed"]
    assert [c if isinstance(c, str) else c["id"] for c in changed] == [
        "gateway.envoyproxy.io/v1alpha1/SecurityPolicy/models/chat-keys-staff",
        "gateway.envoyproxy.io/v1alpha1/SecurityPolicy/models/chat-keys-staff-testers",
    ]
    notes = [f["message"] for f in plan["findings"] if f["id"] == "api-keys"]
    # One note per change: the endpoints that change alike are named together.
    host = "https://chat.models.example.com"
    assert notes == [
        f"{host}/environments/production/, {host}/deployments/v1/, {host}/deployments/v2/ "
        "accept key set staff (staff-keys, staff-keys-2027) (was key set staff (staff-keys)): "
        "Secrets added: staff-keys-2027; only the Gateway's SecurityPolicy changes, no model "
        "pod restarts",
        f"{host}/environments/staging/ accepts key sets staff (staff-keys, staff-keys-2027), "
        "testers (tester-keys) (was key sets staff (staff-keys), testers (tester-keys)): "
        "Secrets added: staff-keys-2027; only the Gateway's SecurityPolicy changes, no model "
        "pod restarts",
    ]
    removed = added.replace("[staff-keys, staff-keys-2027]", "[staff-keys-2027]")
    later = _plan(tmp_path, added, removed)
    assert not [c for c in later["objects"]["changed"] if "Deployment" in json.dumps(c)]
    assert any("Secrets no longer accepted: staff-keys" in f["message"] for f in later["findings"])

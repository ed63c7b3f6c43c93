"""Policies: each rule passes and fails with its exact finding; waivers; one implementation
shared by `iac` and the Pulumi policy pack (issue #10)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.policy import check_with_policies
from iac.policy.facts import facts_from_objects, facts_from_release
from iac.policy_pack.policies import all_policies, make_policy
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT
from tests.support.policy_pack import (
    as_engine_sends,
    comparable_facts,
    pack_resources,
    run_policy,
)

HEAD = """\
version: 1
cluster: {name: c, provisioner: karpenter}
"""

MODEL = """\
models:
  llama:
    image: vllm/vllm-openai:v0.6.3
    resources: {accelerator: "H100:2", cpu: "16", memory: 128Gi}
    weights_size: 60Gi
    health: {startup_timeout: 20m}
    deployments: {v1: {}, v2: {}}
    environments:
      production:
        deployment: v1
        autoscaling: {min_replicas: 2, max_replicas: 4, scale_down_delay: 15m}
        promotion: {strategy: rolling, max_surge_percent: 25}
      staging:
        deployment: v2
        autoscaling: {min_replicas: 0, max_replicas: 1}
auth: {public: true}
"""


def check(tmp_path: Path, policies: str, model: str = MODEL) -> list[str]:
    """Diagnostics of `iac validate`, with the file path cut."""
    path = tmp_path / "stack.yaml"
    path.write_text(HEAD + textwrap.dedent(policies) + model)
    diagnostics = Diagnostics()
    try:
        check_with_policies(str(path), diagnostics)
    except StackInvalid as exc:
        return [str(d).removeprefix(str(path) + ":") for d in exc.diagnostics]
    return [str(d).removeprefix(str(path) + ":") for d in diagnostics.sorted()]


def test_a_compliant_stack_has_no_findings(tmp_path: Path) -> None:
    policies = """\
    policies:
      allowed_accelerators: {environments: {production: [H100, H200], staging: [H100]}}
      gpu_quota: {per_model: 12, per_pool: {gpu-h100: 12}}
      budget: {monthly: 100000, environments: {production: 80000}}
      min_replicas: {min: 2}
      no_scale_to_zero: {}
      pinned_images: {}
      rolling_promotion: {}
      scale_down_delay_floor: {min: 10m}
    """
    assert check(tmp_path, policies) == []


CASES = [
    (
        "policies: {allowed_accelerators: {environments: {staging: [L4]}}}\n",
        "7:30: error: models.llama.resources.accelerator: v2 serves staging on H100, but "
        "staging allows only L4; use one of L4 [allowed-accelerators]",
    ),
    (
        "policies: {gpu_quota: {per_model: 8}}\n",
        "5:3: error: models.llama: llama may use 10 GPUs at max replicas; the quota is 8 per "
        "model; lower max_replicas, or raise policies.gpu_quota.per_model [gpu-quota]",
    ),
    (
        "policies: {gpu_quota: {per_pool: {gpu-h100: 6}}}\n",
        "3:45: error: policies.gpu_quota.per_pool.gpu-h100: pool gpu-h100 may be asked for 10 "
        "GPUs at max replicas; the quota is 6; lower max_replicas of its deployments, or raise "
        "the quota [gpu-quota]",
    ),
    (
        "policies: {budget: {monthly: 1000}}\n",
        "3:30: error: policies.budget.monthly: at max replicas the stack costs $ a month, over "
        "its budget of $1,000; lower max_replicas, use cheaper accelerators, or raise the budget "
        "[budget]",
    ),
    (
        "policies: {min_replicas: {min: 3, level: warning}}\n",
        "14:37: warning: models.llama.environments.production.autoscaling.min_replicas: "
        "production of llama runs 2 replica(s) at least; the policy asks for 3; set "
        "min_replicas: 3 on the environment [min-replicas]",
    ),
    (
        "policies: {no_scale_to_zero: {environments: [staging]}}\n",
        "18:37: error: models.llama.environments.staging.autoscaling.min_replicas: staging of "
        "llama may scale to zero: its first request after an idle spell waits for a cold start; "
        "set min_replicas ≥ 1 on the environment [no-scale-to-zero]",
    ),
    (
        "policies: {pinned_images: {require_digest: true}}\n",
        "6:12: warning: models.llama.image: image vllm/vllm-openai:v0.6.3 of v1 names no digest "
        "(tags can be moved to other builds); name a version tag, or better a digest "
        "(`image@sha256:…`) [pinned-images]",
    ),
    (
        "policies: {rolling_promotion: {environments: [staging]}}\n",
        "16:7: error: models.llama.environments.staging: staging of llama promotes all at once "
        "(`strategy: immediate`); set promotion: {strategy: rolling, max_surge_percent: 25} "
        "[rolling-promotion]",
    ),
    (
        "policies: {scale_down_delay_floor: {min: 30m}}\n",
        "14:75: error: models.llama.environments.production.autoscaling.scale_down_delay: v1 "
        "takes up to 20m to start but scales down after 15m of low load; set scale_down_delay "
        "to at least 30m [scale-down-delay-floor]",
    ),
]


@pytest.mark.parametrize(("policies", "expected"), CASES)
def test_each_rule_fails_with_its_exact_finding(
    tmp_path: Path, policies: str, expected: str
) -> None:
    found = check(tmp_path, policies)
    found = [_drop_amount(line) for line in found]
    assert _drop_amount(expected) in found, found


def _drop_amount(line: str) -> str:
    """Prices move with the catalog: compare budget lines without the computed amount."""
    import re

    return re.sub(r"costs \$[\d,]+ a month", "costs $ a month", line)


def test_defaults_warn_on_unpinned_images_undeclared_resources_and_oversized_weights(
    tmp_path: Path,
) -> None:
    model = """\
    models:
      m:
        image: example/server
        weights_size: 150Gi
        resources: {accelerator: "H100:2"}
        deployments:
          v1: {}
          v2: {image: "example/server:latest", resources: {cpu: "4", memory: 8Gi}}
    auth: {public: true}
    """
    found = check(tmp_path, "", textwrap.dedent(model))
    assert found == [
        "5:12: warning: models.m.image: image example/server of v1 is not pinned: `latest` (or "
        "no tag) changes under you; name a version tag, or better a digest (`image@sha256:…`) "
        "[pinned-images]",
        "6:19: warning: models.m.weights_size: weights of 150Gi do not fit 2× H100 (160 GiB, of "
        "which about 90% can hold weights); use more or larger accelerators, or a quantized "
        "model [weights-fit]",
        "7:16: warning: models.m.resources: v1 declares no cpu or memory: the defaults (1 CPU, "
        "2Gi) rarely fit a model server; set resources.cpu and resources.memory "
        "[resources-declared]",
        "10:19: warning: models.m.deployments.v2.image: image example/server:latest of v2 is not "
        "pinned: `latest` (or no tag) changes under you; name a version tag, or better a digest "
        "(`image@sha256:…`) [pinned-images]",
    ]


def test_a_chainlets_violation_names_the_chainlet_at_the_chains_lines(tmp_path: Path) -> None:
    """A chainlet's deployments are its chain's (`v1`): the message says whose, and points
    where the chainlet's settings are written (at it, when nothing was written)."""
    chain = """\
    chains:
      qa:
        entrypoint: front
        chainlets:
          front: {image: ghcr.io/example/front:1.0.0, calls: [llm]}
          llm: {image: vllm/vllm-openai:v0.8.5}
        deployments:
          v1: {}
          v2: {chainlets: {llm: {resources: {accelerator: "L4:1", memory: 16Gi}}}}
    auth: {public: true}
    """
    found = check(tmp_path, "", textwrap.dedent(chain))
    assert found == [
        "7:7: warning: chains.qa.chainlets.front: chainlet 'front' of chain 'qa': v1 declares "
        "no cpu or memory: the defaults (1 CPU, 2Gi) rarely fit a model server; set "
        "resources.cpu and resources.memory [resources-declared]",
        "7:7: warning: chains.qa.chainlets.front: chainlet 'front' of chain 'qa': v2 declares "
        "no cpu or memory: the defaults (1 CPU, 2Gi) rarely fit a model server; set "
        "resources.cpu and resources.memory [resources-declared]",
        "8:7: warning: chains.qa.chainlets.llm: chainlet 'llm' of chain 'qa': v1 declares no "
        "cpu or memory: the defaults (1 CPU, 2Gi) rarely fit a model server; set resources.cpu "
        "and resources.memory [resources-declared]",
        "11:41: warning: chains.qa.deployments.v2.chainlets.llm.resources: chainlet 'llm' of "
        "chain 'qa': v2 declares no cpu: the defaults (1 CPU, 2Gi) rarely fit a model server; "
        "set resources.cpu and resources.memory [resources-declared]",
    ]


def test_rules_can_be_turned_off(tmp_path: Path) -> None:
    model = "models:\n  m: {image: example/server, deployments: {v1: {}}}\nauth: {public: true}\n"
    policies = "policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}\n"
    assert check(tmp_path, policies, model) == []


def test_a_waiver_turns_a_violation_into_a_note_with_its_reason(tmp_path: Path) -> None:
    policies = """\
    policies:
      no_scale_to_zero: {environments: [staging]}
      waivers:
        - {rule: no-scale-to-zero, model: llama, environment: staging, reason: "nightly evals only"}
    """
    found = check(tmp_path, policies)
    assert found == [
        "21:37: info: models.llama.environments.staging.autoscaling.min_replicas: waived "
        "(nightly evals only): staging of llama may scale to zero: its first request after an "
        "idle spell waits for a cold start [no-scale-to-zero]"
    ]


def test_validate_fails_on_an_error_level_violation_and_plan_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(HEAD + "policies: {gpu_quota: {per_model: 8}}\n" + MODEL)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "[gpu-quota]" in result.stderr
    base = tmp_path / "base.yaml"
    base.write_text(HEAD + MODEL)
    result = CliRunner().invoke(cli, ["plan", str(path), "--base", str(base), "--format", "json"])
    assert result.exit_code == 1
    assert '"id": "gpu-quota"' in result.stdout
    assert '"level": "error"' in result.stdout


ONE_REPLICA = """\
models:
  llama:
    image: vllm/vllm-openai:v0.6.3
    resources: {accelerator: "H100:1", cpu: "8", memory: 64Gi}
    deployments: {v1: {}, v2: {}}
    environments:
      production:
        deployment: v1
        autoscaling: {min_replicas: 1, max_replicas: 1}
        promotion:
          strategy: rolling
          max_surge_percent: 0
          max_unavailable_percent: 25
          allow_unavailable: true
auth: {public: true}
"""

NOTHING_READY = (
    "a rolling promotion into production of llama leaves it no ready replica in step 1, for a "
    "whole cold start of the new deployment: max_unavailable_percent 25 of 1 replica rounds "
    "down to none; allow_unavailable takes 1 down per step anyway, leaving 0 ready"
)


def test_allow_unavailable_that_leaves_nothing_ready_is_an_error_until_waived(
    tmp_path: Path,
) -> None:
    """Issue #19 item 3: insisting on taking the only replica down is an error-level finding
    at the setting, which a waiver accepts with a reason."""
    assert check(tmp_path, "", ONE_REPLICA) == [
        f"16:30: error: models.llama.environments.production.promotion.allow_unavailable: "
        f"{NOTHING_READY}; remove allow_unavailable (a surge replica is then added), raise "
        "min_replicas, or waive this with a reason [rollout-keeps-ready]"
    ]
    waiver = """\
    policies:
      waivers:
        - {rule: rollout-keeps-ready, model: llama, environment: production, reason: "batch jobs retry"}
    """
    assert check(tmp_path, waiver, ONE_REPLICA) == [
        "19:30: info: models.llama.environments.production.promotion.allow_unavailable: waived "
        f"(batch jobs retry): {NOTHING_READY} [rollout-keeps-ready]"
    ]
    # Without the flag a surge replica keeps one ready; with two replicas one stays anyway.
    assert (
        check(tmp_path, "", ONE_REPLICA.replace("allow_unavailable: true", "cleanup: keep")) == []
    )
    two = ONE_REPLICA.replace(
        "min_replicas: 1, max_replicas: 1", "min_replicas: 2, max_replicas: 2"
    )
    assert check(tmp_path, "", two) == []


def test_plan_fails_on_a_promotion_that_leaves_nothing_ready(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(HEAD + ONE_REPLICA)
    head = tmp_path / "head.yaml"
    head.write_text(HEAD + ONE_REPLICA.replace("deployment: v1", "deployment: v2"))
    result = CliRunner().invoke(cli, ["plan", str(head), "--base", str(base), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    (finding,) = [f for f in data["findings"] if f["id"] == "rollout-keeps-ready"]
    assert finding["level"] == "error"
    assert finding["message"].endswith(
        f"{NOTHING_READY}; remove allow_unavailable (a surge replica is then added), raise "
        "min_replicas, or waive this with a reason"
    )
    (rollout,) = data["rollouts"]
    assert (rollout["min_ready_replicas"], rollout["surge_added"]) == (0, 0)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "examples").glob("*/stack.yaml")) + [ROOT / "stacks" / "demo.yaml"],
    ids=lambda p: p.parent.name if p.name == "stack.yaml" else p.name,
)
def test_facts_from_objects_agree_with_facts_from_the_release(path: Path) -> None:
    """The pack sees only the registered objects; it must judge them as iac does."""
    compiled = compile_stack(check_stack(str(path)))
    from_release = facts_from_release(compiled.release)
    from_objects = facts_from_objects(compiled.objects)
    assert [comparable_facts(f) for f in from_release] == [
        comparable_facts(f) for f in from_objects
    ]


# --- the Pulumi policy pack: the same rules on the registered resources ---------------------


def test_pack_reports_what_iac_reports(tmp_path: Path) -> None:
    resources = pack_resources(tmp_path, MODEL)
    reported = run_policy(make_policy("gpu-quota"), resources, {"per_model": 8})
    assert reported == [
        (
            "[gpu-quota] llama: llama may use 10 GPUs at max replicas; the quota is 8 per model; "
            "lower max_replicas, or raise policies.gpu_quota.per_model",
            None,
        )
    ]
    reported = run_policy(make_policy("no-scale-to-zero"), resources, {"environments": ["staging"]})
    assert reported == [
        (
            "[no-scale-to-zero] llama/staging/v2: staging of llama may scale to zero: its first "
            "request after an idle spell waits for a cold start; set min_replicas ≥ 1 on the "
            "environment",
            "urn:pulumi:s::p::Deployment::llama-v2",
        )
    ]
    assert (
        run_policy(make_policy("no-scale-to-zero"), resources, {"environments": ["production"]})
        == []
    )


def test_pack_rules_without_settings_are_off_and_defaults_stay_on(tmp_path: Path) -> None:
    resources = pack_resources(tmp_path, MODEL.replace("vllm/vllm-openai:v0.6.3", "example/server"))
    assert run_policy(make_policy("budget"), resources, {}) == []
    pinned = run_policy(make_policy("pinned-images"), resources, {})
    assert [m for m, _ in pinned] == [
        "[pinned-images] llama/v1: image example/server of v1 is not pinned: `latest` (or no "
        "tag) changes under you; name a version tag, or better a digest (`image@sha256:…`)",
        "[pinned-images] llama/v2: image example/server of v2 is not pinned: `latest` (or no "
        "tag) changes under you; name a version tag, or better a digest (`image@sha256:…`)",
    ]
    assert run_policy(make_policy("budget"), resources, {"monthly": 10})[0][0].startswith(
        "[budget] at max replicas the stack costs $"
    )
    bad = run_policy(make_policy("budget"), resources, {"monthly": -1})
    assert bad[0][0].startswith("[budget] invalid policy configuration")
    names = [policy.name for policy in all_policies()]
    assert names == [
        "allowed-accelerators", "gpu-quota", "budget", "min-replicas", "no-scale-to-zero",
        "pinned-images", "scale-down-delay-floor",
    ]  # fmt: skip


def test_pack_reads_the_engines_floats_as_the_compiler_wrote_them(tmp_path: Path) -> None:
    """Found with the real engine (tests/e2e/test_program_cli.py): numbers arrive as floats,
    in resource properties and in the pack's configuration."""
    resources = pack_resources(tmp_path, MODEL)
    for resource in resources:
        resource.props = as_engine_sends(resource.props)  # type: ignore[assignment]
    reported = run_policy(make_policy("min-replicas"), resources, {"min": 3.0})
    assert [m for m, _ in reported] == [
        "[min-replicas] llama/production/v1: production of llama runs 2 replica(s) at least; "
        "the policy asks for 3; set min_replicas: 3 on the environment"
    ]
    floor = {"min": 600.0, "when_startup_over": 300.0}
    assert run_policy(make_policy("scale-down-delay-floor"), resources, floor) == []


def test_pack_config_schemas_carry_no_defaults() -> None:
    """The engine fills a config schema's defaults into the configuration it passes; with
    them, every rule that is off unless configured would look configured."""
    for policy in all_policies():
        schema = policy.config_schema
        assert schema is not None
        for name, prop in schema.properties.items():
            assert "default" not in prop, (policy.name, name)


@pytest.mark.parametrize(
    ("stack", "modules"),
    [("examples/06-gke/stack.yaml", "../../modules/"), ("stacks/demo.yaml", "../modules/")],
    ids=["gke", "karpenter"],
)
def test_the_budget_rule_prices_as_iac_cost_does(tmp_path: Path, stack: str, modules: str) -> None:
    """On GKE a pool's GPUs cost what its chosen machine costs, on Karpenter what the
    instance a replica fits on costs (iac.compile.capacity.pricing.deployment_unit_price), not the
    cheapest machine carrying the accelerator: the budget rule and `iac cost` agree."""
    import json
    import re

    source = ROOT / stack
    path = tmp_path / "stack.yaml"
    text = source.read_text().replace(modules, f"{ROOT / 'modules'}/")
    path.write_text(text + "policies: {budget: {monthly: 1}}\n")
    with pytest.raises(StackInvalid) as invalid:
        check_with_policies(str(path), Diagnostics())
    (message,) = [d.message for d in invalid.value.diagnostics if "[budget]" in d.message]
    found = re.search(r"costs \$([\d,]+) a month", message)
    assert found is not None, message
    cost = CliRunner().invoke(cli, ["cost", str(source), "--format", "json"])
    ceiling = json.loads(cost.stdout)["total"]["ceiling"]
    assert int(found.group(1).replace(",", "")) == round(ceiling)

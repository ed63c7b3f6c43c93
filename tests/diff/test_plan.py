"""`iac plan`: base/head pairs through every event kind and finding (issue #6)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.diff.objects import diff_objects
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT
from tests.support.plan_cli import BASE, plan, plan_json, write


def kinds(data: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in data["events"]]


def finding_ids(data: dict[str, Any]) -> list[str]:
    return [f["id"] for f in data["findings"]]


def test_no_change_is_exit_0_even_with_detailed_exitcode(tmp_path: Path) -> None:
    result = plan(tmp_path, BASE, BASE, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes." in result.stdout


def test_a_promotion_plan_exactly(tmp_path: Path) -> None:
    head = BASE.replace(
        "      v4: {image: vllm/vllm-openai:v0.7.0}\n",
        "      v4: {image: vllm/vllm-openai:v0.7.0}\n      v4-prod: {from: v4}\n",
    ).replace("        deployment: v3\n", "        deployment: v4-prod\n")
    data = plan_json(tmp_path, BASE, head)
    assert data["events"] == [
        {"kind": "node_pool", "model": None, "node_pool": "gpu-h100",
         "from": {"accelerator": "H100", "capacity_type": "on-demand", "demand_gpus": 7,
                  "limit_gpus": 7},
         "to": {"accelerator": "H100", "capacity_type": "on-demand", "demand_gpus": 8,
                "limit_gpus": 8}},
        {"kind": "create_deployment", "model": "llama", "deployment": "v4-prod"},
        {"kind": "promote", "model": "llama", "environment": "production", "from": "v3",
         "to": "v4-prod"},
    ]  # fmt: skip
    assert data["findings"] == [
        {
            "id": "promote-new-deployment",
            "level": "info",
            "message": "v4-prod is new in this change and has never been ready: the rollout "
            "waits for it before moving production's traffic",
            "model": "llama",
            "environment": "production",
            "deployment": "v4-prod",
        }
    ]
    (rollout,) = data["rollouts"]
    assert rollout == {
        "model": "llama",
        "environment": "production",
        "from": "v3",
        "to": "v4-prod",
        "strategy": "rolling",
        "replicas": 2,
        "cleanup": "scale_to_zero",
        "from_traffic": None,
        "minimum_seconds": 300,
        "peak_replicas": 3,
        "min_ready_replicas": 2,
        "surge_added": 0,
        "note": "",
        "steps": [
            {"action": "scale-up", "previous_replicas": 2, "candidate_replicas": 1,
             "candidate_weight": 0, "wait_seconds": 0, "peak_replicas": 3, "ready_replicas": 2},
            {"action": "shift", "previous_replicas": 1, "candidate_replicas": 2,
             "candidate_weight": 50, "wait_seconds": 300, "peak_replicas": 3,
             "ready_replicas": 2},
            {"action": "shift", "previous_replicas": 0, "candidate_replicas": 2,
             "candidate_weight": 100, "wait_seconds": 0, "peak_replicas": 2,
             "ready_replicas": 2},
            {"action": "cleanup", "previous_replicas": 0, "candidate_replicas": 2,
             "candidate_weight": 100, "wait_seconds": 0, "peak_replicas": 2,
             "ready_replicas": 2},
        ],
    }  # fmt: skip
    assert set(data) == {
        "events", "findings", "objects", "cost", "rollouts", "endpoints", "simulations", "errors"
    }  # fmt: skip
    assert data["errors"] == []
    assert data["endpoints"] == {
        "added": [{"model": "llama", "deployment": "v4-prod",
                   "url": "https://llama.models.example.com/deployments/v4-prod/"}],
        "removed": [],
        "moved": [],
    }  # fmt: skip
    assert data["objects"]["added"] == [
        "v1/Service/models/llama-v4-prod",
        "apps/v1/Deployment/models/llama-v4-prod",
        "policy/v1/PodDisruptionBudget/models/llama-v4-prod",
        "monitoring.coreos.com/v1/PodMonitor/models/llama-v4-prod",
        "http.keda.sh/v1beta1/InterceptorRoute/models/llama-v3",
        "keda.sh/v1alpha1/ScaledObject/models/llama-v4-prod",
    ]
    assert data["objects"]["removed"] == ["policy/v1/PodDisruptionBudget/models/llama-v3"]
    cost = data["cost"]
    assert cost["currency"] == "USD"
    assert cost["delta"]["ceiling"] > 0  # v3 falls back to its own 0..1, v4-prod gets 2..4
    assert cost["delta"]["floor"] == 0


def test_model_deployment_environment_lifecycle_events(tmp_path: Path) -> None:
    head = (
        BASE.replace(
            "  old:\n    image: x\n    deployments: {v1: {}}\n",
            "  new:\n    image: x\n    deployments: {v1: {}}\n    environments:\n"
            "      production: {deployment: v1, autoscaling: {min_replicas: 1}}\n",
        )
        .replace("      v2: {state: inactive}\n", "")
        .replace("      staging: {deployment: v4}\n", "      canary: {deployment: v4}\n")
    )
    data = plan_json(tmp_path, BASE, head)
    described = [
        (e["kind"], e["model"], e.get("deployment"), e.get("environment")) for e in data["events"]
    ]
    assert described == [
        ("delete_deployment", "llama", "v2", None),
        ("create_environment", "llama", None, "canary"),
        ("delete_environment", "llama", None, "staging"),
        ("promote", "llama", None, "canary"),
        ("create_model", "new", None, None),
        ("create_deployment", "new", "v1", None),
        ("create_environment", "new", None, "production"),
        ("promote", "new", None, "production"),
        ("delete_model", "old", None, None),
    ]
    first = next(e for e in data["events"] if e["kind"] == "promote" and e["model"] == "new")
    assert (first["from"], first["to"]) == (None, "v1")  # a first binding


def test_state_image_resources_autoscaling_events(tmp_path: Path) -> None:
    head = (
        BASE.replace("      v2: {state: inactive}", "      v2: {}")
        .replace("      v3: {}", "      v3: {}\n      v5: {state: inactive}")
        .replace("v0.7.0}", "v0.7.1}")
        .replace("        autoscaling: {min_replicas: 2, max_replicas: 4}",
                 "        autoscaling: {min_replicas: 2, max_replicas: 6}")
        .replace("    resources: {accelerator: H100}\n", "    resources: {accelerator: H100}\n"
                 "    autoscaling: {concurrency_target: 32}\n")
    )  # fmt: skip
    head = head.replace(
        "  old:\n    image: x\n", "  old:\n    image: x\n    resources: {cpu: '2'}\n"
    )
    data = plan_json(tmp_path, BASE, head)
    assert [(e["kind"], e["model"], e.get("deployment")) for e in data["events"]] == [
        ("node_pool", None, None),
        ("create_deployment", "llama", "v5"),
        ("activate", "llama", "v2"),
        ("image", "llama", "v4"),
        ("autoscaling", "llama", "v2"),
        ("autoscaling", "llama", "v3"),
        ("autoscaling", "llama", "v4"),
        ("resources", "old", "v1"),
    ]
    image = next(e for e in data["events"] if e["kind"] == "image")
    assert (image["from"], image["to"]) == ("vllm/vllm-openai:v0.7.0", "vllm/vllm-openai:v0.7.1")
    v3 = next(e for e in data["events"] if e["kind"] == "autoscaling" and e["deployment"] == "v3")
    assert v3["environment"] == "production"
    assert v3["changes"] == {
        "concurrency_target": {"from": 64, "to": 32},  # the model's, under the environment's
        "max_replicas": {"from": 4, "to": 6},
    }
    resources = next(e for e in data["events"] if e["kind"] == "resources")
    assert resources["changes"] == {"cpu": {"from": None, "to": "2"}}
    deactivate = plan_json(
        tmp_path, BASE, BASE.replace("      v4: {image", "      v4: {state: inactive, image")
        .replace("      staging: {deployment: v4}\n", "")
    )  # fmt: skip
    assert "deactivate" in kinds(deactivate)


def test_traffic_split_weights_are_a_promote_with_changes(tmp_path: Path) -> None:
    head = BASE.replace("        deployment: v3\n", "        traffic: {v3: 90, v5: 10}\n").replace(
        "      v3: {}", "      v3: {}\n      v5: {}"
    )
    data = plan_json(tmp_path, BASE, head)
    (promote,) = [e for e in data["events"] if e["kind"] == "promote"]
    assert promote == {
        "kind": "promote",
        "model": "llama",
        "environment": "production",
        "from": "v3",
        "to": "v3",
        "changes": {"traffic": {"from": {"v3": 100}, "to": {"v3": 90, "v5": 10}}},
    }
    assert data["rollouts"] == []  # weights are moved by hand, step by step
    text = plan(tmp_path, BASE, head).stdout
    assert "production: traffic v3 100 → v3 90/v5 10" in text


def test_deleting_the_deployment_that_served_is_an_error(tmp_path: Path) -> None:
    head = BASE.replace("      v3: {}\n", "").replace(
        "        deployment: v3\n", "        deployment: v2\n"
    )
    head = head.replace("      v2: {state: inactive}", "      v2: {}")
    result = plan(tmp_path, BASE, head, "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert finding_ids(data)[0] == "delete-serving-deployment"
    assert data["findings"][0]["level"] == "error"


def test_cleanup_policy_mismatches_say_how_to_fix(tmp_path: Path) -> None:
    deactivating = BASE.replace("stabilization: 5m}", "stabilization: 5m, cleanup: deactivate}")
    head = deactivating.replace("        deployment: v3\n", "        deployment: v5\n").replace(
        "      v3: {}", "      v3: {}\n      v5: {}"
    )
    data = plan_json(tmp_path, deactivating, head)
    (finding,) = [f for f in data["findings"] if f["id"] == "cleanup-policy-mismatch"]
    assert finding["message"] == (
        "production's cleanup is `deactivate`, but v3 is left active: set `state: inactive` on "
        "it (or run `iac promote`)"
    )
    kept = head.replace(
        "      v3: {}", "      v3: {autoscaling: {min_replicas: 1, max_replicas: 2}}"
    )
    data = plan_json(tmp_path, BASE, kept.replace(", cleanup: deactivate", ""))
    (finding,) = [f for f in data["findings"] if f["id"] == "cleanup-policy-mismatch"]
    assert "keeps min_replicas 1: set it to 0" in finding["message"]


def test_gpu_type_change_surge_cap_production_zero_and_compile_warnings(tmp_path: Path) -> None:
    base = BASE.replace(
        "cluster: {name: c, provisioner: karpenter, domain: models.example.com}",
        "cluster: {name: c, provisioner: karpenter, domain: models.example.com}\n"
        "node_pools: {h100: {accelerator: H100, max_gpus: 8}}",
    )
    head = (
        base.replace("      v3: {}", "      v3: {}\n      v5: {}")
        .replace("        deployment: v3\n", "        deployment: v5\n")
        .replace("        autoscaling: {min_replicas: 2, max_replicas: 4}",
                 "        autoscaling: {min_replicas: 6, max_replicas: 8}")
        .replace("      v4: {image: vllm/vllm-openai:v0.7.0}",
                 "      v4: {image: vllm/vllm-openai:v0.7.0, resources: {accelerator: H200}}")
    )  # fmt: skip
    data = plan_json(tmp_path, base, head)
    ids = finding_ids(data)
    assert "gpu-type-change" in ids
    assert "surge-exceeds-pool-cap" in ids
    assert "pool-cap-below-demand" in ids
    surge = next(f for f in data["findings"] if f["id"] == "surge-exceeds-pool-cap")
    assert surge["message"] == (
        "promoting v5 into production needs up to 9 GPUs at once in pool h100, which may hold "
        "8: the rollout stalls waiting for capacity"
    )
    cold = BASE.replace(
        "        autoscaling: {min_replicas: 2, max_replicas: 4}",
        "        autoscaling: {min_replicas: 0, max_replicas: 4}",
    )
    data = plan_json(tmp_path, BASE, cold)
    assert "production-min-zero" in finding_ids(data)
    # A standing condition is not repeated on every unrelated change.
    unrelated = cold.replace("v0.7.0}", "v0.7.1}")
    assert "production-min-zero" not in finding_ids(plan_json(tmp_path, cold, unrelated))


def test_replacements_are_called_out() -> None:
    old = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "a", "namespace": "n"},
        "spec": {"selector": {"matchLabels": {"x": "1"}}, "template": {"spec": {"c": 1}}},
    }
    new = {**old, "spec": {"selector": {"matchLabels": {"x": "2"}}, "template": {"spec": {"c": 2}}}}
    diff = diff_objects([old], [new])
    (change,) = diff.changed
    assert change.paths == ("spec.selector.matchLabels.x", "spec.template.spec.c")
    assert change.replaced_by == ("spec.selector.matchLabels.x",)  # fmt: skip


def test_secret_values_never_appear_in_any_format(tmp_path: Path) -> None:
    # Written inline, a credential is an error unless waived: waived, it is still never shown.
    waiver = "waivers: [{rule: secret-in-env, model: old, reason: a test}]"
    base = BASE.replace(
        "  old:\n    image: x\n", "  old:\n    image: x\n    env: {API_KEY: sk-live-OLD123}\n"
    ).replace(
        "resources_declared: {enabled: false}}",
        f"resources_declared: {{enabled: false}}, {waiver}}}",
    )
    head = base.replace("sk-live-OLD123", "sk-live-NEW456")
    for fmt in ("text", "markdown", "json"):
        result = plan(tmp_path, base, head, "--format", fmt, "--detailed-exitcode")
        assert result.exit_code == 2, result.output
        assert "sk-live" not in result.output
        assert "Deployment/models/old-v1" in result.output or fmt == "text"


def test_markdown_reads_as_a_review_comment(tmp_path: Path) -> None:
    head = BASE.replace("        deployment: v3\n", "        deployment: v2\n").replace(
        "      v2: {state: inactive}", "      v2: {}"
    )
    result = plan(tmp_path, BASE, head, "--format", "markdown", "--detailed-exitcode")
    assert result.exit_code == 2
    text = result.stdout
    assert text.startswith("### iac plan: ")
    assert "| → | llama | production: v3 → v2 |" in text
    assert "| ▶ | llama | v2: activated |" in text
    assert "| floor (min replicas) |" in text
    assert "<details><summary>Rollouts</summary>" in text
    assert "| shift | 1 | 2 | 2 | 50% | 5m |" in text
    assert text.count("<details>") == text.count("</details>") == 2


def test_base_from_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "modules").mkdir()
    (repo / "modules" / "vllm.yaml").write_text((ROOT / "modules" / "vllm.yaml").read_text())
    stack = repo / "stacks" / "prod.yaml"
    stack.write_text(BASE.replace("MODULES", "../modules"))

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "empty")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "stack")
    stack.write_text(stack.read_text().replace("v0.7.0}", "v0.7.1}"))
    result = CliRunner().invoke(cli, ["plan", str(stack), "--base", "git:HEAD", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert kinds(json.loads(result.stdout)) == ["image"]
    # At a revision without the file everything is new.
    result = CliRunner().invoke(
        cli, ["plan", str(stack), "--base", "git:HEAD~1", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert kinds(json.loads(result.stdout)).count("create_model") == 2
    result = CliRunner().invoke(cli, ["plan", str(stack), "--base", "git:nope"])
    assert result.exit_code == 1
    assert "no git revision 'nope'" in result.stderr


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("live", "--base live needs the Pulumi stack: --stack NAME (or $PULUMI_STACK)"),
        ("git:", "--base git:REF needs a revision"),
    ],
)
def test_base_errors(tmp_path: Path, base: str, message: str) -> None:
    head = write(tmp_path, "head.yaml", BASE)
    result = CliRunner().invoke(cli, ["plan", head, "--base", base])
    assert result.exit_code == 1
    assert message in result.stderr


def test_an_environment_with_a_trace_is_simulated_before_and_after(tmp_path: Path) -> None:
    base = BASE.replace(
        "      staging: {deployment: v4}\n",
        "      staging: {deployment: v4, trace: 'steady:rate=3,hours=1'}\n",
    )
    head = base.replace(
        "      staging: {deployment: v4, ",
        "      staging: {deployment: v4, autoscaling: {min_replicas: 1, max_replicas: 3}, ",
    )
    data = plan_json(tmp_path, base, head)
    (simulation,) = data["simulations"]
    assert (simulation["model"], simulation["environment"]) == ("llama", "staging")
    assert set(simulation) >= {"base", "head", "delta", "trace"}
    text = plan(tmp_path, base, head).stdout
    assert "llama / staging" in text
    markdown = plan(tmp_path, base, head, "--format", "markdown").stdout
    assert "**Simulated** `llama` / `staging`" in markdown


def test_pool_events_read_a_summary_that_does_not_depend_on_the_models() -> None:
    """Pool events summarize a release without its models (the models' summary is slow on
    a large stack): that must be the same summary of the pools."""
    release = compile_stack(check_stack(str(ROOT / "stacks" / "demo.yaml"))).release
    assert release.pools
    summary = release.to_dict()["node_pools"]
    assert replace(release, models={}).to_dict()["node_pools"] == summary


def test_the_heads_errors_come_before_the_bases(tmp_path: Path) -> None:
    """The base is compiled first (the head's compile reuses its objects), yet an invalid head is
    what is reported when both are invalid; an invalid base alone is planned against in part
    (tests/diff/test_plan_gate.py)."""
    bad = BASE.replace("v3: {}", "v3: {stat: active}")
    both = plan(tmp_path, bad, bad.replace("old:", "older:"))
    assert both.exit_code == 1
    assert "head.yaml:" in both.stderr
    assert "base.yaml" not in both.stderr
    assert "models.llama.deployments.v3.stat: unknown key 'stat'" in both.stderr
    base_only = plan(tmp_path, bad, BASE, "--format", "json")
    assert base_only.exit_code == 0, base_only.output
    assert {f["id"] for f in json.loads(base_only.stdout)["findings"]} >= {"base-invalid"}


def test_gke_node_pools_are_in_the_plan_and_a_spot_change_replaces_one(tmp_path: Path) -> None:
    """A GKE pool is a cloud resource beside the objects: `iac plan` lists its changes, and
    says that a pool going from Spot to on-demand VMs is replaced (its pods move)."""
    example = (ROOT / "examples" / "06-gke" / "stack.yaml").read_text()
    base = example.replace("../../modules/", "MODULES/")
    spot = "    capacity_type: spot              # cheaper; Google may take a node back at short notice\n"
    assert spot in base
    head = base.replace(spot, "").replace("max_gpus: 4 ", "max_gpus: 6 ")
    data = plan_json(tmp_path, base, head)
    pool = "gcp:container/nodePool:NodePool/spot-l4"
    (change,) = [c for c in data["objects"]["changed"] if c["id"] == pool]
    assert change["replace"] == ["nodeConfig.spot"]
    assert "autoscaling.totalMaxNodeCount" in change["paths"]
    (replaced,) = [f for f in data["findings"] if f["id"] == "replace-object"]
    assert pool in replaced["message"]
    # Only the max node count: changed in place.
    in_place = plan_json(tmp_path, base, base.replace("max_gpus: 4 ", "max_gpus: 6 "))
    (change,) = [c for c in in_place["objects"]["changed"] if c["id"] == pool]
    assert change == {"id": pool, "paths": ["autoscaling.totalMaxNodeCount"]}
    assert "replace-object" not in finding_ids(in_place)


def test_endpoints_that_move_appear_and_go_are_listed_and_a_move_is_a_warning(
    tmp_path: Path,
) -> None:
    head = (
        BASE.replace("models:\n  llama:\n", "models:\n  llama:\n    hostname: chat.example.com\n")
        .replace("      staging: {deployment: v4}\n", "")
        .replace("    deployments: {v1: {}}\n", "    deployments: {v2: {}}\n")
    )
    data = plan_json(tmp_path, BASE, head)
    assert data["endpoints"] == {
        "added": [{"model": "old", "deployment": "v2",
                   "url": "https://old.models.example.com/deployments/v2/"}],
        "removed": [{"model": "llama", "environment": "staging",
                     "url": "https://llama.models.example.com/environments/staging/"},
                    {"model": "old", "deployment": "v1",
                     "url": "https://old.models.example.com/deployments/v1/"}],
        "moved": [{"model": "llama", "environment": "production",
                   "from": "https://llama.models.example.com/environments/production/",
                   "to": "https://chat.example.com/environments/production/"},
                  {"model": "llama", "deployment": "v3",
                   "from": "https://llama.models.example.com/deployments/v3/",
                   "to": "https://chat.example.com/deployments/v3/"},
                  {"model": "llama", "deployment": "v4",
                   "from": "https://llama.models.example.com/deployments/v4/",
                   "to": "https://chat.example.com/deployments/v4/"}],
    }  # fmt: skip
    (moved,) = [f for f in data["findings"] if f["id"] == "endpoint-moved"]
    assert moved == {
        "id": "endpoint-moved",
        "level": "warning",
        "model": "llama",
        "environment": "production",
        "message": "the production endpoint of llama moves from "
        "https://llama.models.example.com/environments/production/ to "
        "https://chat.example.com/environments/production/: the old URL stops answering once "
        "this is applied; update the clients, or keep the old URL (`cluster.endpoints`, the "
        "model's `hostname`)",
    }
    text = plan(tmp_path, BASE, head).stdout
    assert (
        "Endpoints\n"
        "  + old deployment v2: https://old.models.example.com/deployments/v2/\n"
        "  ~ llama production: https://llama.models.example.com/environments/production/ → "
        "https://chat.example.com/environments/production/\n"
    ) in text
    assert "  - llama staging: https://llama.models.example.com/environments/staging/\n" in text
    markdown = plan(tmp_path, BASE, head, "--format", "markdown").stdout
    assert (
        "| - | llama staging | https://llama.models.example.com/environments/staging/ |" in markdown
    )


def test_a_change_without_events_prints_no_empty_events_table(tmp_path: Path) -> None:
    head = BASE.replace(
        "domain: models.example.com}", "domain: models.example.com, endpoints: path}"
    )
    markdown = plan(tmp_path, BASE, head, "--format", "markdown").stdout
    assert "| | model | change |" not in markdown
    assert "**Endpoints**" in markdown


def test_the_text_plan_says_when_a_surge_replica_is_added(tmp_path: Path) -> None:
    """Issue #19 item 3: production pinned at one replica promotes with
    max_unavailable_percent 25; the plan keeps v3 serving with a surge replica and says so."""
    base = BASE.replace("min_replicas: 2, max_replicas: 4", "min_replicas: 1, max_replicas: 1")
    base = base.replace(
        "max_surge_percent: 50, stabilization: 5m",
        "max_surge_percent: 0, max_unavailable_percent: 25",
    )
    head = base.replace("        deployment: v3\n", "        deployment: v4\n").replace(
        "      staging: {deployment: v4}\n", ""
    )
    result = plan(tmp_path, base, head)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index("  → production: v3 → v4")
    assert lines[at + 1 : at + 3] == [
        "      rolling in 1 step (100%), 1 replica(s), peak 2, never fewer than 1 ready; then "
        "v3 scales to zero",
        "      1 surge replica added (max_surge_percent is 0): max_unavailable_percent 25 of 1 "
        "replica rounds down to none, so each v3 replica serves until a v4 one is ready to "
        "replace it",
    ]

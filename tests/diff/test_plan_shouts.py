"""`iac plan` shouts about what goes away and what restarts (issue #20 item 2): removals of
what serves an environment are findings naming the endpoint that stops answering, each
message says what actually happens, container changes say that pods restart, and no table
is printed empty."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.rollout.stages import stages
from iac.validate import check_stack
from tests.support.plan_cli import BASE, plan, plan_json, write

URL = "https://{model}.models.example.com/{what}/{name}/"

SPLIT = BASE.replace("        deployment: v3\n", "        traffic: {v3: 90, v5: 10}\n").replace(
    "      v3: {}", "      v3: {}\n      v5: {}"
)
"""Production split 90/10 between v3 and v5."""

SERVING_OLD = BASE.replace(
    "    deployments: {v1: {}}\n",
    "    deployments: {v1: {}, v2: {}}\n"
    "    environments: {production: {deployment: v1}, canary: {deployment: v2}}\n",
)
"""The model `old` serving production and canary."""

WITHOUT_OLD = SERVING_OLD[: SERVING_OLD.index("  old:\n")]


def findings_of(data: dict[str, Any], ident: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["id"] == ident]


def test_removing_a_serving_model_is_a_warning_naming_its_endpoints(tmp_path: Path) -> None:
    data = plan_json(tmp_path, SERVING_OLD, WITHOUT_OLD)
    assert findings_of(data, "delete-serving-model") == [
        {
            "id": "delete-serving-model",
            "level": "warning",
            "model": "old",
            "message": "old is removed with the endpoints of canary "
            "(https://old.models.example.com/environments/canary/) and production "
            "(https://old.models.example.com/environments/production/), which answer 404 once "
            "this is applied. Move the clients first, or keep the model",
        }
    ]
    result = plan(tmp_path, SERVING_OLD, WITHOUT_OLD, "--detailed-exitcode")
    assert result.exit_code == 2  # a warning: the plan passes
    assert (
        "  warning delete-serving-model (old): old is removed with the endpoints of canary "
        "(https://old.models.example.com/environments/canary/) and production "
    ) in result.stdout
    markdown = plan(tmp_path, SERVING_OLD, WITHOUT_OLD, "--format", "markdown").stdout
    assert (
        "- ⚠️ **warning** `delete-serving-model` (old): old is removed with the endpoints of "
        "canary (https://old.models.example.com/environments/canary/) and production "
    ) in markdown
    # A model that serves no environment goes without a finding (its objects are listed).
    quiet = plan_json(tmp_path, BASE, BASE[: BASE.index("  old:\n")])
    assert "delete_model" in [e["kind"] for e in quiet["events"]]
    assert [f["id"] for f in quiet["findings"] if f["id"].startswith("delete-")] == []


def test_a_rename_says_where_the_model_answers_now(tmp_path: Path) -> None:
    renamed = SERVING_OLD.replace(
        "  old:\n    image: x\n", "  older:\n    previous_names: [old]\n    image: x\n"
    )
    (finding,) = findings_of(plan_json(tmp_path, SERVING_OLD, renamed), "delete-serving-model")
    assert finding["message"] == (
        "old is renamed older (`previous_names`), and the endpoints of canary "
        "(https://old.models.example.com/environments/canary/) and production "
        "(https://old.models.example.com/environments/production/) answer 404 once this is "
        "applied: older answers on https://older.models.example.com/environments/canary/, "
        "https://older.models.example.com/environments/production/. Update the clients "
        "first, or keep the old host (the model's `hostname`)"
    )
    # Keeping the host keeps the endpoints: nothing to say.
    kept = renamed.replace(
        "    previous_names: [old]\n",
        "    previous_names: [old]\n    hostname: old.models.example.com\n",
    )
    assert findings_of(plan_json(tmp_path, SERVING_OLD, kept), "delete-serving-model") == []


def test_removing_an_environment_names_its_endpoint_and_what_served_it(tmp_path: Path) -> None:
    head = BASE.replace("      staging: {deployment: v4}\n", "")
    data = plan_json(tmp_path, BASE, head)
    assert findings_of(data, "delete-environment") == [
        {
            "id": "delete-environment",
            "level": "warning",
            "model": "llama",
            "environment": "staging",
            "message": "the staging environment of llama is removed: its endpoint "
            "https://llama.models.example.com/environments/staging/ answers 404 once this is "
            "applied (v4, which served it, keeps its own URL "
            "https://llama.models.example.com/deployments/v4/). Move its clients first, or "
            "keep the environment",
        }
    ]
    gone_too = head.replace("      v4: {image: vllm/vllm-openai:v0.7.0}\n", "")
    (finding,) = findings_of(plan_json(tmp_path, BASE, gone_too), "delete-environment")
    assert "(v4, which served it, is deleted too)" in finding["message"]
    # The deployment that goes with its environment is not also an error.
    assert findings_of(plan_json(tmp_path, BASE, gone_too), "delete-serving-deployment") == []


def test_removing_a_side_of_a_split_says_who_takes_its_requests(tmp_path: Path) -> None:
    head = SPLIT.replace("        traffic: {v3: 90, v5: 10}\n", "        deployment: v3\n")
    head = head.replace("      v5: {}\n", "")
    data = plan_json(tmp_path, SPLIT, head)
    assert findings_of(data, "delete-split-deployment") == [
        {
            "id": "delete-split-deployment",
            "level": "warning",
            "model": "llama",
            "environment": "production",
            "deployment": "v5",
            "message": "v5 gets 10 % of production's requests before this change and is "
            "deleted by it: all of production's requests go to v3 at once (its endpoint keeps "
            "answering), and v5's own URL https://llama.models.example.com/deployments/v5/ "
            "answers 404 once this is applied",
        }
    ]
    assert findings_of(data, "delete-serving-deployment") == []
    three = SPLIT.replace("{v3: 90, v5: 10}", "{v3: 80, v5: 10, v6: 10}").replace(
        "      v5: {}", "      v5: {}\n      v6: {}"
    )
    fewer = three.replace("{v3: 80, v5: 10, v6: 10}", "{v3: 80, v6: 20}").replace(
        "      v5: {}\n", ""
    )
    (finding,) = findings_of(plan_json(tmp_path, three, fewer), "delete-split-deployment")
    assert (
        "deleted by it: production's requests go to v3 80 % / v6 20 % at once"
        in (finding["message"])
    )


def test_deleting_the_serving_deployment_says_what_happens_to_it(tmp_path: Path) -> None:
    """The environment's only deployment, deleted in the change that replaces it: an error,
    whose message and rollout no longer say that it scales to zero."""
    head = BASE.replace("      v3: {}\n", "").replace(
        "        deployment: v3\n", "        deployment: v2\n"
    )
    head = head.replace("      v2: {state: inactive}", "      v2: {}")
    result = plan(tmp_path, BASE, head, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert findings_of(data, "delete-serving-deployment") == [
        {
            "id": "delete-serving-deployment",
            "level": "error",
            "model": "llama",
            "environment": "production",
            "deployment": "v3",
            "message": "v3 serves production before this change and is deleted by it: v2 "
            "takes all of production's traffic once ready (at once, not in rolling steps: a "
            "deleted deployment cannot serve them), then v3 is deleted (its pods go and its "
            "URL https://llama.models.example.com/deployments/v3/ answers 404), leaving "
            "nothing to roll back to if v2 misbehaves. Promote first (v3 then scales to zero, "
            "production's cleanup) and delete it in a later change",
        }
    ]
    (rollout,) = data["rollouts"]
    assert rollout["strategy"] == "immediate"  # production asks for rolling steps
    text = plan(tmp_path, BASE, head).stdout
    lines = text.splitlines()
    at = lines.index("  → production: v3 → v2")
    assert lines[at + 1 : at + 3] == [
        "      immediate: up and ready, then all traffic at once, 2 replica(s), peak 4; then "
        "v3 is deleted",
        "      v3 is deleted by this change, so cannot serve through rolling steps: all the "
        "traffic moves to v2 at once, once it is ready",
    ]
    assert "scales to zero" not in text.split("Findings")[0]


def test_a_promotion_away_from_a_deleted_deployment_stages_without_holding_it(
    tmp_path: Path,
) -> None:
    """`iac up` and the Pulumi program stage promotions: one away from a deployment the head
    deletes is applied with the head (the head has none of its settings to hold it by)."""
    head = SPLIT.replace("        traffic: {v3: 90, v5: 10}\n", "        deployment: v3\n")
    head = head.replace("      v5: {}\n", "")
    base_stack = check_stack(write(tmp_path, "base.yaml", SPLIT))
    head_stack = check_stack(write(tmp_path, "head.yaml", head))
    found = make_plan(compile_stack(base_stack), compile_stack(head_stack))
    assert [(r.previous, r.candidate) for r in found.rollouts] == [("v5", "v3")]
    assert [stage.description for stage in stages(head_stack, found.rollouts)] == ["apply"]


@pytest.mark.parametrize(
    ("policy", "level", "message"),
    [
        ("{level: error}", "error", None),
        ("{enabled: false}", None, None),
        (
            "{}\n  waivers: [{rule: serving-removals, model: old, reason: retired in Q3}]",
            "info",
            "waived (retired in Q3): old is removed with ",
        ),
    ],
)
def test_a_policy_raises_removals_to_errors_or_waives_them(
    tmp_path: Path, policy: str, level: str | None, message: str | None
) -> None:
    def with_policy(text: str) -> str:
        return text.replace(
            "policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}\n",
            "policies:\n  pinned_images: {enabled: false}\n  resources_declared: {enabled: false}"
            f"\n  serving_removals: {policy}\n",
        )

    result = plan(tmp_path, with_policy(SERVING_OLD), with_policy(WITHOUT_OLD), "--format", "json")
    assert result.exit_code == (1 if level == "error" else 0), result.output
    found = findings_of(json.loads(result.stdout), "delete-serving-model")
    assert [f["level"] for f in found] == ([level] if level else [])
    if message:
        assert found[0]["message"].startswith(message)


def test_the_deletion_of_the_only_deployment_stays_an_error_without_the_policy(
    tmp_path: Path,
) -> None:
    off = BASE.replace("resources_declared: {enabled: false}}", "resources_declared: "
                       "{enabled: false}, serving_removals: {enabled: false}}")  # fmt: skip
    head = off.replace("      v3: {}\n", "").replace("deployment: v3\n", "deployment: v4\n")
    head = head.replace("      staging: {deployment: v4}\n", "")
    data = plan_json(tmp_path, off, head)
    assert [f["level"] for f in findings_of(data, "delete-serving-deployment")] == ["error"]
    assert findings_of(data, "delete-environment") == []


CONTAINER = """\
version: 1
cluster: {name: c, domain: models.example.com}
policies:
  pinned_images: {enabled: false}
  resources_declared: {enabled: false}
  waivers: [{rule: secret-in-env, reason: values that must never be shown}]
models:
  chat:
    image: srv:1
    env: {API_KEY: sk-live-OLD, MODE: fast}
    metrics: {in_flight: [running]}
    deployments:
      v1: {}
      v2: {state: inactive}
    environments:
      production: {deployment: v1, autoscaling: {min_replicas: 1, max_replicas: 2}}
auth: {public: true}
"""


def test_container_changes_are_named_with_the_restart_they_cause(tmp_path: Path) -> None:
    head = CONTAINER.replace(
        "    env: {API_KEY: sk-live-OLD, MODE: fast}\n",
        "    env: {API_KEY: sk-live-NEW, LOG: debug}\n    args: [--max-model-len, '4096']\n"
        "    health: {startup_timeout: 1h}\n    command: [serve]\n    secrets: [hf-token]\n",
    )
    data = plan_json(tmp_path, CONTAINER, head)
    changes = {
        "command": {"from": None, "to": ["serve"]},
        "args": {"from": None, "to": ["--max-model-len", "4096"]},
        "env": {"added": ["LOG"], "changed": ["API_KEY"], "removed": ["MODE"]},
        "health.startup_timeout": {"from": 1800, "to": 3600},
        "secrets": {"from": None, "to": ["hf-token"]},
    }
    assert data["events"] == [
        {"kind": "container", "model": "chat", "deployment": "v2", "changes": changes,
         "restarts": False},
        {"kind": "container", "model": "chat", "deployment": "v1", "environment": "production",
         "changes": changes, "restarts": True},
    ]  # fmt: skip
    described = (
        "command unset → serve; args unset → --max-model-len 4096; env LOG added, API_KEY "
        "changed, MODE removed; health.startup_timeout 30m → 1h; secrets unset → hf-token"
    )
    text = plan(tmp_path, CONTAINER, head).stdout
    assert (
        "chat\n"
        f"  ~ v2: {described}\n"
        "      no pod restarts\n"
        f"  ~ v1 (production): {described}\n"
        "      rolling restart of production's pods: one new pod at a time (a cold start "
        "each), an old one goes once it is ready\n"
    ) in text
    markdown = plan(tmp_path, CONTAINER, head, "--format", "markdown").stdout
    assert (
        f"| ~ | chat | v1 (production): {described}. **Rolling restart** of production's pods, "
        "one at a time (a cold start each) |"
    ) in markdown
    assert f"| ~ | chat | v2: {described} (no pod restarts) |" in markdown
    for fmt in ("text", "markdown", "json"):
        assert "sk-live" not in plan(tmp_path, CONTAINER, head, "--format", fmt).output


def test_a_change_that_restarts_no_pod_says_so(tmp_path: Path) -> None:
    """The metrics path changes the PodMonitor only."""
    head = CONTAINER.replace("{in_flight: [running]}", "{in_flight: [running], path: /m}")
    data = plan_json(tmp_path, CONTAINER, head)
    (event,) = [e for e in data["events"] if e["deployment"] == "v1"]
    assert event == {
        "kind": "container",
        "model": "chat",
        "deployment": "v1",
        "environment": "production",
        "changes": {"metrics.path": {"from": "/metrics", "to": "/m"}},
        "restarts": False,
    }
    assert "  ~ v1 (production): metrics.path /metrics → /m\n      no pod restarts\n" in (
        plan(tmp_path, CONTAINER, head).stdout
    )


def test_image_and_resources_changes_say_which_environment_restarts(tmp_path: Path) -> None:
    head = BASE.replace("v0.7.0}", "v0.7.1}").replace(
        "  old:\n    image: x\n", "  old:\n    image: x\n    resources: {cpu: '2'}\n"
    )
    data = plan_json(tmp_path, BASE, head)
    image = next(e for e in data["events"] if e["kind"] == "image")
    assert (image["environment"], image["restarts"]) == ("staging", True)
    text = plan(tmp_path, BASE, head).stdout
    assert (
        "  ~ v4 (staging): image vllm/vllm-openai:v0.7.0 → vllm/vllm-openai:v0.7.1\n"
        "      rolling restart of staging's pods: one new pod at a time (a cold start each), "
        "an old one goes once it is ready\n"
    ) in text
    assert (
        "  ~ v1: cpu unset → 2\n      rolling restart of v1's pods: one new pod at a time"
    ) in text


def test_a_new_pool_is_a_plus_and_a_removed_one_a_minus(tmp_path: Path) -> None:
    head = BASE.replace("  old:\n    image: x\n", "  old:\n    image: x\n"
                        "    resources: {accelerator: L4}\n")  # fmt: skip
    text = plan(tmp_path, BASE, head).stdout
    assert "node pools\n  + new pool gpu-l4: L4, up to 1 GPU\n" in text
    assert "node pools\n  - pool gpu-l4 removed\n" in plan(tmp_path, head, BASE).stdout
    markdown = plan(tmp_path, BASE, head, "--format", "markdown").stdout
    assert "| + | node pools | new pool gpu-l4: L4, up to 1 GPU |" in markdown


TABLE = re.compile(r"^\|.*\|\n\|[-:|]+\|\n(?!\|)", re.MULTILINE)
"""A table header and its alignment row, with no row after them."""


@pytest.mark.parametrize(
    "head",
    [
        CONTAINER.replace("srv:1", "srv:2"),
        CONTAINER.replace("{in_flight: [running]}", "{in_flight: [running], path: /m}"),
        CONTAINER.replace("domain: models.example.com}", "domain: example.org}"),
        CONTAINER,
    ],
    ids=["image", "metrics", "endpoints", "unchanged"],
)
def test_no_markdown_table_is_printed_empty(tmp_path: Path, head: str) -> None:
    assert TABLE.search("| | model | change |\n|---|---|---|\n\n")  # what it looks for
    markdown = plan(tmp_path, CONTAINER, head, "--format", "markdown").stdout
    assert not TABLE.search(markdown), markdown


@pytest.mark.parametrize(
    ("base", "head", "ident"),
    [
        (SERVING_OLD, WITHOUT_OLD, "delete-serving-model"),
        (BASE, BASE.replace("      staging: {deployment: v4}\n", ""), "delete-environment"),
        (
            SPLIT,
            SPLIT.replace("{v3: 90, v5: 10}", "{v3: 100}").replace("      v5: {}\n", ""),
            "delete-split-deployment",
        ),
        (
            BASE,
            BASE.replace("      v3: {}\n", "").replace("deployment: v3\n", "deployment: v2\n")
            .replace("      v2: {state: inactive}", "      v2: {}"),
            "delete-serving-deployment",
        ),
        (
            BASE.replace("  old:\n    image: x\n", "  old:\n    image: x\n    imag: y\n"),
            BASE,
            "base-invalid",
        ),
    ],
)  # fmt: skip
def test_each_finding_reads_the_same_in_every_format(
    tmp_path: Path, base: str, head: str, ident: str
) -> None:
    (finding,) = findings_of(plan_json(tmp_path, base, head), ident)
    model, level, message = finding["model"], finding["level"], finding["message"]
    text = plan(tmp_path, base, head).stdout
    assert f"  {level:<7} {ident} ({model}): {message}\n" in text
    markdown = plan(tmp_path, base, head, "--format", "markdown").stdout
    icon = {"error": "🛑", "warning": "⚠️"}[level]
    assert f"- {icon} **{level}** `{ident}` ({model}): {message}\n" in markdown

"""Traffic splits through the lifecycle (issue #19, item 2): promoting out of a split (with
`iac promote` or by hand) and rolling back, the plan's events, findings and rollout, the
stages `iac up` applies, and what policies, `iac status` and `iac simulate` say of a split
and of a side at weight 0."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from iac import edit
from iac.cli import cli
from iac.compile import compile_stack
from iac.diff.describe import describe_rollout
from iac.diff.plan import make_plan
from iac.policy.facts import facts_from_objects, facts_from_release
from iac.policy_pack.policies import make_policy
from iac.rollout.planner import plan_rollout
from iac.rollout.stages import stages
from iac.simulate.setup import setup_for
from iac.spec.stack import Promotion
from iac.status import read_status
from tests.support.compile_helpers import object_validator
from tests.support.policy_pack import (
    as_engine_sends,
    comparable_facts,
    pack_resources,
    run_policy,
)
from tests.support.recorded_kubectl import Recorded
from tests.support.stacks import compiled_stack, load_stack, write_stack

SPLIT = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, provisioner: karpenter, domain: models.example.com}
policies: {pinned_images: {enabled: false}, resources_declared: {enabled: false}}
models:
  llama:
    template: vllm
    params: {hf_model: org/llama}
    resources: {accelerator: H100}
    deployments:
      v3: {}
      v4: {image: vllm/vllm-openai:v0.7.0}
    environments:
      production:
        traffic: {v3: 90, v4: 10}
        autoscaling: {min_replicas: 2, max_replicas: 6}
        promotion: {cleanup: deactivate}
auth: {public: true}
"""


def plan_of(tmp_path: Path, base: str, head: str) -> Any:
    base_stack = load_stack(tmp_path, base, "base.yaml")
    head_stack = load_stack(tmp_path, head, "head.yaml")
    return head_stack, make_plan(compile_stack(base_stack), compile_stack(head_stack))


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# `iac promote` ------------------------------------------------------------------------------


def test_promote_out_of_a_split_cleans_up_the_other_side(tmp_path: Path) -> None:
    path = write_stack(tmp_path, SPLIT)
    before = path.read_text()
    result = edit.promote(str(path), "llama", "v4", "production")
    assert changed_lines(before, path.read_text()) == [
        "-      v3: {}",
        "+      v3: {state: inactive}",
        "-        traffic: {v3: 90, v4: 10}",
        "+        deployment: v4",
    ]
    assert result.summary == (
        "v4 now serves production of llama; v3 is deactivated (cleanup: deactivate)"
    )


def test_a_rollback_out_of_a_split_cleans_up_the_canary(tmp_path: Path) -> None:
    path = write_stack(tmp_path, SPLIT.replace("cleanup: deactivate", "cleanup: keep"))
    before = path.read_text()
    result = edit.promote(str(path), "llama", "v3", "production")
    assert changed_lines(before, path.read_text()) == [
        "-      v4: {image: vllm/vllm-openai:v0.7.0}",
        "+      v4: {image: vllm/vllm-openai:v0.7.0, autoscaling: {min_replicas: 2, "
        "max_replicas: 6}}",
        "-        traffic: {v3: 90, v4: 10}",
        "+        deployment: v3",
    ]
    assert result.summary == (
        "v3 now serves production of llama; v4 keeps running with the environment's scaling "
        "(cleanup: keep)"
    )


def test_promote_out_of_a_three_way_split_cleans_up_every_other_side(tmp_path: Path) -> None:
    three = SPLIT.replace("      v3: {}\n", "      v3: {}\n      v5: {}\n").replace(
        "traffic: {v3: 90, v4: 10}", "traffic: {v3: 90, v4: 10, v5: 0}"
    )
    path = write_stack(tmp_path, three.replace("cleanup: deactivate", "cleanup: scale_to_zero"))
    result = edit.promote(str(path), "llama", "v4", "production")
    assert result.summary == (
        "v4 now serves production of llama; "
        "v3 falls back to its own scaling and scales to zero when idle (cleanup: scale_to_zero); "
        "v5 falls back to its own scaling and scales to zero when idle (cleanup: scale_to_zero)"
    )


# `iac plan` of a hand edit ----------------------------------------------------------------


def test_a_hand_edit_out_of_a_split_is_a_promotion_from_the_other_side(tmp_path: Path) -> None:
    head = SPLIT.replace("traffic: {v3: 90, v4: 10}", "deployment: v4")
    _, plan = plan_of(tmp_path, SPLIT, head)
    (promote,) = [e for e in plan.events if e["kind"] == "promote"]
    assert promote == {
        "kind": "promote",
        "model": "llama",
        "environment": "production",
        "from": "v3",
        "to": "v4",
        "changes": {"traffic": {"from": {"v3": 90, "v4": 10}, "to": {"v4": 100}}},
    }
    # v3 left active by the hand edit, where the environment's cleanup deactivates it.
    (finding,) = [f for f in plan.findings if f.id == "cleanup-policy-mismatch"]
    assert (finding.deployment, finding.message) == (
        "v3",
        "production's cleanup is `deactivate`, but v3 is left active: set `state: inactive` on "
        "it (or run `iac promote`)",
    )
    # A rollout, from the canary's share: up to the environment's floor at 10 %, then all.
    (rollout,) = plan.rollouts
    assert rollout.to_dict()["from_traffic"] == {"v3": 90, "v4": 10}
    assert [(s.action, s.previous_replicas, s.candidate_replicas, s.candidate_weight)
            for s in rollout.steps] == [
        ("scale-up", 2, 2, 10),
        ("shift", 2, 2, 100),
        ("cleanup", 0, 2, 100),
    ]  # fmt: skip


def test_a_hand_rollback_names_the_canary_and_checks_its_cleanup(tmp_path: Path) -> None:
    head = SPLIT.replace("traffic: {v3: 90, v4: 10}", "deployment: v3").replace(
        "      v4: {image", "      v4: {state: inactive, image"
    )
    _, plan = plan_of(tmp_path, SPLIT, head)
    (promote,) = [e for e in plan.events if e["kind"] == "promote"]
    assert (promote["from"], promote["to"]) == ("v4", "v3")  # not "v3 → v3"
    assert [f.id for f in plan.findings if f.id == "cleanup-policy-mismatch"] == []
    (rollout,) = plan.rollouts
    assert (rollout.previous, rollout.candidate, rollout.leaving) == ("v4", "v3", ("v4",))
    assert [s.candidate_weight for s in rollout.steps] == [90, 100, 100]


def test_moving_weights_stays_by_hand_but_a_side_that_leaves_is_checked(tmp_path: Path) -> None:
    base = SPLIT.replace("      v3: {}\n", "      v3: {}\n      v5: {}\n")
    head = base.replace("traffic: {v3: 90, v4: 10}", "traffic: {v3: 50, v5: 50}")
    _, plan = plan_of(tmp_path, base, head)
    assert plan.rollouts == []  # weights are moved by hand, weight by weight
    (finding,) = [f for f in plan.findings if f.id == "cleanup-policy-mismatch"]
    assert finding.deployment == "v4"


def test_a_rolling_promotion_from_a_split_never_moves_traffic_back(tmp_path: Path) -> None:
    rolling = Promotion(strategy="rolling", max_surge_percent=25)
    plan = plan_rollout("m", "e", "v3", "v4", rolling, 8, (("v3", 60), ("v4", 40)))
    # The canary runs its share of 8 (3.2 → 3) and gets 40 % already. A batch of 2 comes up
    # first (the 40 % stays: 3 ready of 8 would be less), then traffic follows ready ones.
    assert [(s.action, s.previous_replicas, s.candidate_replicas, s.candidate_weight)
            for s in plan.steps] == [
        ("scale-up", 5, 5, 40), ("shift", 3, 7, 62), ("shift", 1, 8, 88),
        ("shift", 0, 8, 100), ("cleanup", 0, 8, 100),
    ]  # fmt: skip
    assert plan.min_ready_replicas == 8
    # Alone already (the other side was dark): nothing to move, only the cleanup.
    alone = plan_rollout("m", "e", "v3", "v4", rolling, 8, (("v3", 0), ("v4", 100)))
    assert [s.action for s in alone.steps] == ["cleanup"]


def test_the_stages_of_a_promotion_out_of_a_split(tmp_path: Path) -> None:
    head_text = SPLIT.replace("traffic: {v3: 90, v4: 10}", "deployment: v4").replace(
        "      v3: {}", "      v3: {state: inactive}"
    )
    head, plan = plan_of(tmp_path, SPLIT, head_text)
    found = stages(head, plan.rollouts)
    assert [s.description for s in found] == [
        "llama/production: 10% to v4 (2 replicas, v3 2)",
        "llama/production: 100% to v4 (2 replicas, v3 2)",
        "llama/production: v3 deactivate",
    ]

    def production(stage: int) -> tuple[list[Any], dict[str, tuple[int, int]]]:
        objects = found[stage].compile().objects
        assert [p for o in objects for p in object_validator().problems(o)] == []
        rule = next(
            r
            for o in objects
            if o["kind"] == "HTTPRoute"
            for r in o["spec"]["rules"]
            if r["matches"][0]["path"]["value"] == "/environments/production"
        )
        scalers = {
            o["metadata"]["name"]: (o["spec"]["minReplicaCount"], o["spec"]["maxReplicaCount"])
            for o in objects
            if o["kind"] == "ScaledObject"
        }
        return rule["backendRefs"], scalers

    refs, scalers = production(0)
    assert refs == [
        {"name": "llama-v3", "port": 8000, "weight": 90},
        {"name": "llama-v4", "port": 8000, "weight": 10},
    ]
    assert scalers == {"llama-v3": (2, 2), "llama-v4": (2, 2)}
    refs, scalers = production(1)
    # v3 at weight 0 is left out of the route, still held up until the cleanup.
    assert refs == [{"name": "llama-v4", "port": 8000}]
    assert scalers == {"llama-v3": (2, 2), "llama-v4": (2, 2)}
    assert found[-1].compile().objects == compile_stack(head).objects


def test_a_candidate_with_every_request_already_waits_only_for_its_cleanup(
    tmp_path: Path,
) -> None:
    """Beside another promotion in the same change, whose steps it must not break."""
    base = (
        SPLIT.replace("traffic: {v3: 90, v4: 10}", "traffic: {v3: 100, v4: 0}")
        .replace("      v4: {image", "      v5: {}\n      v6: {}\n      v4: {image")
        .replace(
            "auth: {public: true}\n", "      staging: {deployment: v5}\nauth: {public: true}\n"
        )
    )
    head_text = (
        base.replace("traffic: {v3: 100, v4: 0}", "deployment: v3")
        .replace("staging: {deployment: v5}", "staging: {deployment: v6}")
        .replace("      v4: {image", "      v4: {state: inactive, image")
    )
    head, plan = plan_of(tmp_path, base, head_text)
    assert [(r.environment, [s.action for s in r.steps]) for r in plan.rollouts] == [
        ("production", ["cleanup"]),
        ("staging", ["scale-up", "shift", "cleanup"]),
    ]
    assert describe_rollout(plan.rollouts[0]) == (
        "no traffic to move: v3 has every request already, 2 replica(s), peak 2; "
        "then v4 is deactivated"
    )
    found = stages(head, plan.rollouts)
    assert [s.description for s in found] == [
        "llama/staging: 0% to v6 (1 replicas, v5 1)",
        "llama/staging: 100% to v6 (1 replicas, v5 1)",
        "llama/production: v4 deactivate; llama/staging: v5 scale to zero",
    ]


# Policies, status, simulation -------------------------------------------------------------


def test_the_min_replicas_hint_names_the_floor_that_gives_each_side_enough(
    tmp_path: Path,
) -> None:
    text = (
        SPLIT.replace("policies: {", "policies: {min_replicas: {min: 2}, no_scale_to_zero: {}, ")
        .replace("      v4: {image", "      v5: {}\n      v4: {image")
        .replace("traffic: {v3: 90, v4: 10}", "traffic: {v3: 90, v4: 10, v5: 0}")
    )
    result = CliRunner().invoke(cli, ["validate", str(write_stack(tmp_path, text))])
    assert result.exit_code == 1
    # v3 keeps 2 (its share of the floor); v4 gets 1; v5 (dark, 0..1) is not judged.
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'stack.yaml'}:17:37: error: models.llama.environments.production."
        "autoscaling.min_replicas: production of llama runs 1 replica(s) at least on v4, which "
        "gets 10 % of its requests; the policy asks for 2; set min_replicas: 16 on the "
        "environment (and max_replicas ≥ 16), as each side of a split keeps its weight's share "
        "of it; or give v4 more weight, or end the split [min-replicas]"
    ]


def test_the_policy_pack_sees_splits_and_dark_sides_as_iac_does(tmp_path: Path) -> None:
    text = SPLIT.replace(
        "      v4: {image", "      v5: {}\n      v6: {}\n      v4: {image"
    ).replace(
        "        promotion: {cleanup: deactivate}\n",
        "        promotion: {cleanup: deactivate}\n"
        "      staging:\n"
        "        traffic: {v5: 100, v6: 0}\n",
    )
    compiled = compiled_stack(tmp_path, text)
    from_release = facts_from_release(compiled.release)
    assert [comparable_facts(f) for f in from_release] == [
        comparable_facts(f) for f in facts_from_objects(compiled.objects)
    ]
    traffic = {f.deployment: (f.traffic, f.dark) for f in from_release}
    assert traffic == {
        "v3": ((("v3", 90), ("v4", 10)), False),
        "v4": ((("v3", 90), ("v4", 10)), False),
        "v5": ((("v5", 100),), False),
        "v6": ((("v5", 100),), True),
    }


def test_status_does_not_call_a_dark_side_drift(tmp_path: Path) -> None:
    text = SPLIT.replace("traffic: {v3: 90, v4: 10}", "traffic: {v3: 100, v4: 0}")
    stack = load_stack(tmp_path, text)
    (status,) = read_status(stack, Recorded(compile_stack(stack).objects, {}))
    assert status.declared == {"v3": 100, "v4": 0}
    assert [(d.name, d.weight) for d in status.live] == [("v3", 100)]
    assert not status.drift


def test_a_dark_side_is_sent_none_of_a_simulated_trace_nor_alerted_at_its_cap(
    tmp_path: Path,
) -> None:
    text = SPLIT.replace("traffic: {v3: 90, v4: 10}", "traffic: {v3: 100, v4: 0}")
    compiled = compiled_stack(tmp_path, text)
    assert [s.deployment for s in setup_for(compiled, None, "llama", "production")] == ["v3"]
    alerts = [
        rule
        for o in compiled.objects
        if o["kind"] == "PrometheusRule"
        for group in o["spec"]["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "IacStuckAtMaxReplicas"
    ]
    assert [a["labels"]["deployment"] for a in alerts] == ["v3"]


def test_the_pack_gives_the_same_hint_from_the_engines_floats(tmp_path: Path) -> None:
    model = """\
models:
  llama:
    image: vllm/vllm-openai:v0.6.3
    resources: {accelerator: H100, cpu: "8", memory: 64Gi}
    deployments: {v3: {}, v4: {}, v5: {}}
    environments:
      production:
        traffic: {v3: 90, v4: 10, v5: 0}
        autoscaling: {min_replicas: 2, max_replicas: 6}
auth: {public: true}
"""
    resources = pack_resources(tmp_path, model)
    for resource in resources:
        resource.props = as_engine_sends(resource.props)  # type: ignore[assignment]
    reported = run_policy(make_policy("min-replicas"), resources, {"min": 2.0})
    assert [m for m, _ in reported] == [
        "[min-replicas] llama/production/v4: production of llama runs 1 replica(s) at least on "
        "v4, which gets 10 % of its requests; the policy asks for 2; set min_replicas: 16 on "
        "the environment (and max_replicas ≥ 16), as each side of a split keeps its weight's "
        "share of it; or give v4 more weight, or end the split"
    ]
    zero = run_policy(make_policy("no-scale-to-zero"), resources, {"environments": ["production"]})
    assert zero == []  # v5 is dark: 0..1, sent none of production's requests


@settings(max_examples=300, deadline=None)
@given(
    replicas=st.integers(min_value=1, max_value=40),
    weight=st.integers(min_value=0, max_value=99),
    surge=st.sampled_from([0, 10, 25, 50]),
    unavailable=st.sampled_from([10, 25, 50]),
)
def test_a_rolling_promotion_out_of_any_split_keeps_serving_and_ends_whole(
    replicas: int, weight: int, surge: int, unavailable: int
) -> None:
    """From a split of any weights: the candidate starts from its share, traffic only grows
    from its weight, a step never has nothing ready, and the candidate ends with all."""
    promotion = Promotion(
        strategy="rolling",
        max_surge_percent=surge,
        max_unavailable_percent=0 if surge else unavailable,
    )
    plan = plan_rollout(
        "m", "e", "v3", "v4", promotion, replicas, (("v3", 100 - weight), ("v4", weight))
    )
    shares = [s.candidate_weight for s in plan.steps]
    assert shares == sorted(shares)
    assert shares[0] >= weight
    assert shares[-1] == 100
    assert all(s.ready_replicas >= 1 for s in plan.steps)
    assert (plan.steps[-1].candidate_replicas, plan.steps[-1].previous_replicas) == (replicas, 0)

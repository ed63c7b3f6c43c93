"""The rollout planner and the stages `iac up` applies (issue #7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.rollout.planner import plan_rollout
from iac.rollout.stages import stages
from iac.spec.stack import Promotion
from tests.compile_helpers import ROOT, _validator


def shape(promotion: Promotion, replicas: int) -> list[tuple[str, int, int, int, int]]:
    plan = plan_rollout("m", "production", "v3", "v4", promotion, replicas)
    return [
        (s.action, s.previous_replicas, s.candidate_replicas, s.candidate_weight, s.peak_replicas)
        for s in plan.steps
    ]


def test_surge_25_percent_from_100_replicas() -> None:
    """Baseten's example: candidates up by 25, traffic follows, previous down by 25."""
    assert shape(Promotion(strategy="rolling", max_surge_percent=25), 100) == [
        ("shift", 75, 25, 25, 125),
        ("shift", 50, 50, 50, 125),
        ("shift", 25, 75, 75, 125),
        ("shift", 0, 100, 100, 125),
        ("cleanup", 0, 100, 100, 100),
    ]


def test_unavailable_25_percent_never_exceeds_the_replica_count() -> None:
    steps = shape(
        Promotion(strategy="rolling", max_surge_percent=0, max_unavailable_percent=25), 100
    )
    assert [s[:4] for s in steps] == [
        ("shift", 75, 25, 25),
        ("shift", 50, 50, 50),
        ("shift", 25, 75, 75),
        ("shift", 0, 100, 100),
        ("cleanup", 0, 100, 100),
    ]
    assert max(s[4] for s in steps) == 100


def test_overhead_adds_headroom_to_the_previous_deployment_first() -> None:
    steps = shape(
        Promotion(strategy="rolling", max_surge_percent=50, replica_overhead_percent=20), 10
    )
    assert steps == [
        ("prepare", 12, 0, 0, 12),
        ("shift", 7, 5, 50, 17),
        ("shift", 0, 10, 100, 17),
        ("cleanup", 0, 10, 100, 10),
    ]


@pytest.mark.parametrize(("replicas", "count"), [(1, 1), (2, 2), (3, 3), (7, 4)])
def test_small_environments_take_whole_replica_steps(replicas: int, count: int) -> None:
    steps = shape(Promotion(strategy="rolling", max_surge_percent=25), replicas)
    shifts = [s for s in steps if s[0] == "shift"]
    assert len(shifts) == count
    assert shifts[-1][1:4] == (0, replicas, 100)


def test_pinned_environment_and_first_binding() -> None:
    pinned = shape(Promotion(strategy="rolling", max_surge_percent=50, stabilization=600), 4)
    assert [s[3] for s in pinned] == [50, 100, 100]
    first = plan_rollout(
        "m", "production", None, "v1", Promotion(strategy="rolling", max_surge_percent=25), 3
    )
    assert first.strategy == "immediate"  # nothing to shift from: up, then all traffic
    assert [s.action for s in first.steps] == ["scale-up", "shift"]
    assert first.minimum_seconds == 0


def test_waits_sum_to_the_minimum_duration() -> None:
    plan = plan_rollout(
        "m",
        "e",
        "a",
        "b",
        Promotion(strategy="rolling", max_surge_percent=25, stabilization=300),
        8,
    )
    assert plan.minimum_seconds == 3 * 300  # no wait after the last shift
    keep = plan_rollout("m", "e", "a", "b", Promotion(cleanup="keep"), 2)
    assert keep.steps[-1].previous_replicas == 2  # `keep` leaves the previous one running


HEAD = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, provisioner: karpenter}
models:
  llama:
    template: vllm
    params: {hf_model: org/llama}
    resources: {accelerator: H100, cpu: "8", memory: 64Gi}
    deployments: {v3: {}, v4: {image: "vllm/vllm-openai:v0.7.0"}, v5: {}, v6: {}}
    environments:
      production:
        deployment: PROD
        autoscaling: {min_replicas: 4, max_replicas: 8}
        promotion: {strategy: rolling, max_surge_percent: 50, stabilization: 5m, cleanup: deactivate,
                    gates: [{name: errors, query: "iac:request_errors:ratio_rate5m", max: 0.02}]}
      staging:
        deployment: STAGING
        autoscaling: {min_replicas: 1, max_replicas: 2}
"""


def test_two_environments_promoted_in_one_change_advance_in_lockstep(tmp_path: Path) -> None:
    from iac.validate import check_stack

    def load(name: str, prod: str, staging: str, deactivate: str = "") -> object:
        text = (
            HEAD.replace("MODULES", str(ROOT / "modules"))
            .replace("PROD", prod)
            .replace("STAGING", staging)
        )
        if deactivate:
            text = text.replace(f"{deactivate}: {{}}", f"{deactivate}: {{state: inactive}}")
        (tmp_path / name).write_text(text)
        return check_stack(str(tmp_path / name))

    base = load("base.yaml", "v3", "v4")
    head = load("head.yaml", "v5", "v6", deactivate="v3")
    plan = make_plan(compile_stack(base), compile_stack(head))
    assert [(r.environment, r.previous, r.candidate, r.strategy) for r in plan.rollouts] == [
        ("production", "v3", "v5", "rolling"),
        ("staging", "v4", "v6", "immediate"),
    ]
    found = stages(head, plan.rollouts)
    assert [s.description for s in found] == [
        "llama/production: 50% to v5 (2 replicas, v3 2); llama/staging: 0% to v6 (1 replicas, v4 1)",
        "llama/production: 100% to v5 (4 replicas, v3 0); llama/staging: 100% to v6 (1 replicas, v4 1)",
        "llama/production: v3 deactivate; llama/staging: v4 scale to zero",
    ]
    assert [s.wait_seconds for s in found] == [300, 0, 0]
    assert [g.name for _, g in found[0].gates] == ["errors"]
    first = found[0].compile()
    problems = [p for o in first.objects for p in _validator().problems(o)]
    assert problems == []
    route = next(o for o in first.objects if o["kind"] == "HTTPRoute")
    # No domain: the models share one host, below /models/<model>.
    production_path = "/models/llama/environments/production"
    production = next(
        r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == production_path
    )
    assert production["backendRefs"] == [
        {"name": "llama-v3", "port": 8000, "weight": 50},
        {"name": "llama-v5", "port": 8000, "weight": 50},
    ]
    scalers = {
        o["metadata"]["name"]: o["spec"] for o in first.objects if o["kind"] == "ScaledObject"
    }
    assert (scalers["llama-v5"]["minReplicaCount"], scalers["llama-v5"]["maxReplicaCount"]) == (
        2,
        2,
    )
    assert (scalers["llama-v3"]["minReplicaCount"], scalers["llama-v3"]["maxReplicaCount"]) == (
        2,
        2,
    )
    final = found[-1].compile()
    assert final.objects == compile_stack(head).objects  # the last stage is the head

"""The rollout planner and the stages `iac up` applies (issue #7)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.rollout.planner import plan_rollout
from iac.rollout.stages import stages
from iac.spec.stack import Promotion
from tests.support.compile_helpers import object_validator
from tests.support.stacks import llama_stack, load_stack

Shape = tuple[str, int, int, int, int, int]


def shape(promotion: Promotion, replicas: int) -> list[Shape]:
    """(action, previous, candidate, weight, peak, ready) of each step."""
    plan = plan_rollout("m", "production", "v3", "v4", promotion, replicas)
    return [
        (
            s.action,
            s.previous_replicas,
            s.candidate_replicas,
            s.candidate_weight,
            s.peak_replicas,
            s.ready_replicas,
        )
        for s in plan.steps
    ]


def rolling(surge: int = 0, unavailable: int = 0, **settings: Any) -> Promotion:
    return Promotion(
        strategy="rolling",
        max_surge_percent=surge,
        max_unavailable_percent=unavailable,
        **settings,
    )


def test_surge_25_percent_from_100_replicas() -> None:
    """Baseten's example: 25 candidates come up beside the 100; once ready they take their
    share of the traffic and 25 previous replicas go, while the next 25 come up."""
    assert shape(rolling(surge=25), 100) == [
        ("scale-up", 100, 25, 0, 125, 100),
        ("shift", 75, 50, 25, 125, 100),
        ("shift", 50, 75, 50, 125, 100),
        ("shift", 25, 100, 75, 125, 100),
        ("shift", 0, 100, 100, 100, 100),
        ("cleanup", 0, 100, 100, 100, 100),
    ]


def test_unavailable_25_percent_never_exceeds_the_replica_count() -> None:
    """25 previous replicas go first and 25 candidates come; traffic follows the 75 that
    are ready."""
    assert shape(rolling(unavailable=25), 100) == [
        ("scale-up", 75, 25, 0, 100, 75),
        ("shift", 50, 50, 33, 100, 75),
        ("shift", 25, 75, 67, 100, 75),
        ("shift", 0, 100, 100, 100, 75),
        ("cleanup", 0, 100, 100, 100, 100),
    ]


def test_the_issue_case_adds_a_surge_replica_and_says_why() -> None:
    """Issue #19 item 3: min = max = 1 replica, max_unavailable_percent 25 used to take the
    only replica down for a whole cold start. 25 % of 1 rounds down to none: one surge
    replica comes up first, and v3 serves until it is ready."""
    promotion = rolling(unavailable=25)
    assert shape(promotion, 1) == [
        ("scale-up", 1, 1, 0, 2, 1),
        ("shift", 0, 1, 100, 1, 1),
        ("cleanup", 0, 1, 100, 1, 1),
    ]
    plan = plan_rollout("llama", "production", "v3", "v4", promotion, 1)
    assert (plan.surge_added, plan.peak_replicas, plan.min_ready_replicas) == (1, 2, 1)
    assert plan.note == (
        "1 surge replica added (max_surge_percent is 0): max_unavailable_percent 25 of 1 "
        "replica rounds down to none, so each v3 replica serves until a v4 one is ready to "
        "replace it"
    )


@pytest.mark.parametrize(
    ("replicas", "unavailable", "taken"), [(3, 25, 0), (4, 25, 1), (3, 50, 1), (2, 50, 1)]
)
def test_unavailable_rounds_down_as_kubernetes_does(
    replicas: int, unavailable: int, taken: int
) -> None:
    plan = plan_rollout("m", "e", "a", "b", rolling(unavailable=unavailable), replicas)
    assert plan.min_ready_replicas == replicas - taken
    assert plan.surge_added == (1 if taken == 0 else 0)
    assert plan.peak_replicas == replicas + plan.surge_added


def test_allow_unavailable_takes_the_only_replica_down() -> None:
    promotion = rolling(unavailable=25, allow_unavailable=True)
    assert shape(promotion, 1) == [
        ("scale-up", 0, 1, 0, 1, 0),
        ("shift", 0, 1, 100, 1, 1),
        ("cleanup", 0, 1, 100, 1, 1),
    ]
    plan = plan_rollout("m", "production", "v3", "v4", promotion, 1)
    assert (plan.surge_added, plan.min_ready_replicas) == (0, 0)
    assert plan.note == (
        "max_unavailable_percent 25 of 1 replica rounds down to none; allow_unavailable takes "
        "1 down per step anyway, leaving 0 ready"
    )
    # With more replicas, one down leaves the rest serving.
    assert plan_rollout("m", "e", "a", "b", promotion, 3).min_ready_replicas == 2


def test_overhead_adds_headroom_to_the_previous_deployment_first() -> None:
    assert shape(rolling(surge=50, replica_overhead_percent=20), 10) == [
        ("prepare", 12, 0, 0, 12, 10),
        ("scale-up", 12, 5, 0, 17, 12),
        ("shift", 7, 10, 50, 17, 12),
        ("shift", 0, 10, 100, 10, 10),
        ("cleanup", 0, 10, 100, 10, 10),
    ]
    # The headroom lets max_unavailable_percent keep every replica the environment needs.
    steps = shape(rolling(unavailable=25, replica_overhead_percent=20), 10)
    assert {s[5] for s in steps} == {10}
    assert max(s[4] for s in steps) == 12


@pytest.mark.parametrize(
    ("replicas", "weights"),
    [(1, [100]), (2, [50, 100]), (3, [33, 67, 100]), (7, [29, 57, 86, 100])],
)
def test_small_environments_take_whole_replica_steps(replicas: int, weights: list[int]) -> None:
    steps = shape(rolling(surge=25), replicas)
    assert [s[3] for s in steps if s[0] == "shift"] == weights
    assert steps[-1][1:4] == (0, replicas, 100)


def test_pinned_environment_and_first_binding() -> None:
    pinned = shape(rolling(surge=50, stabilization=600), 4)
    assert [s[3] for s in pinned] == [0, 50, 100, 100]
    first = plan_rollout("m", "production", None, "v1", rolling(surge=25), 3)
    assert first.strategy == "immediate"  # nothing to shift from: up, then all traffic
    assert [s.action for s in first.steps] == ["scale-up", "shift"]
    assert first.minimum_seconds == 0
    assert (first.note, first.surge_added) == ("", 0)


def test_waits_sum_to_the_minimum_duration() -> None:
    plan = plan_rollout("m", "e", "a", "b", rolling(surge=25, stabilization=300), 8)
    assert plan.minimum_seconds == 3 * 300  # no wait after the last shift
    assert [s.wait_seconds for s in plan.steps if s.action != "shift"] == [0, 0]
    keep = plan_rollout("m", "e", "a", "b", Promotion(cleanup="keep"), 2)
    assert keep.steps[-1].previous_replicas == 2  # `keep` leaves the previous one running


percents = st.integers(min_value=0, max_value=100)


@settings(max_examples=400, deadline=None)
@given(
    replicas=st.integers(min_value=1, max_value=50),
    surge=percents,
    unavailable=percents,
    overhead=st.integers(min_value=0, max_value=500),
    allow=st.booleans(),
    cleanup=st.sampled_from(["scale_to_zero", "keep", "deactivate"]),
)
def test_no_step_leaves_an_environment_with_nothing_ready(
    replicas: int, surge: int, unavailable: int, overhead: int, allow: bool, cleanup: str
) -> None:
    """Over any replica count and percents (beyond the schema's 50 %, built unchecked):
    readiness counted independently of the planner, from consecutive steps (a step's new
    replicas are loading, its removed ones are gone), never drops to zero unless
    allow_unavailable insists, nor below what max_unavailable_percent (rounded down) lets go;
    traffic only grows, onto ready candidates; the plan ends with the candidate at full
    replicas and all traffic; the pool's surge counts the peak."""
    if surge:
        unavailable, allow = 0, False  # the schema wants exactly one of them
    elif not unavailable:
        surge, allow = 25, False
    promotion = Promotion.model_construct(
        strategy="rolling",
        max_surge_percent=surge,
        max_unavailable_percent=unavailable,
        replica_overhead_percent=overhead,
        allow_unavailable=allow,
        cleanup=cleanup,
        stabilization=60,
    )
    plan = plan_rollout("m", "e", "v1", "v2", promotion, replicas)
    # Replicas max_unavailable_percent lets go, rounded down, never all of them.
    taken = 0 if surge else min(replicas * unavailable // 100, replicas - 1)
    added = not surge and taken == 0 and not allow
    floor = replicas - (max(1, taken) if allow else taken)
    head_room = math.ceil(replicas * overhead / 100)
    # Only allow_unavailable, on one replica with no headroom, leaves nothing ready.
    empty = allow and replicas == 1 and head_room == 0
    previous, candidate, weight = replicas, 0, 0
    for step in plan.steps:
        ready = min(previous, step.previous_replicas) + min(candidate, step.candidate_replicas)
        assert step.ready_replicas == ready
        assert ready >= max(1, floor) or (empty and ready == 0)
        assert step.candidate_weight >= weight
        if step.candidate_weight:
            assert candidate > 0  # traffic goes to candidates ready before the step
        previous, candidate = step.previous_replicas, step.candidate_replicas
        weight = step.candidate_weight
    *_, last, final = plan.steps
    assert (last.action, last.previous_replicas, last.candidate_replicas) == ("shift", 0, replicas)
    assert (final.action, final.candidate_replicas, final.candidate_weight) == (
        "cleanup",
        replicas,
        100,
    )
    assert (plan.min_ready_replicas == 0) == empty
    assert plan.surge_added == int(added)
    # The plan says why its steps differ from the percent as written.
    as_written = replicas * unavailable // 100
    assert bool(plan.note) == (added or as_written != promotion.unavailable_replicas(replicas))
    # What the node pool is sized for (iac.compile.release._demands) holds the peak.
    assert plan.peak_replicas == replicas + head_room + promotion.surge_replicas(replicas)


HEAD = llama_stack(
    """\
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
""",
    cluster="{name: c, provisioner: karpenter}",
)


def test_two_environments_promoted_in_one_change_advance_in_lockstep(tmp_path: Path) -> None:

    def load(name: str, prod: str, staging: str, deactivate: str = "") -> object:
        text = HEAD.replace("PROD", prod).replace("STAGING", staging)
        if deactivate:
            text = text.replace(f"{deactivate}: {{}}", f"{deactivate}: {{state: inactive}}")
        return load_stack(tmp_path, text, name)

    base = load("base.yaml", "v3", "v4")
    head = load("head.yaml", "v5", "v6", deactivate="v3")
    plan = make_plan(compile_stack(base), compile_stack(head))
    assert [(r.environment, r.previous, r.candidate, r.strategy) for r in plan.rollouts] == [
        ("production", "v3", "v5", "rolling"),
        ("staging", "v4", "v6", "immediate"),
    ]
    found = stages(head, plan.rollouts)
    assert [s.description for s in found] == [
        "llama/production: 0% to v5 (2 replicas, v3 4); llama/staging: 0% to v6 (1 replicas, v4 1)",
        "llama/production: 50% to v5 (4 replicas, v3 2); llama/staging: 100% to v6 (1 replicas, v4 1)",
        "llama/production: 100% to v5 (4 replicas, v3 0); llama/staging: 100% to v6 (1 replicas, v4 1)",
        "llama/production: v3 deactivate; llama/staging: v4 scale to zero",
    ]
    assert [s.wait_seconds for s in found] == [0, 300, 0, 0]
    # Gates judge traffic the candidate took: none while it only comes up.
    assert [[g.name for _, g in s.gates] for s in found] == [[], ["errors"], ["errors"], []]
    # While v5 only comes up it is sent nothing: the route has v3 alone (a 0 % side is not a
    # backend of the environment's rule, iac.compile.release.split).
    for stage, backends, held in [
        (found[0], [("llama-v3", None)], {"llama-v3": 4, "llama-v5": 2}),
        (found[1], [("llama-v3", 50), ("llama-v5", 50)], {"llama-v3": 2, "llama-v5": 4}),
    ]:
        compiled = stage.compile()
        problems = [p for o in compiled.objects for p in object_validator().problems(o)]
        assert problems == []
        route = next(o for o in compiled.objects if o["kind"] == "HTTPRoute")
        # No domain: the models share one host, below /models/<model>.
        production = next(
            r
            for r in route["spec"]["rules"]
            if r["matches"][0]["path"]["value"] == "/models/llama/environments/production"
        )
        assert [(b["name"], b.get("weight")) for b in production["backendRefs"]] == backends
        scalers = {
            o["metadata"]["name"]: (o["spec"]["minReplicaCount"], o["spec"]["maxReplicaCount"])
            for o in compiled.objects
            if o["kind"] == "ScaledObject"
        }
        assert {name: scalers[name] for name in held} == {k: (n, n) for k, n in held.items()}
    final = found[-1].compile()
    assert final.objects == compile_stack(head).objects  # the last stage is the head

"""Traffic splits (issue #19, item 2): how the sides share the environment's replica bounds
(`iac.compile.release.split`, properties over random weights and bounds) and what a split compiles
to, a side at weight 0 included."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from iac.compile.release.split import apportion, floor_giving, served, side_bounds, side_floor
from iac.diagnostics import Diagnostics
from tests.support.compile_helpers import compile_text, find, kinds


@st.composite
def weights(draw: st.DrawFn, sides: int = 6) -> list[tuple[str, int]]:
    """Whole percents adding up to 100 over 1..`sides` deployments, zeros included."""
    count = draw(st.integers(1, sides))
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 100]
    return [(f"d{i}", bounds[i + 1] - bounds[i]) for i in range(count)]


@st.composite
def environments(draw: st.DrawFn) -> tuple[int, int, list[tuple[str, int]]]:
    """(min_replicas, max_replicas, traffic) of a valid environment."""
    high = draw(st.integers(1, 200))
    return draw(st.integers(0, high)), high, draw(weights())


@settings(max_examples=500, deadline=None)
@given(environments())
def test_each_side_scales_within_its_share_of_the_environment(
    environment: tuple[int, int, list[tuple[str, int]]],
) -> None:
    low, high, traffic = environment
    bounds = side_bounds(low, high, traffic)
    assert set(bounds) == {name for name, _ in traffic}
    sides = served(traffic)
    for name, weight in traffic:
        side_min, side_max = bounds[name]
        assert 0 <= side_min <= side_max <= max(high, 1)
        if weight == 0:
            assert bounds[name] == (0, 1)  # dark: at most one replica, none when idle
        elif len(sides) == 1:
            assert bounds[name] == (low, high)  # the only side sent requests
        else:
            # Routed directly with a weight: a ready replica always (Gateway API 503 rule).
            assert side_min >= 1
            # A warm replica plus its share of the room above one, within one replica.
            assert abs(side_max - 1 - Fraction(weight * (high - 1), 100)) < 1
            # Its share of the floor, within one replica (or the warm one).
            assert abs(side_min - Fraction(weight * low, 100)) < 1 or side_min == 1
    if len(sides) > 1:
        maxima = sum(bounds[name][1] for name, _ in sides)
        minima = sum(bounds[name][0] for name, _ in sides)
        # The environment's ceiling, plus one warm replica for each side beyond the first.
        assert maxima == high + len(sides) - 1
        # The environment's floor, plus the warm replicas of sides whose share is nothing.
        assert low <= minima <= max(low, 1) + len(sides) - 1
    assert sum(side_max for _, side_max in bounds.values()) <= high + len(traffic) - 1


@settings(max_examples=300, deadline=None)
@given(environments())
def test_more_weight_never_gets_fewer_replicas(
    environment: tuple[int, int, list[tuple[str, int]]],
) -> None:
    low, high, traffic = environment
    bounds = side_bounds(low, high, traffic)
    for name, weight in traffic:
        for other, other_weight in traffic:
            if weight > other_weight:
                assert bounds[name][0] >= bounds[other][0]
                assert bounds[name][1] >= bounds[other][1]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), weights())
def test_apportion_hands_out_exactly_the_count_within_one_of_each_share(
    count: int, traffic: list[tuple[str, int]]
) -> None:
    shares = apportion(count, traffic)
    assert sum(shares.values()) == count
    for name, weight in traffic:
        exact = Fraction(count * weight, 100)
        assert math.floor(exact) <= shares[name] <= math.ceil(exact)


@settings(max_examples=200, deadline=None)
@given(weights(), st.integers(1, 6))
def test_floor_giving_is_the_least_environment_floor_that_gives_a_side_enough(
    traffic: list[tuple[str, int]], wanted: int
) -> None:
    for name, weight in traffic:
        floor = floor_giving(name, wanted, traffic)
        if weight == 0:
            assert floor is None
            continue
        assert floor is not None
        assert side_floor(floor, traffic, name) >= wanted
        assert all(side_floor(n, traffic, name) < wanted for n in range(floor))


def test_the_issue_example_the_canary_can_scale_and_the_sides_stay_within_the_environment() -> None:
    # 90/10 with 2..6: before, v7 2..6 and v8 1..1 (the canary could never scale).
    assert side_bounds(2, 6, [("v7", 90), ("v8", 10)]) == {"v7": (2, 5), "v8": (1, 2)}
    # Halves of an odd room: the tie goes by name; the floor of 2 is 1 + 1.
    assert side_bounds(2, 4, [("a", 50), ("b", 50)]) == {"a": (1, 3), "b": (1, 2)}
    # A dark side next to one that takes everything.
    assert side_bounds(0, 3, [("a", 100), ("b", 0)]) == {"a": (0, 3), "b": (0, 1)}
    # A floor's tie goes to the side with more weight: 75/25 of 2 is 2 + 1, not 1 + 1.
    assert side_bounds(2, 8, [("v3", 75), ("v4", 25)]) == {"v3": (2, 6), "v4": (1, 3)}
    # A canary at 10 % keeps 2 replicas once the environment's floor is 16 (14.4 + 1.6; at
    # 15, 13.5 + 1.5 is a tie, which v7 wins).
    assert floor_giving("v8", 2, [("v7", 90), ("v8", 10)]) == 16


HEAD = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, domain: models.example.com}
"""


def test_a_dark_side_gets_no_share_of_the_route_and_waits_behind_the_interceptor(
    tmp_path: Path,
) -> None:
    diagnostics = Diagnostics()
    compiled = compile_text(
        tmp_path,
        HEAD
        + """\
models:
  m:
    template: vllm
    params: {hf_model: org/m}
    deployments: {v3: {}, v4: {}}
    environments:
      production:
        traffic: {v3: 100, v4: 0}
        autoscaling:
          min_replicas: 0
          max_replicas: 4
          schedules: [{start: "0 8 * * *", end: "0 20 * * *", min_replicas: 2}]
  bare:
    image: example/server:1
    deployments: {a: {}, b: {}}
    environments:
      production: {traffic: {a: 100, b: 0}, autoscaling: {min_replicas: 1, max_replicas: 2}}
auth: {public: true}
""",
        diagnostics,
    )
    route = find(compiled, "HTTPRoute", "m")
    rules = {r["matches"][0]["path"]["value"]: r for r in route["spec"]["rules"]}
    # v3 takes every request: routed as if alone, through the interceptor (it may scale to 0).
    production = rules["/environments/production"]
    assert [r["name"] for r in production["backendRefs"]] == ["keda-add-ons-http-interceptor-proxy"]
    header = production["filters"][1]["requestHeaderModifier"]["set"][0]
    assert header == {"name": "x-iac-backend", "value": "m-v3"}
    v3 = find(compiled, "ScaledObject", "m-v3")["spec"]
    assert (v3["minReplicaCount"], v3["maxReplicaCount"]) == (0, 4)
    assert [t["type"] for t in v3["triggers"]] == ["external-push", "cron"]
    # The dark side: 0..1, reached on its own path through the interceptor, no schedule.
    v4 = find(compiled, "ScaledObject", "m-v4")["spec"]
    assert (v4["minReplicaCount"], v4["maxReplicaCount"]) == (0, 1)
    assert [t["type"] for t in v4["triggers"]] == ["external-push"]
    assert "InterceptorRoute" in kinds(compiled, "m-v4")
    own = rules["/deployments/v4"]
    assert own["backendRefs"][0]["name"] == "keda-add-ons-http-interceptor-proxy"
    # A server with no in-flight metric cannot autoscale in a split; `bare` is in none (its
    # other side is sent nothing), so nothing is pinned and nothing is said.
    assert diagnostics.warnings == []
    bare = find(compiled, "ScaledObject", "bare-a")["spec"]
    assert (bare["minReplicaCount"], bare["maxReplicaCount"]) == (1, 2)
    release = compiled.release.models["m"].deployments
    assert (release["v4"].weight, release["v4"].environment, release["v4"].dark) == (
        0,
        "production",
        True,
    )


def test_a_split_shares_the_floor_the_room_and_schedules_by_weight(
    tmp_path: Path,
) -> None:
    compiled = compile_text(
        tmp_path,
        HEAD
        + """\
models:
  m:
    template: vllm
    params: {hf_model: org/m}
    deployments: {v3: {}, v4: {}, v5: {}}
    environments:
      production:
        traffic: {v3: 70, v4: 30, v5: 0}
        autoscaling:
          min_replicas: 3
          max_replicas: 11
          schedules: [{start: "0 8 * * *", end: "0 20 * * *", min_replicas: 9}]
auth: {public: true}
""",
    )
    rule = next(
        r
        for o in compiled.objects
        if o["kind"] == "HTTPRoute"
        for r in o["spec"]["rules"]
        if r["matches"][0]["path"]["value"] == "/environments/production"
    )
    assert rule["backendRefs"] == [
        {"name": "m-v3", "port": 8000, "weight": 70},
        {"name": "m-v4", "port": 8000, "weight": 30},
    ]
    scaling = {name: find(compiled, "ScaledObject", f"m-{name}")["spec"] for name in ("v3", "v4")}
    # Floor 3 → 2.1 + 0.9; room 10 → 7 + 3 above a warm replica each; schedule 9 → 6.3 + 2.7.
    assert [(s["minReplicaCount"], s["maxReplicaCount"]) for s in scaling.values()] == [
        (2, 8),
        (1, 4),
    ]
    crons = [s["triggers"][1]["metadata"]["desiredReplicas"] for s in scaling.values()]
    assert crons == ["6", "3"]
    v5 = find(compiled, "ScaledObject", "m-v5")["spec"]
    assert (v5["minReplicaCount"], v5["maxReplicaCount"], len(v5["triggers"])) == (0, 1, 1)


def test_warm_capacity_is_kept_for_the_side_sent_every_request(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        HEAD
        + """\
models:
  m:
    image: x:1
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments: {v1: {}, v2: {}}
    environments:
      production: {traffic: {v1: 100, v2: 0}, warm: {replicas: 2}}
auth: {public: true}
""",
    )
    assert find(compiled, "Deployment", "iac-warm-m-v1")["spec"]["replicas"] == 2
    assert not [o for o in compiled.objects if o["metadata"]["name"] == "iac-warm-m-v2"]

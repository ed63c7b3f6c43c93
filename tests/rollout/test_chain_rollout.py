"""`iac up` promotes a chain as one unit (issue #27): every chainlet of the candidate chain
deployment comes up and is ready before the entrypoint's route switches, a gate is judged
once, and a failure rolls the whole chain back to the base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iac.compile import Compiled, compile_stack
from iac.diff.plan import make_plan
from iac.rollout.executor import digest, run
from iac.rollout.stages import Stage, stages
from tests.support.recording_engine import Recorder
from tests.support.stacks import load_stack

STACK = """\
version: 1
cluster: {name: c, namespace: models, domain: models.example.com}
chains:
  rag:
    entrypoint: router
    chainlets:
      router:
        image: ghcr.io/example/router:1
        metrics: {in_flight: [router_in_flight]}
        calls: [llm]
      llm:
        image: ghcr.io/example/llm:1
        metrics: {in_flight: [llm_in_flight]}
        resources: {accelerator: "H100:1", cpu: "8", memory: 64Gi}
    deployments:
      v1: {}
      v2: {chainlets: {llm: {image: ghcr.io/example/llm:2}}}
    environments:
      production:
        deployment: PROD
        autoscaling:
          router: {min_replicas: 2, max_replicas: 4}
          llm: {min_replicas: 3, max_replicas: 6}
        promotion:
          gates: [{name: errors, query: 'err{m="$model",d="$deployment"}', max: 0.02}]
auth: {public: true}
"""


@pytest.fixture
def change(tmp_path: Path) -> tuple[Compiled, list[Stage]]:
    base = load_stack(tmp_path, STACK.replace("PROD", "v1"), "base.yaml")
    head = load_stack(tmp_path, STACK.replace("PROD", "v2"), "head.yaml")
    base_compiled = compile_stack(base)
    plan = make_plan(base_compiled, compile_stack(head))
    return base_compiled, stages(head, plan.rollouts)


def route_weights(compiled: Compiled) -> dict[str, int]:
    """The production route's backends (Service → weight) of the chain's entrypoint."""
    for obj in compiled.objects:
        if obj["kind"] != "HTTPRoute":
            continue
        for rule in obj["spec"]["rules"]:
            paths = [m["path"]["value"] for m in rule.get("matches", [])]
            if "/environments/production" in paths:
                return {ref["name"]: ref.get("weight", 1) for ref in rule["backendRefs"]}
    raise AssertionError("no route for production")


def replicas(compiled: Compiled) -> dict[str, Any]:
    """Each Deployment's fewest replicas, as its ScaledObject holds it during the stage."""
    return {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicaCount"]
        for o in compiled.objects
        if o["kind"] == "ScaledObject"
    }


def test_a_chain_promotion_is_one_rollout(tmp_path: Path) -> None:
    base = compile_stack(load_stack(tmp_path, STACK.replace("PROD", "v1"), "base.yaml"))
    head = compile_stack(load_stack(tmp_path, STACK.replace("PROD", "v2"), "head.yaml"))
    (rollout,) = make_plan(base, head).rollouts
    assert (rollout.chain, rollout.model, rollout.previous, rollout.candidate) == (
        "rag",
        "rag-router",
        "v1",
        "v2",
    )
    assert [(p.model, p.replicas) for p in rollout.chainlets] == [("rag-llm", 3)]
    data = rollout.to_dict()
    assert (data["chain"], [c["model"] for c in data["chainlets"]]) == ("rag", ["rag-llm"])


def test_every_chainlet_is_up_before_the_entrypoint_switches(
    change: tuple[Compiled, list[Stage]],
) -> None:
    _, found = change
    assert [s.description for s in found] == [
        "chain rag/production: 0% to v2 (rag-router 2 replicas, v1 2; rag-llm 3 replicas, v1 3)",
        "chain rag/production: 100% to v2 (rag-router 2 replicas, v1 2; rag-llm 3 replicas, v1 3)",
        "chain rag/production: v1 scale to zero",
    ]
    # Before the switch: every candidate chainlet held up (and waited for by the executor:
    # its floors), the route still all on v1.
    assert dict(found[0].floors) == {
        ("rag-router", "v2"): (2, 2),
        ("rag-router", "v1"): (2, 2),
        ("rag-llm", "v2"): (3, 3),
        ("rag-llm", "v1"): (3, 3),
    }
    first = found[0].compile()
    assert route_weights(first) == {"rag-router-v1": 1}
    assert {k: v for k, v in replicas(first).items() if k.endswith("-v2")} == {
        "rag-router-v2": 2,
        "rag-llm-v2": 3,
    }
    # The switch: all of it at once, the old chain still up until the cleanup.
    assert route_weights(found[1].compile()) == {"rag-router-v2": 1}
    assert dict(found[1].floors)[("rag-llm", "v1")] == (3, 3)
    assert route_weights(found[2].compile()) == {"rag-router-v2": 1}
    assert replicas(found[1].compile())["rag-llm-v1"] == 3
    # One gate, judged once on the chain's switch (not per chainlet).
    assert [(r.chain, g.name) for s in found for r, g in s.gates] == [("rag", "errors")]


def test_a_chain_promotion_runs_in_order(change: tuple[Compiled, list[Stage]]) -> None:
    base, found = change
    engine, log, queries = Recorder(), [], []

    def metric(query: str) -> float:
        queries.append(query)
        return 0.001

    outcome = run(found, engine, base, metric, report=log.append, sleep=lambda s: None)
    assert outcome.status == "done"
    assert [(p.stage, p.status) for _, p in engine.applied] == [
        (0, "rolling"),
        (1, "rolling"),
        (2, "done"),
    ]
    assert log == [
        "stage 1/3: chain rag/production: 0% to v2 (rag-router 2 replicas, v1 2; rag-llm 3 "
        "replicas, v1 3)",
        "stage 2/3: chain rag/production: 100% to v2 (rag-router 2 replicas, v1 2; rag-llm 3 "
        "replicas, v1 3)",
        "  gate errors: 0.001 ok",
        "stage 3/3: chain rag/production: v1 scale to zero",
    ]
    assert queries == ['err{m="rag-router",d="v2"}']  # the entrypoint's, once


def test_a_failed_gate_rolls_the_whole_chain_back(change: tuple[Compiled, list[Stage]]) -> None:
    base, found = change
    engine, log = Recorder(), []
    outcome = run(found, engine, base, lambda q: 0.5, report=log.append, sleep=lambda s: None)
    assert (outcome.status, outcome.reason, outcome.applied) == (
        "rolled-back",
        "gate errors: 0.5 is above 0.02",
        (0, 1),
    )
    # The base release, every chainlet of it: the route and both chainlets back on v1.
    assert engine.applied[-1][0] == digest(base)
    assert engine.applied[-1][1].status == "rolled-back"
    assert route_weights(base) == {"rag-router-v1": 1}
    assert log[-2:] == ["stage 2 failed: gate errors: 0.5 is above 0.02",
                        "rolling back to the last good release"]  # fmt: skip


def test_a_chainlet_that_fails_to_come_up_rolls_the_chain_back(
    change: tuple[Compiled, list[Stage]],
) -> None:
    base, found = change
    engine = Recorder(fail_at=0)
    outcome = run(found, engine, base, lambda q: 0.0, report=lambda m: None, sleep=lambda s: None)
    assert (outcome.status, outcome.applied) == ("rolled-back", ())
    assert [d for d, _ in engine.applied] == [digest(base)]  # the route never moved

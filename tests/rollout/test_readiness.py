"""Readiness from the cluster during a rollout (iac.rollout.readiness): what each stage must
have ready, how a Deployment read from the API server is judged, why a pod is not ready, the
wait's budget, and the executor rolling back a stage that is not ready in time. The live
cluster's side is tests/e2e/test_live_rollout.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iac.compile import Compiled, compile_stack
from iac.compile.serving.workload import SKIP_AWAIT
from iac.diff.plan import make_plan
from iac.rollout.executor import run
from iac.rollout.readiness import (
    Expectation,
    NotReady,
    expectations,
    pod_reasons,
    shortfall,
    startup_budget,
    wait_ready,
    without_await,
)
from iac.rollout.stages import Stage, stages
from tests.support.recording_engine import Recorder
from tests.support.stacks import llama_stack, load_stack

STACK = llama_stack(
    """\
health: {startup_timeout: 20s}
deployments: {v1: {}, v2: {}}
environments:
  production:
    deployment: PROD
    autoscaling: {min_replicas: 2, max_replicas: 4}
    promotion: {strategy: rolling, max_surge_percent: 50, stabilization: 3s}
""",
    cluster="{name: c, namespace: models}",
)


@pytest.fixture
def change(tmp_path: Path) -> tuple[Compiled, list[Stage]]:
    def load(name: str, prod: str) -> Any:
        return load_stack(tmp_path, STACK.replace("PROD", prod), name)

    base = compile_stack(load("base.yaml", "v1"))
    head = load("head.yaml", "v2")
    return base, stages(head, make_plan(base, compile_stack(head)).rollouts)


MOVED = {("llama", "v1"), ("llama", "v2")}


def test_a_stage_expects_its_held_replicas_and_the_head_its_floor(change: tuple) -> None:
    base, found = change
    first = expectations(found[0].compile(), MOVED)
    assert [(e.name, e.replicas, e.exact) for e in first] == [
        ("llama-v1", 2, True),
        ("llama-v2", 1, True),
    ]
    assert first[0].selector == "iac.dev/deployment=v1,iac.dev/model=llama"
    assert first[0].namespace == "models"
    # The head: v2 serves at its floor (2 or more); v1 scales to zero, nothing to wait for.
    head = expectations(found[-1].compile(), MOVED)
    assert [(e.name, e.replicas, e.exact) for e in head] == [("llama-v2", 2, False)]
    # The base (a rollback): v1 at its floor; v2, dark, at none.
    assert [(e.name, e.replicas) for e in expectations(base, MOVED)] == [("llama-v1", 2)]


def test_the_budget_is_the_startup_probe_and_a_cold_node_unless_given(change: tuple) -> None:
    base, _ = change
    deployment = next(o for o in base.objects if o["kind"] == "Deployment")
    budget = startup_budget(deployment)
    assert 20 + 600 <= budget <= 30 + 600  # the probe rounds startup_timeout up to its period
    (found,) = expectations(base, MOVED)
    assert (found.budget, found.budget_from) == (budget, "its startup budget")
    (given,) = expectations(base, MOVED, budget=30)
    assert (given.budget, given.budget_from) == (30, "--ready-timeout")


def expectation(replicas: int = 2, exact: bool = True, budget: int = 30) -> Expectation:
    return Expectation("models", "llama-v2", replicas, exact, budget, "--ready-timeout", "a=b")


def deployment(replicas: int, ready: int | None) -> dict[str, Any]:
    status = {} if ready is None else {"readyReplicas": ready}
    return {"spec": {"replicas": replicas}, "status": status}


def test_a_deployment_is_judged_on_its_count_and_ready_replicas() -> None:
    assert shortfall(expectation(), None) == "does not exist"
    assert shortfall(expectation(), deployment(1, 1)) == "is at 1 replica, not yet 2"
    assert shortfall(expectation(), deployment(2, None)) == "has 0 of 2 replicas ready"
    assert shortfall(expectation(), deployment(2, 1)) == "has 1 of 2 replicas ready"
    assert shortfall(expectation(), deployment(2, 2)) is None
    # A floor (not held): more replicas are fine, as long as as many are ready.
    assert shortfall(expectation(exact=False), deployment(3, 2)) is None
    assert shortfall(expectation(replicas=1), deployment(1, 0)) == "has 0 of 1 replica ready"


def pod(name: str, status: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "status": status}


def test_pods_say_why_they_are_not_ready() -> None:
    pending = pod(
        "p-1",
        {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available",
                }
            ],
        },
    )
    pulling = pod(
        "p-2",
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "server",
                    "ready": False,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}},
                }
            ],
        },
    )
    loading = pod(
        "p-3",
        {"phase": "Running", "containerStatuses": [{"name": "server", "ready": False}]},
    )
    serving = pod("p-4", {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
    going = pod("p-5", {"phase": "Running"}, deleting=True)
    assert pod_reasons([serving, loading, pulling, pending, going]) == [
        "pod p-1: Pending (Unschedulable: 0/1 nodes are available)",
        "pod p-2: Pending, container server waiting (ImagePullBackOff: not found)",
        "pod p-3: Running, container server not ready",
    ]


class Cluster:
    """Answers like kubectl: each read of a Deployment is the next of `answers` (the last
    repeats), and `pods` for the reason."""

    def __init__(self, answers: list[dict[str, Any] | None], pods: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.reads = 0
        self.pods = pods

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        assert (resource, name, namespace) == ("deployments", "llama-v2", "models")
        found = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        return found

    def items(self, resource: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        assert (resource, namespace, selector) == ("pods", "models", "a=b")
        return self.pods


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_wait_returns_once_ready_and_says_what_it_waited_for() -> None:
    clock, log = Clock(), []
    cluster = Cluster([deployment(1, 1), deployment(2, 1), deployment(2, 1), deployment(2, 2)], [])
    wait_ready([expectation()], cluster, log.append, clock, clock.sleep, poll=2)
    assert clock.now == 6
    assert log == [
        "  waiting: Deployment models/llama-v2 is at 1 replica, not yet 2",
        "  waiting: Deployment models/llama-v2 has 1 of 2 replicas ready",
        "  ready: llama-v2 2",
    ]


def test_a_deployment_not_ready_within_its_budget_fails_with_its_pods_reasons() -> None:
    clock = Clock()
    stuck = pod("p-1", {"phase": "Pending"})
    cluster = Cluster([deployment(2, 1)], [stuck])
    with pytest.raises(NotReady) as raised:
        wait_ready([expectation(budget=30)], cluster, lambda m: None, clock, clock.sleep, poll=2)
    assert str(raised.value) == (
        "Deployment models/llama-v2 has 1 of 2 replicas ready after 30s (--ready-timeout): "
        "pod p-1: Pending"
    )
    assert clock.now == 30


def test_only_the_moved_deployments_skip_pulumis_await(change: tuple) -> None:
    base, _ = change
    changed = without_await(base, {("llama", "v2")})

    def skipping(compiled: Compiled) -> set[tuple[str, str]]:
        return {
            (o["kind"], o["metadata"]["name"])
            for o in compiled.objects
            if SKIP_AWAIT in (o["metadata"].get("annotations") or {})
        }

    services = {(o["kind"], o["metadata"]["name"]) for o in base.objects if o["kind"] == "Service"}
    assert skipping(base) == services  # compiled so: a Service is never awaited
    assert skipping(changed) == services | {("Deployment", "llama-v2")}
    # A copy: the compiled objects (shared, read-only) are untouched.
    assert ("Deployment", "llama-v2") not in skipping(base)


class ClusterOf:
    """Every Deployment ready as held, except `stuck`, which never has a ready replica."""

    def __init__(self, stuck: str) -> None:
        self.stuck = stuck
        self.held: dict[str, int] = {}

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        want = self.held.get(name, 2)
        return deployment(want, 0 if name == self.stuck else want)

    def items(self, resource: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return [pod(f"{self.stuck}-x", {"phase": "Pending"})]


def test_a_candidate_never_ready_rolls_back_and_pulumi_awaits_only_the_head(
    change: tuple,
) -> None:
    base, found = change
    engine, log, clock = Recorder(), [], Clock()
    cluster = ClusterOf("llama-v2")
    cluster.held = {"llama-v1": 2, "llama-v2": 1}
    outcome = run(
        found,
        engine,
        base,
        lambda q: 0.0,
        report=log.append,
        sleep=clock.sleep,
        cluster=cluster,
        ready_timeout=10,
        clock=clock,
    )
    assert outcome.status == "rolled-back"
    assert outcome.reason == (
        "Deployment models/llama-v2 has 0 of 1 replica ready after 10s (--ready-timeout): "
        "pod llama-v2-x: Pending"
    )
    assert outcome.applied == (0,)
    assert [p.status for _, p in engine.applied] == ["rolling", "rolled-back"]
    assert "stage 1 failed: " + outcome.reason in log
    assert log[-1] == "  ready: llama-v1 2+"  # the rollback waited for v1 at its floor

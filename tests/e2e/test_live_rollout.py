"""`iac up` of a rolling promotion on a live cluster (issue #22, item 5), through the real
Pulumi engine and the Kubernetes provider talking to the API server of tests/live, with KEDA
and the HPA controller carrying out each stage's replica counts and kwok making pods ready.

- Each stage, once `iac up` has found it ready (read back from the API server, the hook
  below), has the planned HTTPRoute weights and Deployment replicas (`iac plan`'s steps);
  a watch of the route sees no other weights, and a watch of the pods of both deployments
  never sees the environment without a ready replica.
- A candidate that never becomes ready (it asks for an accelerator no node has: its pod
  stays Pending) stops the rollout at its first stage: `iac up` exits 1 naming the
  Deployment and why, the route is back on v1 alone and v1 kept its replicas.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

from iac.cli import cli
from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.rollout import executor
from iac.validate import check_stack
from tests.e2e.live_project import live_project
from tests.live.cluster import REPO_ROOT, LiveCluster, nodes_for
from tests.live.fixtures import start_prepared_cluster
from tests.live.prerequisites import stack_prerequisites
from tests.live.watch import ObjectWatch, watch_objects

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

STACK = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: live, namespace: models, domain: models.example.com}
models:
  llama:
    template: vllm
    params: {hf_model: meta-llama/Meta-Llama-3-8B-Instruct}
    resources: {accelerator: H100, cpu: "8", memory: 64Gi}
    secrets: [hf-token]
    health: {startup_timeout: 20s}
    deployments:
      v1: {}
      CANDIDATE
    environments:
      production:
        deployment: v1
        autoscaling: {min_replicas: 2, max_replicas: 4}
        promotion:
          strategy: rolling
          max_surge_percent: 50
          stabilization: 3s
          cleanup: scale_to_zero
auth: {public: true}
"""
NAMESPACE = "models"
V1, V2 = "llama-v1", "llama-v2"


@pytest.fixture
def cluster(control_plane_bin: Path, tmp_path: Path) -> Iterator[LiveCluster]:
    live = start_prepared_cluster(control_plane_bin, tmp_path / "cluster")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def env(
    pulumi_engine: PulumiEngine, control_plane_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in pulumi_engine.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{control_plane_bin}:{pulumi_engine.env['PATH']}")  # kubectl


def write_stack(path: Path, candidate: str) -> Path:
    path.write_text(
        STACK.replace("MODULES", str(REPO_ROOT / "modules")).replace("CANDIDATE", candidate)
    )
    return path


def prepare(cluster: LiveCluster, pulumi_engine: PulumiEngine, tmp_path: Path, stack: Path) -> Path:
    """The stack's Gateway and Secret, H100 nodes (none of another accelerator), a project."""
    objects = compile_stack(check_stack(str(stack))).objects
    cluster.apply(stack_prerequisites(objects))
    cluster.apply(nodes_for([o for o in objects if o["metadata"]["name"] == V1], "h100"))
    return live_project(pulumi_engine, cluster, stack, tmp_path / "project")


def wait_for_replicas(cluster: LiveCluster, name: str, replicas: int) -> None:
    """Setup, not under test: the first `iac up` creates v1 with one pod and KEDA's HPA
    brings it to the environment's min_replicas afterwards."""
    deadline = time.monotonic() + 120
    while live_state(cluster)["deployments"].get(name) != (replicas, replicas):
        assert time.monotonic() < deadline, live_state(cluster)
        time.sleep(1)


def up(project: Path, stack: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["up", str(stack), "--stack", "dev", "--project-dir", str(project), "--yes", *args],
    )


def promote(stack: Path) -> None:
    done = CliRunner().invoke(cli, ["promote", str(stack), "llama", "v2", "--to", "production"])
    assert done.exit_code == 0, done.output


def weights(route: dict[str, Any]) -> dict[str, int]:
    """The production environment's backends and their weights (a lone backend: 100), as
    the route on the cluster has them; a backend at weight 0 is left out."""
    rule = next(
        r
        for r in route["spec"]["rules"]
        if r["matches"][0]["path"]["value"] == "/environments/production"
    )
    refs = rule["backendRefs"]
    found = {ref["name"]: (ref.get("weight", 1) if len(refs) > 1 else 100) for ref in refs}
    return {name: weight for name, weight in found.items() if weight}


def live_state(cluster: LiveCluster) -> dict[str, Any]:
    route = cluster.get("httproutes", "-n", NAMESPACE, "--field-selector", "metadata.name=llama")
    deployments = {
        d["metadata"]["name"]: (d["spec"].get("replicas"), d["status"].get("readyReplicas", 0))
        for d in cluster.get("deployments", "-n", NAMESPACE)
    }
    pods: dict[str, list[str]] = {}
    for pod in cluster.get("pods", "-n", NAMESPACE):
        deployment = pod["metadata"]["labels"].get("iac.dev/deployment", "")
        pods.setdefault(f"llama-{deployment}", []).append(pod["metadata"]["name"])
    return {"weights": weights(route[0]), "deployments": deployments, "pods": pods}


def record_stages(monkeypatch: pytest.MonkeyPatch, cluster: LiveCluster) -> list[dict[str, Any]]:
    """What the API server holds each time `iac up` has found a stage ready (its wait for
    readiness returned): one entry per stage applied, in order."""
    seen: list[dict[str, Any]] = []
    real = executor.wait_ready

    def recording(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        seen.append(live_state(cluster))

    monkeypatch.setattr(executor, "wait_ready", recording)
    return seen


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def ready_counts(watch: ObjectWatch) -> list[int]:
    """After each pod event, the pods of v1 and v2 that are Ready (from the end of the
    watch's initial listing of the pods that were there)."""
    events = watch.events()
    listed = 0
    while listed < len(events) and events[listed][0] == "ADDED" and ready(events[listed][1]):
        listed += 1
    state: dict[str, bool] = {}
    counts = []
    for index, (kind, pod) in enumerate(events):
        state[pod["metadata"]["name"]] = kind != "DELETED" and ready(pod)
        if index >= max(0, listed - 1):
            counts.append(sum(state.values()))
    assert counts, "no pod event watched"
    return counts


def route_weights(watch: ObjectWatch) -> list[dict[str, int]]:
    """The production weights of each version of the route the API server sent, in order,
    repeats folded."""
    found: list[dict[str, int]] = []
    for _, route in watch.events():
        if route["metadata"]["name"] == "llama":
            current = weights(route)
            if not found or found[-1] != current:
                found.append(current)
    return found


def test_a_rolling_promotion_moves_traffic_and_replicas_as_planned_and_keeps_serving(
    tmp_path: Path,
    cluster: LiveCluster,
    pulumi_engine: PulumiEngine,
    env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = write_stack(tmp_path / "stack.yaml", "v2: {image: vllm/vllm-openai:v0.7.0}")
    project = prepare(cluster, pulumi_engine, tmp_path, stack)
    first = up(project, stack)
    assert first.exit_code == 0, first.output + first.stderr
    wait_for_replicas(cluster, V1, 2)
    base = compile_stack(check_stack(str(stack)))
    promote(stack)
    head = compile_stack(check_stack(str(stack)))
    (rollout,) = make_plan(base, head).rollouts
    planned = [
        {
            "weights": {V1: 100 - s.candidate_weight, V2: s.candidate_weight},
            "replicas": {V1: s.previous_replicas, V2: s.candidate_replicas},
        }
        for s in rollout.steps
        if s.action != "cleanup"
    ]
    assert len(planned) == 3  # 0 %, 50 %, 100 %: a real rollout, not a single step

    seen = record_stages(monkeypatch, cluster)
    with (
        watch_objects(cluster, "pods", NAMESPACE, tmp_path) as pods,
        watch_objects(cluster, "httproutes", NAMESPACE, tmp_path) as routes,
    ):
        result = up(project, stack)
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip().endswith("done")

    # Each stage as planned, read back from the API server once `iac up` found it ready:
    # the weights, each deployment held at its count (spec.replicas) with all of it ready.
    assert len(seen) == len(planned) + 1  # and the head
    for stage, (plan, live) in enumerate(zip(planned, seen, strict=False)):
        expected = {name: weight for name, weight in plan["weights"].items() if weight}
        assert live["weights"] == expected, (stage, live)
        for name, replicas in plan["replicas"].items():
            assert live["deployments"][name] == (replicas, replicas), (stage, name, live)
    assert seen[-1]["weights"] == {V2: 100}
    assert seen[-1]["deployments"][V2][1] >= 2

    # Between the samples: the route never had other weights, and the environment was never
    # without a ready replica (every pod event of both deployments, watched).
    expected_weights: list[dict[str, int]] = [{V1: 100}]
    for plan in planned:
        current = {name: weight for name, weight in plan["weights"].items() if weight}
        if current != expected_weights[-1]:
            expected_weights.append(current)
    assert route_weights(routes) == expected_weights
    assert min(ready_counts(pods)) >= 1


def test_a_candidate_that_never_becomes_ready_stops_the_rollout_and_rolls_back(
    tmp_path: Path, cluster: LiveCluster, pulumi_engine: PulumiEngine, env: None
) -> None:
    # v2 asks for an A100: no node has one, so its pod stays Pending (Unschedulable).
    stack = write_stack(tmp_path / "stack.yaml", "")
    project = prepare(cluster, pulumi_engine, tmp_path, stack)
    first = up(project, stack)
    assert first.exit_code == 0, first.output + first.stderr
    wait_for_replicas(cluster, V1, 2)
    text = stack.read_text().replace(
        "      v1: {}\n", "      v1: {}\n      v2: {resources: {accelerator: A100}}\n"
    )
    stack.write_text(text.replace("deployment: v1", "deployment: v2"))

    with watch_objects(cluster, "pods", NAMESPACE, tmp_path) as pods:
        result = up(project, stack, "--ready-timeout", "20s")
    assert result.exit_code == 1, result.output + result.stderr
    assert (
        "stage 1 failed: Deployment models/llama-v2 has 0 of 1 replica ready after 20s (--ready-timeout): pod llama-v2-"
        in (result.stderr)
    )
    assert (
        "Pending (Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity"
        in result.stderr
    )
    assert "rolling back to the last good release" in result.stderr
    assert (
        result.stdout.strip().splitlines()[-1].startswith("rolled-back: Deployment models/llama-v2")
    )

    live = live_state(cluster)
    assert live["weights"] == {V1: 100}
    assert live["deployments"][V1] == (2, 2)
    # v1's two pods served throughout: never replaced, never unready; v2's went with it.
    assert min(ready_counts(pods)) >= 1
    v1_events = [
        (kind, pod["metadata"]["name"], ready(pod))
        for kind, pod in pods.events()
        if pod["metadata"]["labels"].get("iac.dev/deployment") == "v1"
    ]
    assert {name for _, name, _ in v1_events} == set(live["pods"][V1])
    assert all(kind != "DELETED" and is_ready for kind, _, is_ready in v1_events), v1_events
    v2_events = [
        kind
        for kind, pod in pods.events()
        if pod["metadata"]["labels"].get("iac.dev/deployment") == "v2"
    ]
    assert v2_events[-1:] == ["DELETED"]  # Pending throughout, deleted by the rollback

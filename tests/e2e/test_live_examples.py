"""`pulumi up` of every example and the demo stack against a live cluster (issue #22, item 1).

For each stack, a fresh cluster of its own (tests/live/fixtures.py: CRDs, KEDA's operator and
the stand-in for the HTTP add-on's scaler, the add-on's interceptor Service), kwok GPU nodes
shaped like its pools, and what a platform team creates first (its Gateway, the Secrets its
pods read: tests/live/prerequisites.py). Then the real engine, server-side apply as in
production, with every pod of the stack's namespace watched from before the first apply:

- every object is accepted and exists afterwards;
- every active Deployment has Running pods, each on a kwok GPU node of its pool, none Pending;
- no deactivated deployment ever has a pod;
- KEDA and the HPA controller act on the same objects (each active ScaledObject gets its HPA)
  and then a second `pulumi up` changes nothing and `pulumi preview --refresh
  --expect-no-changes` finds nothing: no field-manager fight over `spec.replicas`, no drift
  from what controllers write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iac.compile import compile_stack
from iac.validate import check_stack
from tests.e2e.live_project import live_project
from tests.live.cluster import KWOK_NODE_ANNOTATION, LiveCluster, nodes_for
from tests.live.fixtures import start_prepared_cluster
from tests.live.prerequisites import stack_prerequisites
from tests.live.watch import watch_pods

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

ROOT = Path(__file__).resolve().parents[2]
# Not 06-gke: its node pools are Google Cloud resources (pulumi-gcp), and no GCP API is
# reachable here. Its Kubernetes objects are applied live by tests/live/test_render_apply.py;
# its node pools are proven by the mocks and the schema (docs/live-cluster.md, tiers).
NOT_LIVE = {"06-gke"}
STACKS = [
    path for path in sorted(ROOT.glob("examples/*/stack.yaml")) if path.parent.name not in NOT_LIVE
] + [ROOT / "stacks" / "demo.yaml"]
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"


def _stack_id(path: Path) -> str:
    return path.parent.name if path.name == "stack.yaml" else path.stem


def _until(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(1.0)
    return result


def _resource(obj: dict[str, Any]) -> str:
    """The kubectl name of an object's kind (`deployment.apps`, `service`)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{obj['kind']}.{group}" if group else obj["kind"]


@pytest.mark.parametrize("stack", STACKS, ids=_stack_id)
def test_pulumi_up_of_a_stack_on_a_live_cluster_then_nothing_to_change(
    stack: Path, tmp_path: Path, pulumi_engine: PulumiEngine, control_plane_bin: Path
) -> None:
    objects = compile_stack(check_stack(str(stack))).objects
    namespace = next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    cluster = start_prepared_cluster(control_plane_bin, tmp_path / "cluster")
    try:
        cluster.apply(nodes_for(objects, prefix="gpu"))
        cluster.apply(stack_prerequisites(objects))
        project = live_project(pulumi_engine, cluster, stack, tmp_path / "project")
        with watch_pods(cluster, namespace, tmp_path) as watch:
            pulumi_engine.run("up", "--yes", "--skip-preview", cwd=project)
            _check_applied(cluster, objects)
            _check_keda_acts(cluster, objects)
            # A second update and a refreshed preview: nothing to do.
            second = pulumi_engine.run("up", "--yes", "--expect-no-changes", cwd=project)
            assert "unchanged" in second.stdout, second.stdout
            pulumi_engine.run("preview", "--refresh", "--expect-no-changes", cwd=project)
        for deployment in _deactivated(objects):
            seen = watch.pods(**{"app.kubernetes.io/instance": deployment})
            assert seen == set(), f"deactivated {deployment} had pods: {seen}"
    finally:
        cluster.stop()


def _deactivated(objects: list[dict[str, Any]]) -> set[str]:
    return {
        o["spec"]["scaleTargetRef"]["name"]
        for o in objects
        if o["kind"] == "ScaledObject" and PAUSED_REPLICAS in o["metadata"].get("annotations", {})
    }


def _check_applied(cluster: LiveCluster, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        meta = obj["metadata"]
        where = ["-n", meta["namespace"]] if "namespace" in meta else []
        cluster.kubectl("get", _resource(obj), meta["name"], *where)
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes")}
    paused = _deactivated(objects)
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        meta = deployment["metadata"]
        selector = ",".join(
            f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
        )
        pods = cluster.get("pods", "-n", meta["namespace"], "-l", selector)
        if meta["name"] in paused:
            assert pods == [], meta["name"]
            continue
        assert pods, f"no pod of {meta['name']}"
        for pod in pods:
            assert pod["status"].get("phase") == "Running", (meta["name"], pod["status"])
            node = nodes[pod["spec"]["nodeName"]]
            assert (
                node["metadata"]["annotations"].get(KWOK_NODE_ANNOTATION[0])
                == KWOK_NODE_ANNOTATION[1]
            )
            wanted = deployment["spec"]["template"]["spec"].get("nodeSelector") or {}
            assert {k: node["metadata"]["labels"].get(k) for k in wanted} == wanted


def _check_keda_acts(cluster: LiveCluster, objects: list[dict[str, Any]]) -> None:
    """Each active ScaledObject has its HPA, each paused one is Paused: KEDA has acted."""
    scaled = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "ScaledObject"
    }

    def settled() -> bool:
        hpas = {
            (h["metadata"]["namespace"], h["metadata"]["name"]) for h in cluster.get("hpa", "-A")
        }
        for (namespace, name), obj in scaled.items():
            if PAUSED_REPLICAS in obj["metadata"].get("annotations", {}):
                continue
            if (namespace, f"keda-hpa-{name}") not in hpas:
                return False
        return True

    _until("an HPA for every active ScaledObject", settled)
    time.sleep(16)  # one more KEDA polling interval (15 s): its status writes are in

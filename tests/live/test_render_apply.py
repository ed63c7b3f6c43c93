"""`iac render -o DIR` applied with the real kubectl to a live API server (issue #22, item 3).

For every example and the demo stack, on one cluster (tests/live/conftest.py): fake GPU nodes
shaped like what the stack's pods ask for are created, then `kubectl apply --server-side -f
DIR` must be accepted as a whole (the cluster prerequisites the README lists installed, as
their installers would), the controller manager must make each active Deployment's ReplicaSet, the
scheduler must bind every pod to a GPU node matching its nodeSelector and kwok must run it
(nothing Pending), and a second apply must change nothing, with the KEDA operator and the
HPA controller acting on the same objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live.cluster import KWOK_NODE_ANNOTATION, LiveCluster, nodes_for
from tests.live.prerequisites import stack_prerequisites

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
STACKS = sorted(ROOT.glob("examples/*/stack.yaml")) + sorted(ROOT.glob("stacks/*.yaml"))


def _stack_id(path: Path) -> str:
    return path.parent.name if path.name == "stack.yaml" else path.stem


def _render(stack: Path, out: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "iac", "render", str(stack), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    objects = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
    assert objects
    return objects


def _preflight(stack: Path, cluster: LiveCluster) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{cluster.bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "iac", "preflight", str(stack), "--kubeconfig",
         str(cluster.kubeconfig)],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip


def _applied_at(cluster: LiveCluster, out: Path) -> dict[str, str]:
    """When kubectl's server-side apply last changed each object of the render.

    Not the resourceVersion: controllers (KEDA writing a ScaledObject's status, the HPA
    scaling a Deployment) change objects too. An apply that changes nothing leaves its
    field manager's entry, and so its time, as it was.
    """
    return {
        f"{o['kind']} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}": next(
            f["time"]
            for f in o["metadata"]["managedFields"]
            if f["manager"] == "kubectl" and f["operation"] == "Apply"
        )
        for o in cluster.get("-f", str(out), "--show-managed-fields")
    }


def _target(deployment: dict[str, Any]) -> tuple[str, str]:
    return deployment["metadata"]["namespace"], deployment["metadata"]["name"]


def _deactivated(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Deployments whose ScaledObject KEDA pauses at 0 replicas (deactivated in the stack).

    They have no pod (their Deployments say `replicas: 0`); tests/live/test_keda.py watches
    that none ever starts.
    """
    return {
        (o["metadata"]["namespace"], o["spec"]["scaleTargetRef"]["name"])
        for o in objects
        if o["kind"] == "ScaledObject"
        and (o["metadata"].get("annotations") or {}).get(PAUSED_REPLICAS) == "0"
    }


@pytest.mark.parametrize("stack", STACKS, ids=_stack_id)
def test_render_is_applied_scheduled_and_reapplied_unchanged(
    live_cluster: LiveCluster, stack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "render"
    objects = _render(stack, out)
    live_cluster.apply(nodes_for(objects, prefix=_stack_id(stack)))

    # With the stack's own prerequisites created as a platform team would (its Gateway, its
    # Secrets), `iac preflight` passes (what it says when one is missing:
    # tests/live/test_preflight.py).
    live_cluster.apply(stack_prerequisites(objects))
    ready = _preflight(stack, live_cluster)
    assert ready.returncode == 0, ready.stderr
    assert "the cluster has everything" in ready.stdout

    # One apply of the whole directory, into a cluster with only the prerequisites.
    live_cluster.kubectl("apply", "--server-side", "-f", str(out))

    deployments = [o for o in objects if o["kind"] == "Deployment"]
    for deployment in deployments:
        meta = deployment["metadata"]
        live_cluster.kubectl(
            "rollout", "status", "deployment", meta["name"], "-n", meta["namespace"],
            "--timeout=120s",
        )  # fmt: skip
    nodes = {n["metadata"]["name"]: n for n in live_cluster.get("nodes")}

    def staying(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Leaving out pods being deleted: an earlier example's, replaced by this apply (its
        Deployment of the same name changed), which stay for their preStop sleep
        (tests/live/kwok-pod-stages.yaml) on that example's nodes."""
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    for namespace, name in _deactivated(objects):
        pods = live_cluster.get("pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}")
        assert staying(pods) == [], f"deactivated {namespace}/{name} has pods"
    for deployment in (d for d in deployments if _target(d) not in _deactivated(objects)):
        meta, template = deployment["metadata"], deployment["spec"]["template"]
        selector = ",".join(
            f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
        )
        replica_sets = live_cluster.get("replicasets", "-n", meta["namespace"], "-l", selector)
        assert replica_sets, f"no ReplicaSet for Deployment {meta['namespace']}/{meta['name']}"
        pods = staying(live_cluster.get("pods", "-n", meta["namespace"], "-l", selector))
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        assert running, f"no Running pod of {meta['namespace']}/{meta['name']}: {pods}"
        for pod in pods:
            assert pod["status"].get("phase") != "Pending", pod["status"]
        for pod in running:
            node = nodes[pod["spec"]["nodeName"]]
            assert (
                node["metadata"]["annotations"].get(KWOK_NODE_ANNOTATION[0])
                == (KWOK_NODE_ANNOTATION[1])
            )
            wanted = template["spec"].get("nodeSelector") or {}
            labels = node["metadata"]["labels"]
            assert {k: labels.get(k) for k in wanted} == wanted, (pod["metadata"]["name"], node)

    # A second apply changes nothing: no diff, and no object written again.
    # Read again when it differs: KEDA writes a ScaledObject's status between kubectl's read
    # of the live object and its dry run (seen in CI: a diff of status conditions and
    # resourceVersion only). A difference in what the apply sets stays on every read.
    for _ in range(3):
        diff = live_cluster.kubectl("diff", "--server-side", "-f", str(out), check=False)
        if diff.returncode == 0:
            break
        time.sleep(2)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    before = _applied_at(live_cluster, out)
    time.sleep(1.1)  # managedFields times have whole seconds
    live_cluster.kubectl("apply", "--server-side", "-f", str(out))
    assert _applied_at(live_cluster, out) == before

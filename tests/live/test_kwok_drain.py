"""kwok removes a deleted pod after its preStop sleep, as a kubelet would
(tests/live/kwok-pod-stages.yaml): the drain the rollout tests through the Gateway rely on."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.live.cluster import LiveCluster, NodeShape, kwok_node

pytestmark = pytest.mark.live

NAMESPACE = "kwok-drain"


def _pod(name: str, prestop_seconds: int | None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "server", "image": "stand-in/server"}
    if prestop_seconds is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": prestop_seconds}}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"nodeName": "kwok-drain-0", "containers": [container]},
    }


def _deleted_after(cluster: LiveCluster, name: str) -> float:
    started = time.monotonic()
    cluster.kubectl("delete", "pod", name, "-n", NAMESPACE, "--wait=true", "--timeout=60s")
    return time.monotonic() - started


def test_a_deleted_pod_stays_for_its_prestop_sleep_and_one_without_goes_at_once(
    live_cluster: LiveCluster,
) -> None:
    cluster = live_cluster
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.apply(
        [
            kwok_node("kwok-drain-0", NodeShape(labels=(), gpu_resources=(), tainted=False)),
            _pod("drains", 4),
            _pod("goes", None),
        ]
    )
    try:
        cluster.kubectl(
            "wait", "--for=condition=Ready", "pod", "--all", "-n", NAMESPACE, "--timeout=60s"
        )
        assert 4.0 <= _deleted_after(cluster, "drains") < 10.0
        assert _deleted_after(cluster, "goes") < 3.0
    finally:
        cluster.kubectl("delete", "node", "kwok-drain-0", "--wait=false")
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")

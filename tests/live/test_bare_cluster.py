"""The API server alone (`start_prepared_cluster(controllers=False, keda=False)`), as
benchmarks/kubectl_anchor.py measures `kubectl apply` against it: only etcd and
kube-apiserver run, the prerequisites are installed, iac's objects are accepted, and nothing
acts on them (no ReplicaSet, no pod)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iac.compile import compile_stack
from iac.validate import check_stack
from tests.live.cluster import REPO_ROOT
from tests.live.fixtures import start_prepared_cluster
from tests.live.prerequisites import stack_prerequisites

pytestmark = pytest.mark.live


def test_a_bare_cluster_runs_only_the_api_server_and_accepts_the_objects(
    control_plane_bin: Path, tmp_path: Path
) -> None:
    cluster = start_prepared_cluster(
        control_plane_bin, tmp_path / "cluster", controllers=False, keda=False
    )
    try:
        assert list(cluster.processes) == ["etcd", "kube-apiserver"]
        objects = compile_stack(check_stack(str(REPO_ROOT / "stacks" / "demo.yaml"))).objects
        cluster.apply(stack_prerequisites(objects))
        cluster.apply(objects)

        deployments = cluster.get("deployments", "--all-namespaces")
        assert len(deployments) == sum(1 for o in objects if o["kind"] == "Deployment") > 0
        assert all("status" not in d or not d["status"] for d in deployments), deployments
        assert cluster.get("replicasets", "--all-namespaces") == []
        assert cluster.get("pods", "--all-namespaces") == []
        cluster.check_running()
    finally:
        cluster.stop()

"""`iac status` reads a live cluster (issue #22, item 6): after `iac up` of a stack of two
models on one domain (production and staging, a deactivated deployment, a 90/10 split), it
says who serves each environment, with replicas ready/desired as the API server has them,
and each environment's URL. Compared with what the API server says, never recorded answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.live_stack import iac, iac_up, prepare, use_engine_and_kubectl
from tests.live.cluster import LiveCluster
from tests.live.fixtures import start_prepared_cluster

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

NAMESPACE = "models"
SETTLE_TIMEOUT_S = 120
# Who serves what, as the stack file declares it: (model, environment) → {object: weight}.
SERVING = {
    ("llama", "production"): {"llama-v2": 100},
    ("llama", "staging"): {"llama-v3": 100},
    ("mistral", "production"): {"mistral-v1": 90, "mistral-v2": 10},
}


@pytest.fixture(scope="module")
def cluster(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCluster]:
    live = start_prepared_cluster(control_plane_bin, tmp_path_factory.mktemp("status-cluster"))
    try:
        yield live
    finally:
        live.stop()


def settled(cluster: LiveCluster) -> dict[str, dict[str, Any]]:
    """The Deployments once KEDA's HPAs have brought each to its minimum and every pod is
    ready (kwok), so that the status and the API server are read at rest."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        found = {d["metadata"]["name"]: d for d in cluster.get("deployments", "-n", NAMESPACE)}
        scalers = cluster.get("scaledobjects", "-n", NAMESPACE)
        at_min = all(
            found[s["metadata"]["name"]]["spec"]["replicas"] == s["spec"]["minReplicaCount"]
            for s in scalers
            if "autoscaling.keda.sh/paused-replicas" not in s["metadata"].get("annotations", {})
        )
        ready = all(
            d["status"].get("readyReplicas", 0) == d["spec"]["replicas"]
            and d["status"].get("replicas", 0) == d["spec"]["replicas"]
            for d in found.values()
        )
        if at_min and ready:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"deployments did not settle: {json.dumps(found)[:4000]}")
        time.sleep(1)


def test_iac_status_reads_the_live_cluster(
    tmp_path: Path,
    pulumi_engine: PulumiEngine,
    cluster: LiveCluster,
    control_plane_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_engine_and_kubectl(monkeypatch, pulumi_engine, control_plane_bin)
    stack_file, project, _ = prepare(pulumi_engine, cluster, tmp_path)
    applied = iac_up(stack_file, project)
    assert applied.exit_code == 0, applied.output
    deployments = settled(cluster)
    assert deployments["llama-v1"]["spec"]["replicas"] == 0  # deactivated: serves nothing
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))  # as a user points kubectl

    shown = iac("status", str(stack_file), "--format", "json")
    assert shown.exit_code == 0, shown.output
    statuses = json.loads(shown.stdout)
    assert [(s["model"], s["environment"]) for s in statuses] == list(SERVING)
    for status in statuses:
        serving = SERVING[status["model"], status["environment"]]
        host = f"{status['model']}.models.example.com"
        assert status["url"] == f"https://{host}/environments/{status['environment']}/"
        assert not status["drift"]
        live = {f"{status['model']}-{d['name']}": d for d in status["live"]}
        assert {name: d["weight"] for name, d in live.items()} == serving
        for name, shown_deployment in live.items():
            api = deployments[name]
            assert (shown_deployment["ready"], shown_deployment["desired"]) == (
                api["status"]["readyReplicas"],
                api["spec"]["replicas"],
            )
            assert shown_deployment["desired"] >= 1
            assert not shown_deployment["paused"]
    # The route on the cluster takes the URL's host and path to the backends shown.
    for route in cluster.get("httproutes", "-n", NAMESPACE):
        model = route["metadata"]["name"]
        assert route["spec"]["hostnames"] == [f"{model}.models.example.com"]
        paths = {r["matches"][0]["path"]["value"] for r in route["spec"]["rules"]}
        for model_name, environment in SERVING:
            if model_name == model:
                assert f"/environments/{environment}" in paths

    text = iac("status", str(stack_file))
    assert text.exit_code == 0, text.output
    # The time of the last rollout is the Deployment's, left out here.
    lines = [line.split(", last rollout ")[0] for line in text.stdout.splitlines()]
    ready = {name: f"{d['status'].get('readyReplicas', 0)}/{d['spec']['replicas']}"
             for name, d in deployments.items()}  # fmt: skip
    assert lines == [
        "llama / production  https://llama.models.example.com/environments/production/",
        f"  v2: {ready['llama-v2']} ready, scales 2..4",
        "llama / staging  https://llama.models.example.com/environments/staging/",
        f"  v3: {ready['llama-v3']} ready, scales 1..2",
        "mistral / production  https://mistral.models.example.com/environments/production/",
        f"  v1 90%: {ready['mistral-v1']} ready, scales 2..5",
        f"  v2 10%: {ready['mistral-v2']} ready, scales 1..2",
    ]

"""Drift on a live cluster (issue #22, item 8): changes made by hand after `iac up` (a
`kubectl scale` of a deactivated deployment, a route's split weights edited from 90/10 to
50/50) are reported by `iac plan --base live` (a finding per field, declared against live)
and by `pulumi preview --refresh`; the next `iac up` restores both (read back from the API
server), and a plan after it reports no drift. Before the fix, `iac up` saw nothing to do
(Pulumi compared with its state, not the cluster) and, refreshed, failed on the conflict
with kubectl's field manager.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iac.program.automation import PATCH_FORCE
from tests.e2e.live_stack import STACK, iac, iac_up, prepare, use_engine_and_kubectl
from tests.live.cluster import LiveCluster
from tests.live.fixtures import start_prepared_cluster

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

NAMESPACE = "models"


@pytest.fixture(scope="module")
def cluster(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCluster]:
    live = start_prepared_cluster(control_plane_bin, tmp_path_factory.mktemp("drift-cluster"))
    try:
        yield live
    finally:
        live.stop()


def split_rule(cluster: LiveCluster) -> tuple[int, list[dict[str, Any]]]:
    """The index of the rule of mistral's route that splits production, and its backends."""
    route = cluster.get("httproutes", "-n", NAMESPACE, "--field-selector", "metadata.name=mistral")
    for index, rule in enumerate(route[0]["spec"]["rules"]):
        if len(rule.get("backendRefs", [])) == 2:
            return index, rule["backendRefs"]
    raise AssertionError(f"no split rule in {route}")


def weights(cluster: LiveCluster) -> dict[str, int]:
    return {ref["name"]: ref["weight"] for ref in split_rule(cluster)[1]}


def replicas(cluster: LiveCluster, name: str) -> int:
    found = cluster.get("deployments", "-n", NAMESPACE, "--field-selector", f"metadata.name={name}")
    return int(found[0]["spec"]["replicas"])


def drift_findings(stack_file: Path, project: Path) -> list[dict[str, Any]]:
    plan = iac(
        "plan", str(stack_file), "--base", "live", "--stack", STACK,
        "--project-dir", str(project), "--format", "json",
    )  # fmt: skip
    assert plan.exit_code == 0, plan.output
    found: list[dict[str, Any]] = json.loads(plan.stdout)["findings"]
    return [f for f in found if f["id"] == "drift"]


def test_hand_changes_are_reported_and_the_next_iac_up_restores_them(
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
    assert drift_findings(stack_file, project) == []
    assert replicas(cluster, "llama-v1") == 0
    assert weights(cluster) == {"mistral-v1": 90, "mistral-v2": 10}

    # By hand: the deactivated deployment scaled up, the split edited to 50/50.
    cluster.kubectl("scale", "deployment", "llama-v1", "-n", NAMESPACE, "--replicas=2")
    index, _ = split_rule(cluster)
    edit = [
        {"op": "replace", "path": f"/spec/rules/{index}/backendRefs/{side}/weight", "value": 50}
        for side in (0, 1)
    ]
    cluster.kubectl("patch", "httproute", "mistral", "-n", NAMESPACE, "--type=json",
                    "-p", json.dumps(edit))  # fmt: skip
    assert replicas(cluster, "llama-v1") == 2
    assert weights(cluster) == {"mistral-v1": 50, "mistral-v2": 50}

    rule = f"spec.rules[{index}].backendRefs"
    assert [(f["level"], f["message"]) for f in drift_findings(stack_file, project)] == [
        (
            "warning",
            "Deployment models/llama-v1: spec.replicas is 2 on the cluster, declared 0 "
            "(changed by hand?); the next `iac up` restores it",
        ),
        (
            "warning",
            f"HTTPRoute models/mistral: {rule}[0].weight is 50 on the cluster, declared 90 "
            "(changed by hand?); the next `iac up` restores it",
        ),
        (
            "warning",
            f"HTTPRoute models/mistral: {rule}[1].weight is 50 on the cluster, declared 10 "
            "(changed by hand?); the next `iac up` restores it",
        ),
    ]
    # Pulumi sees it too, refreshed (and only refreshed).
    plain = pulumi_engine.run("preview", "--diff", cwd=project)
    assert "to update" not in plain.stdout, plain.stdout
    # Its dry run stops on kubectl's field manager unless conflicts are forced, as iac up
    # forces them.
    stopped = pulumi_engine.run("preview", "--refresh", cwd=project, check=False)
    assert stopped.returncode != 0
    assert 'conflict with "kubectl" with subresource "scale"' in stopped.stdout + stopped.stderr
    refreshed = subprocess.run(
        [str(pulumi_engine.pulumi), "preview", "--refresh", "--diff", "--non-interactive"],
        cwd=project, env={**pulumi_engine.env, PATCH_FORCE: "true"},
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    updates = [line.strip() for line in refreshed.stdout.splitlines() if "=>" in line]
    assert updates[-3:] == ["~ replicas: 2 => 0", "~ weight: 50 => 90", "~ weight: 50 => 10"]

    restored = iac_up(stack_file, project)
    assert restored.exit_code == 0, restored.output
    assert replicas(cluster, "llama-v1") == 0
    assert weights(cluster) == {"mistral-v1": 90, "mistral-v2": 10}
    assert drift_findings(stack_file, project) == []

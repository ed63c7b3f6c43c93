"""`pulumi up` of an `iac init` project against a live API server (issue #22, item 1, start).

The real Pulumi engine (tests/e2e/conftest.py) with the Kubernetes provider talking to the
live control plane of tests/live (a kubeconfig in `iac:kubeconfig` instead of
`iac:renderDir`), server-side apply as in production: every object iac compiles exists on
the cluster afterwards, the Deployment's pods run on kwok GPU nodes of its pool, and a
`pulumi preview --expect-no-changes` right after finds nothing to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.validate import check_stack
from tests.live.cluster import LiveCluster, nodes_for

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

STACK = "dev"


def test_pulumi_up_of_an_iac_init_project_applies_every_object_to_a_live_cluster(
    tmp_path: Path, pulumi_engine: PulumiEngine, live_cluster: LiveCluster
) -> None:
    directory = tmp_path / "project"
    name = "iac-live-" + tmp_path.name.replace("_", "-")[-30:]
    created = CliRunner().invoke(cli, ["init", str(directory), "--name", name])
    assert created.exit_code == 0, created.output
    objects = compile_stack(check_stack(str(directory / "stacks" / f"{STACK}.yaml"))).objects
    live_cluster.apply(nodes_for(objects, prefix="init"))

    run = pulumi_engine.run
    run("stack", "init", STACK, cwd=directory)
    run("config", "set", "--secret", "iac:kubeconfig", str(live_cluster.kubeconfig), cwd=directory)
    run("config", "set", "--secret", "hfToken", "not-a-real-token", cwd=directory)
    run("up", "--yes", "--skip-preview", cwd=directory)

    for obj in objects:
        meta = obj["metadata"]
        where = ["-n", meta["namespace"]] if "namespace" in meta else []
        resource = f"{obj['kind']}.{obj['apiVersion'].partition('/')[0]}"
        if "/" not in obj["apiVersion"]:
            resource = obj["kind"]
        live_cluster.kubectl("get", resource, meta["name"], *where)
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        meta = deployment["metadata"]
        selector = ",".join(
            f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
        )
        pods = live_cluster.get("pods", "-n", meta["namespace"], "-l", selector)
        assert pods
        assert {p["status"].get("phase") for p in pods} == {"Running"}, pods
        assert all(p["spec"]["nodeName"].startswith("init-gpu-") for p in pods)

    run("preview", "--expect-no-changes", cwd=directory)

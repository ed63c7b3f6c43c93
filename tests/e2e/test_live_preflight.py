"""`iac up` against a live API server stops on what the cluster lacks before it applies
anything (issue #22, item 7), through the real Pulumi engine; `iac plan --base live` lists
the same as findings; once they are there, the same `iac up` applies.

A cluster of this test's own (tests/live/cluster.py), with the CRDs installed but not the
Gateway nor the Secrets the `iac init` stack reads (its pods' token, its API keys). The
Gateway the user then creates has an HTTP listener only: a warning, and `iac up` applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from iac.cli import cli
from iac.compile import compile_stack
from iac.validate import check_stack
from tests.live.cluster import LiveCluster, nodes_for, start_cluster
from tests.live.fixtures import CRD_DIR

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

STACK = "dev"
MISSING = [
    "error: Secret models/hf-token does not exist, read by Deployment models/llama-3-8b-v1 "
    "through envFrom: create it (kubectl create secret generic hf-token -n models "
    "--from-literal=KEY=VALUE); iac names it (secrets:, weights.secret) but never holds its "
    "values [missing-secret]",
    "error: Secret models/model-api-keys does not exist, read by SecurityPolicy "
    "models/llama-3-8b-keys-clients through apiKeyAuth: create it (kubectl create secret "
    "generic model-api-keys -n models --from-literal=CLIENT=KEY, one entry per client); iac "
    "names it (auth.key_sets) but never holds its keys. Until it exists, Envoy Gateway answers "
    "every request to those endpoints with 500, whatever key it carries [missing-secret]",
    "error: Gateway gateway-system/inference does not exist, the parent of HTTPRoute "
    "models/llama-3-8b: create it with your Gateway API implementation, with a listener for "
    "*.models.example.com; or name your Gateway in cluster.gateway (name, namespace) "
    "[missing-gateway]",
    "nothing applied: the cluster lacks 3 things the objects need (above)",
]
PLAIN_HTTP = (
    "warning: Gateway gateway-system/inference has no HTTPS listener for *.models.example.com, "
    "so it takes HTTPRoute models/llama-3-8b over HTTP only: requests, and the API keys in "
    "their headers, cross the network unencrypted. Add an HTTPS listener for "
    "*.models.example.com with a certificate for it (tls.certificateRefs), unless TLS ends in "
    "front of the Gateway (a load balancer) [gateway-https]"
)


@pytest.fixture
def cluster(control_plane_bin: Path, tmp_path: Path) -> Iterator[LiveCluster]:
    live = start_cluster(control_plane_bin, tmp_path / "cluster")
    try:
        crds = sorted(str(p) for p in CRD_DIR.glob("*.yaml"))
        live.kubectl("apply", "--server-side", *(a for p in crds for a in ("-f", p)))
        live.wait_established("crd")
        yield live
    finally:
        live.stop()


def test_iac_up_stops_on_what_the_cluster_lacks_and_applies_nothing(
    tmp_path: Path,
    pulumi_engine: PulumiEngine,
    cluster: LiveCluster,
    control_plane_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in pulumi_engine.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{control_plane_bin}:{pulumi_engine.env['PATH']}")  # kubectl
    directory = tmp_path / "project"
    name = "iac-preflight-" + tmp_path.name.replace("_", "-")[-30:]
    created = CliRunner().invoke(cli, ["init", str(directory), "--name", name])
    assert created.exit_code == 0, created.output
    pulumi_engine.run("stack", "init", STACK, cwd=directory)
    pulumi_engine.run(
        "config", "set", "--secret", "iac:kubeconfig", str(cluster.kubeconfig), cwd=directory
    )
    stack_file = str(directory / "stacks" / f"{STACK}.yaml")

    def up() -> Result:
        return CliRunner().invoke(
            cli, ["up", stack_file, "--stack", STACK, "--project-dir", str(directory), "--yes"]
        )

    stopped = up()
    assert stopped.exit_code == 1, stopped.output
    assert stopped.stderr.splitlines()[-4:] == MISSING
    # Nothing reached the cluster, nor the Pulumi stack.
    assert cluster.kubectl("get", "namespace", "models", check=False).returncode != 0
    kinds = "deployments,services,configmaps,networkpolicies,scaledobjects,httproutes,podmonitors"
    assert cluster.get(kinds, "-A", "-l", "app.kubernetes.io/managed-by=iac") == []
    state = json.loads(pulumi_engine.run("stack", "export", cwd=directory).stdout)
    assert not state["deployment"].get("resources")

    plan = CliRunner().invoke(
        cli,
        ["plan", stack_file, "--base", "live", "--stack", STACK, "--project-dir", str(directory)],
        catch_exceptions=False,
    )
    assert plan.exit_code == 1, plan.output
    findings = [line for line in plan.stdout.splitlines() if line.startswith("  error")]
    assert [line.split(":")[0].split()[1] for line in findings] == [
        "missing-gateway",
        "missing-secret",
        "missing-secret",
    ]

    # The user creates what was named; the same command then applies.
    cluster.apply(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gateway-system"}},
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "hf-token", "namespace": "models"},
                "stringData": {"HF_TOKEN": "not-a-real-token"},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "model-api-keys", "namespace": "models"},
                "stringData": {"a-client": "not-a-real-key"},
            },
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": "inference", "namespace": "gateway-system"},
                "spec": {
                    "gatewayClassName": "any",
                    "listeners": [
                        {
                            "name": "http",
                            "protocol": "HTTP",
                            "port": 80,
                            "hostname": "*.models.example.com",
                            "allowedRoutes": {"namespaces": {"from": "All"}},
                        }
                    ],
                },
            },
        ]
    )
    cluster.apply(nodes_for(compile_stack(check_stack(stack_file)).objects, prefix="pf"))
    applied = up()
    assert applied.exit_code == 0, applied.output
    assert PLAIN_HTTP in applied.stderr.splitlines()  # a warning: printed, and applied
    assert applied.stdout.strip().endswith("done")
    assert cluster.get(kinds, "-A", "-l", "app.kubernetes.io/managed-by=iac")  # the same query
    # iac's Namespace took over the one the user made for the Secret.
    namespace = cluster.get("namespaces", "--field-selector", "metadata.name=models")[0]
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "iac"

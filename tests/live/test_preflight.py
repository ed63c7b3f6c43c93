"""Preflight against a real API server (issue #22, item 7): on a cluster of this module's
own, with everything the demo stack needs installed as its installers would leave it,
preflight finds nothing; each prerequisite removed in turn is reported by name, with what
installs it, exactly as on recorded answers (tests/preflight/test_preflight.py), and put back.

Not the session's `live_cluster`: removing CRDs and namespaces there would break the other
live tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from iac.compile import Compiled, compile_stack
from iac.preflight import Missing, check_cluster
from iac.validate import check_stack
from tests.live.cluster import LiveCluster, start_cluster
from tests.live.fixtures import CRD_DIR
from tests.support.missing_prerequisites import MISSING_ALONE, OLD_CRD, old_route_crd

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
SETTLE_S = 30.0
"""How long the API server may take to serve (or stop serving) a CRD's kinds."""

INTERCEPTOR = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "keda-add-ons-http-interceptor-proxy", "namespace": "keda"},
    "spec": {"ports": [{"name": "proxy", "port": 8080}]},
}
GATEWAY = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "inference", "namespace": "gateway-system"},
    "spec": {
        "gatewayClassName": "any",
        "listeners": [
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": "*.models.example.com",
                "allowedRoutes": {"namespaces": {"from": "All"}},
            }
        ],
    },
}
HF_TOKEN = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "hf-token", "namespace": "models"},
    "stringData": {"HF_TOKEN": "not-a-real-token"},
}
KEY_SECRETS = [
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "models"},
        "stringData": {"a-client": "not-a-real-key"},
    }
    for name in ("customer-api-keys", "tester-api-keys")
]
CRDS = {
    "KEDA": ["keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"],
    "the HTTP add-on": [
        "http.keda.sh_httpscaledobjects.yaml",
        "http.keda.sh_interceptorroutes.yaml",
    ],
    "Gateway API": [
        "gateway.networking.k8s.io_gateways.yaml",
        "gateway.networking.k8s.io_httproutes.yaml",
        "gateway.networking.k8s.io_referencegrants.yaml",
    ],
    "Envoy Gateway": ["gateway.envoyproxy.io_securitypolicies.yaml"],
    "the Prometheus Operator": [
        "monitoring.coreos.com_podmonitors.yaml",
        "monitoring.coreos.com_prometheusrules.yaml",
        "monitoring.coreos.com_servicemonitors.yaml",
    ],
    "Karpenter": ["karpenter.sh_nodepools.yaml", "karpenter.k8s.aws_ec2nodeclasses.yaml"],
}
"""The CRD files (IAC_CRD_DIR) each component's install brings."""


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def install_crds(cluster: LiveCluster, component: str) -> None:
    files = [str(CRD_DIR / name) for name in CRDS[component]]
    cluster.kubectl("apply", "--server-side", *(a for f in files for a in ("-f", f)))
    cluster.wait_established(*(a for f in files for a in ("-f", f)))


def remove_crds(cluster: LiveCluster, component: str) -> None:
    files = [str(CRD_DIR / name) for name in CRDS[component]]
    cluster.kubectl("delete", "--wait", *(a for f in files for a in ("-f", f)))


def install(cluster: LiveCluster, prerequisite: str) -> None:
    """Put one prerequisite in place, as its installer (or the user) would."""
    if prerequisite in CRDS:
        install_crds(cluster, prerequisite)
        if prerequisite == "Gateway API":  # the Gateway went with its CRD
            cluster.apply([GATEWAY])
    elif prerequisite == "namespace keda":
        cluster.apply([_namespace("keda"), INTERCEPTOR])  # the add-on's install makes both
    elif prerequisite == "Secret hf-token":
        cluster.apply([HF_TOKEN])
    elif prerequisite == "the key Secrets":
        cluster.apply(KEY_SECRETS)
    elif prerequisite == "the interceptor":
        cluster.apply([INTERCEPTOR])
    elif prerequisite == "the Gateway":
        cluster.apply([GATEWAY])


def remove(cluster: LiveCluster, prerequisite: str) -> None:
    if prerequisite in CRDS:
        remove_crds(cluster, prerequisite)
    elif prerequisite == "namespace keda":
        cluster.kubectl("delete", "namespace", "keda", "--wait", "--timeout=60s")
    elif prerequisite == "Secret hf-token":
        cluster.kubectl("delete", "secret", "hf-token", "-n", "models")
    elif prerequisite == "the key Secrets":
        names = [s["metadata"]["name"] for s in KEY_SECRETS]
        cluster.kubectl("delete", "secret", *names, "-n", "models")
    elif prerequisite == "the interceptor":
        cluster.kubectl("delete", "service", INTERCEPTOR["metadata"]["name"], "-n", "keda")
    elif prerequisite == "the Gateway":
        cluster.kubectl("delete", "gateway", "inference", "-n", "gateway-system")


@pytest.fixture(scope="module")
def cluster(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCluster]:
    """A cluster of this module's own, with kubectl from the built control plane on PATH
    (preflight runs `kubectl`, as a user's machine would)."""
    live = start_cluster(control_plane_bin, tmp_path_factory.mktemp("preflight-cluster"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PATH", f"{control_plane_bin}:{os.environ['PATH']}")
            patch.delenv("KUBECONFIG", raising=False)
            # The user creates the models' namespace to put the Secret in; iac's Namespace
            # object takes it over on the first apply.
            live.apply([_namespace("gateway-system"), _namespace("models")])
            yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def demo() -> Compiled:
    return compile_stack(check_stack(str(ROOT / "stacks" / "demo.yaml")))


def run_preflight(cluster: LiveCluster, demo: Compiled) -> list[Missing]:
    return check_cluster(
        demo.objects, demo.release.cluster, str(cluster.kubeconfig), None, cluster.work
    )


def settled(
    check: Callable[[], list[Missing]], done: Callable[[list[Missing]], bool]
) -> list[Missing]:
    """`check()` once `done` holds of it (the API server's discovery follows a CRD's
    creation or deletion within moments), or its last answer after SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    found = check()
    while not done(found) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = check()
    return found


def test_a_bare_cluster_lacks_everything_and_each_is_named(
    cluster: LiveCluster, demo: Compiled
) -> None:
    found = run_preflight(cluster, demo)
    expected = sorted(
        entry
        for name, entries in MISSING_ALONE.items()
        # A bare cluster has no Gateway API, so no Gateway is looked for.
        if name != "the Gateway"
        for entry in entries
    )
    assert sorted((m.id, m.message) for m in found) == expected


@pytest.fixture(scope="module")
def complete(cluster: LiveCluster, demo: Compiled) -> LiveCluster:
    """The cluster with every prerequisite of the demo installed."""
    for prerequisite in MISSING_ALONE:
        install(cluster, prerequisite)
    return cluster


def test_with_every_prerequisite_preflight_passes(complete: LiveCluster, demo: Compiled) -> None:
    assert settled(lambda: run_preflight(complete, demo), lambda found: not found) == []


@pytest.mark.parametrize("absent", list(MISSING_ALONE))
def test_each_prerequisite_removed_in_turn_is_named(
    complete: LiveCluster, demo: Compiled, absent: str
) -> None:
    cluster = complete
    remove(cluster, absent)
    try:
        expected = list(MISSING_ALONE[absent])
        if absent == "namespace keda":  # the add-on's Service goes with its namespace
            expected += MISSING_ALONE["the interceptor"]
        found = settled(lambda: run_preflight(cluster, demo), lambda f: len(f) >= len(expected))
        assert [(m.id, m.message) for m in found] == expected
    finally:
        install(cluster, absent)
    assert settled(lambda: run_preflight(cluster, demo), lambda found: not found) == []


def test_a_listener_for_other_hosts_is_named_with_the_listener_wanted(
    complete: LiveCluster, demo: Compiled
) -> None:
    cluster = complete
    elsewhere = yaml.safe_load(yaml.safe_dump(GATEWAY))
    elsewhere["spec"]["listeners"][0]["hostname"] = "*.example.org"
    cluster.apply([elsewhere])
    try:
        found = run_preflight(cluster, demo)
    finally:
        cluster.apply([GATEWAY])
    assert [(m.id, m.model) for m in found] == [
        ("gateway-listener", "bge-large"),
        ("gateway-listener", "llama-3-8b"),
    ]
    assert found[0].message == (
        "Gateway gateway-system/inference has no listener that takes HTTPRoute models/bge-large "
        "for bge-large.models.example.com (listener https: its hostname *.example.org does not "
        "match bge-large.models.example.com): add a listener for *.models.example.com that "
        "admits routes from models, or name a Gateway that has one in cluster.gateway"
    )


def test_a_kubeconfig_given_as_contents_reads_the_same_cluster(
    complete: LiveCluster, demo: Compiled
) -> None:
    """`iac:kubeconfig` may hold the kubeconfig itself (a secret), as the provider takes it."""
    contents = complete.kubeconfig.read_text()
    found = check_cluster(demo.objects, demo.release.cluster, contents, "live", Path("/"))
    assert found == []


def test_an_httproute_crd_without_rule_names_is_read_and_named(
    complete: LiveCluster, demo: Compiled
) -> None:
    """The CRD as the API server serves it (read with kubectl, which needs the cluster-wide
    permission to get CRDs), swapped for Gateway API v1.3.0's shape and put back."""
    cluster = complete
    path = CRD_DIR / "gateway.networking.k8s.io_httproutes.yaml"
    current = yaml.safe_load(path.read_text())
    older = cluster.work / "old-httproutes.yaml"
    older.write_text(yaml.safe_dump(old_route_crd(current)))
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(older))
    try:
        found = settled(lambda: run_preflight(cluster, demo), lambda f: bool(f))
    finally:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    assert [(m.id, m.message) for m in found] == [("old-crd", OLD_CRD)]
    assert settled(lambda: run_preflight(cluster, demo), lambda found: not found) == []

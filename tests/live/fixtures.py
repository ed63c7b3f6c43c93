"""Fixtures for a live control plane: ``control_plane_bin`` and ``live_cluster`` (session).

Imported by tests/live/conftest.py and tests/e2e/conftest.py. The binaries come from
``scripts/install-control-plane``: built from Go modules on first use (10-25 minutes on a
cold Go cache, see docs/live-cluster.md) and reused from the cache afterwards. A failed build
fails the session; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.cluster import (
    INSTALL_SCRIPT,
    REPO_ROOT,
    REQUIRED_BINARIES,
    LiveCluster,
    start_cluster,
)
from tests.live.gateway import Gateway, start_gateway
from tests.live.keda import KEDA_NAMESPACE, start_keda
from tests.support.install_scripts import install

INSTALL_TIMEOUT_S = int(os.environ.get("IAC_CONTROL_PLANE_INSTALL_TIMEOUT", "3600"))
GATEWAY_INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-gateway"
GATEWAY_INSTALL_TIMEOUT_S = int(os.environ.get("IAC_GATEWAY_INSTALL_TIMEOUT", "1800"))
CRD_DIR = Path(os.environ.get("IAC_CRD_DIR", REPO_ROOT.parent / "shared" / "crds"))


@pytest.fixture(scope="session")
def control_plane_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The control plane's bin dir, built once (cached across sessions)."""
    work = tmp_path_factory.mktemp("control-plane")
    log = work / "install-control-plane.log"
    return install(INSTALL_SCRIPT, log, INSTALL_TIMEOUT_S, REQUIRED_BINARIES)


# What the KEDA HTTP add-on's chart creates for its interceptor, which routes send requests
# to (`cluster.scale_from_zero` defaults). The Service only: no interceptor runs behind it.
INTERCEPTOR_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "keda-add-ons-http-interceptor-proxy", "namespace": KEDA_NAMESPACE},
    "spec": {
        "selector": {"app.kubernetes.io/component": "interceptor"},
        "ports": [{"name": "proxy", "port": 8080, "targetPort": 8080}],
    },
}


def start_prepared_cluster(
    bin_dir: Path, work: Path, *, controllers: bool = True, keda: bool = True
) -> LiveCluster:
    """A running cluster with the prerequisites iac's objects need, and KEDA at work
    (``keda=False``: neither the KEDA operator nor the stand-in scaler; ``controllers=False``:
    etcd and the API server only, :func:`start_cluster`).

    Cluster prerequisites as the README lists them are installed the way their own
    installers would: the CRDs from IAC_CRD_DIR, the `keda` namespace that KEDA and its
    HTTP add-on are installed into (iac writes a ReferenceGrant there but does not own it),
    the KEDA operator with the stand-in for the add-on's scaler (tests/live/keda.py), and the
    add-on's interceptor Service (the object only: no interceptor runs behind it here).
    The caller stops it (``cluster.stop()``).
    """
    if not CRD_DIR.is_dir():
        pytest.fail(f"no CRDs in {CRD_DIR} (set IAC_CRD_DIR)", pytrace=False)
    cluster = start_cluster(bin_dir, work, controllers=controllers)
    try:
        crds = sorted(str(p) for p in CRD_DIR.glob("*.yaml"))
        cluster.kubectl("apply", "--server-side", *(a for p in crds for a in ("-f", p)))
        cluster.wait_established("crd")
        cluster.kubectl("create", "namespace", KEDA_NAMESPACE)
        cluster.apply([INTERCEPTOR_SERVICE])
        if keda:
            start_keda(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def live_cluster(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCluster]:
    """One prepared cluster (:func:`start_prepared_cluster`) for the session."""
    cluster = start_prepared_cluster(control_plane_bin, tmp_path_factory.mktemp("live-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def gateway_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Traefik's bin dir (``scripts/install-gateway``), built once (cached across sessions);
    the Gateway API CRDs it is built against are beside it, in ``../gateway-api-crds``."""
    work = tmp_path_factory.mktemp("gateway")
    log = work / "install-gateway.log"
    return install(GATEWAY_INSTALL_SCRIPT, log, GATEWAY_INSTALL_TIMEOUT_S, ("traefik",))


@pytest.fixture(scope="session")
def gateway(
    control_plane_bin: Path, gateway_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A prepared cluster of its own with Traefik serving it and the stand-ins behind it
    (tests/live/gateway.py). Its own: it installs the Gateway API CRDs of Traefik's version
    over the ones in IAC_CRD_DIR."""
    cluster = start_prepared_cluster(control_plane_bin, tmp_path_factory.mktemp("gateway-cluster"))
    try:
        served = start_gateway(cluster, gateway_bin.parent)
        try:
            yield served
        finally:
            served.plane.stop()
    finally:
        cluster.stop()

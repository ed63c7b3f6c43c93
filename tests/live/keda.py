"""The KEDA operator, and a stand-in for the HTTP add-on's scaler, on a live cluster.

Both binaries come from ``scripts/install-control-plane``: the operator is KEDA v2.21.0
built from its published module; the scaler is ``scripts/keda-http-scaler-standin``, a
**stand-in** for the KEDA HTTP add-on's external scaler (the add-on's module cannot be
fetched here). It speaks KEDA's external-scaler gRPC protocol, reads the InterceptorRoute
a trigger names from the API server for its target, and reports the pending requests a
test sets with :meth:`Keda.set_pending` (in the add-on, the interceptors count them).

The operator runs outside the cluster, as in KEDA's own development setup. The triggers
iac writes name the scaler by its in-cluster address
(``keda-add-ons-http-external-scaler.keda:9090``); the operator resolves it through its own
``/etc/hosts``, bind-mounted in a private mount namespace (``unshare --mount``) to a file
that maps that name to the stand-in's loopback address: iac's objects are applied exactly
as rendered. Prometheus is not run: Prometheus-triggered ScaledObjects get their HPA with
the declared bounds, and KEDA logs that it cannot reach the server.
"""

from __future__ import annotations

import random
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.live.cluster import ClusterError, LiveCluster, free_port

SCALER_HOST = "keda-add-ons-http-external-scaler.keda"
SCALER_PORT = 9090  # the port in the triggers' scalerAddress
KEDA_NAMESPACE = "keda"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Keda:
    """The running operator and stand-in scaler of a cluster."""

    cluster: LiveCluster
    control: str  # the stand-in's control endpoint

    def set_pending(self, namespace: str, interceptor_route: str, pending: int) -> None:
        """Make the stand-in report ``pending`` requests for an InterceptorRoute."""
        request = urllib.request.Request(
            f"{self.control}/pending/{namespace}/{interceptor_route}",
            data=str(pending).encode(),
            method="PUT",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204, response.status


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _serving_certificate(directory: Path) -> None:
    """A throwaway CA and serving certificate for the operator's gRPC metrics service."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=keda-ca",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=keda-operator",
            "-keyout", "tls.key", "-out", "tls.csr")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "tls.crt")  # fmt: skip


def start_keda(cluster: LiveCluster) -> Keda:
    """Install KEDA's CRDs and start the stand-in scaler and the operator on ``cluster``.

    Expects the ``keda`` namespace (a prerequisite, made by the caller as KEDA's installer
    would). Returns once the operator's readiness probe answers.
    """
    crds = cluster.bin_dir.parent / "keda-crds"
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    cluster.wait_established("crd")

    # A loopback address of its own, so that the fixed port never collides with another run.
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    control = f"127.0.0.1:{free_port()}"
    cluster.start(
        "keda-http-scaler-standin",
        [
            f"--listen={address}:{SCALER_PORT}",
            f"--control={control}",
            f"--kubeconfig={cluster.kubeconfig}",
        ],
    )

    hosts = cluster.work / "keda-hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + f"\n{address} {SCALER_HOST}\n")
    certs = cluster.work / "keda-certs"
    _serving_certificate(certs)
    (cluster.work / "keda-ca").mkdir(exist_ok=True)
    health = free_port()
    cluster.start(
        "keda-operator",
        [
            f"--health-probe-bind-address=127.0.0.1:{health}",
            f"--metrics-bind-address=127.0.0.1:{free_port()}",
            f"--metrics-service-bind-address=127.0.0.1:{free_port()}",
            f"--cert-dir={certs}",
            f"--ca-dir={cluster.work / 'keda-ca'}",
            "--enable-webhook-patching=false",
            "--enable-apiservice-patching=false",
            "--leader-elect=false",
            "--zap-log-level=info",
        ],
        env={
            "KUBECONFIG": str(cluster.kubeconfig),
            "WATCH_NAMESPACE": "",
            "POD_NAMESPACE": KEDA_NAMESPACE,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE,
            "OPERATOR_NAME": "keda-operator",
        },
        # Its own /etc/hosts: the scaler's in-cluster name resolves to the stand-in.
        wrapper=[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"',
            str(hosts),
        ],
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _ready(f"http://127.0.0.1:{health}/readyz"):
        cluster.check_running()
        if time.monotonic() > deadline:
            raise ClusterError(f"keda-operator not ready:\n{cluster.log_tail('keda-operator')}")
        time.sleep(0.3)
    cluster.keda = Keda(cluster=cluster, control=f"http://{control}")
    return cluster.keda

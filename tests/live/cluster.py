"""A Kubernetes control plane on loopback for the live-cluster tests.

The binaries come from ``scripts/install-control-plane`` (built from Go modules, cached; see
docs/live-cluster.md). :func:`start_cluster` runs etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok as child processes on free loopback ports,
with every file (data, certificates, logs, kubeconfig) in one temporary directory, and
:meth:`LiveCluster.stop` ends them by PID. Nothing here is a stand-in: kwok is the real
project, it keeps fake Nodes Ready and marks the pods bound to them Running.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tests.live.keda import Keda

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-control-plane"
REQUIRED_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "keda-operator",
    "keda-http-scaler-standin",
)
KWOK_POD_STAGES = Path(__file__).with_name("kwok-pod-stages.yaml")
# The annotation kwok is told to manage nodes by (a fake node carries it).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
GPU_TAINT_KEY = "nvidia.com/gpu"
# A fake GPU node: room for the largest pod of the examples (one 8-GPU board) and its CPU/memory.
NODE_GPUS = 8
NODE_CPU = "192"
NODE_MEMORY = "2Ti"
START_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """A component did not start or a kubectl command failed; the message holds the logs."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveCluster:
    """A running control plane: its kubeconfig, its binaries and the processes to stop."""

    bin_dir: Path
    work: Path
    kubeconfig: Path
    server: str
    token: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    keda: Keda | None = None  # set by tests.live.keda.start_keda

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.work / "logs" / f"{name}.log"
        if not path.exists():
            return f"(no log for {name})"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster (never the user's KUBECONFIG)."""
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBE_CONTEXT")}
        cmd = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, env=env, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise ClusterError(
                f"{' '.join(cmd)} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc

    def get(self, *args: str) -> list[dict[str, Any]]:
        """The objects `kubectl get ARGS -o json` lists (one named by a single ``-f FILE`` too)."""
        found: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        items: list[dict[str, Any]] = found.get("items", [found])
        return items

    def wait_established(self, *selector: str, timeout: float = 60) -> None:
        """Wait until every CRD ``selector`` names (``crd``: all; ``-f FILE``...) is Established.

        Polled here rather than with `kubectl wait --for=condition=Established`: that fails at
        once ("accessor error: <nil>") on a CRD created an instant before, whose status has no
        conditions yet (CI run of 530c734, tests/live/test_preflight.py).
        """
        deadline = time.monotonic() + timeout
        while True:
            waiting = [
                crd["metadata"]["name"]
                for crd in self.get(*selector)
                if not any(
                    c.get("type") == "Established" and c.get("status") == "True"
                    for c in crd.get("status", {}).get("conditions") or []
                )
            ]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"CRDs not Established after {timeout:.0f} s: {waiting}")
            time.sleep(0.2)

    def apply(self, documents: Iterable[Mapping[str, Any]]) -> None:
        text = yaml.safe_dump_all(list(documents), sort_keys=False)
        self.kubectl("apply", "--server-side", "-f", "-", stdin=text)

    def start(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        wrapper: Sequence[str] = (),
    ) -> None:
        """Start the built binary ``name`` (through ``wrapper``, which must exec it)."""
        log = (self.work / "logs" / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [*wrapper, str(self.bin_dir / name), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.work,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # a Ctrl-C of pytest does not reach them half way
        )
        log.close()

    def check_running(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise ClusterError(f"{name} exited {proc.returncode}:\n{self.log_tail(name)}")

    def stop(self) -> None:
        """Stop every component by its PID (last started first): SIGTERM, then SIGKILL."""
        for name, proc in reversed(list(self.processes.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            del self.processes[name]

    def readyz(self) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the API server's self-signed serving certificate
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, context=ctx, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def _wait(what: str, ready: Any, cluster: LiveCluster, log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        cluster.check_running()
        if ready():
            return
        time.sleep(0.2)
    raise ClusterError(f"{what} not ready after {START_TIMEOUT_S}s:\n{cluster.log_tail(log)}")


def _etcd_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("health") == "true")
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _kubeconfig(server: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "live", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "live", "context": {"cluster": "live", "user": "admin"}}],
        "current-context": "live",
    }


def start_cluster(bin_dir: Path, work: Path, *, controllers: bool = True) -> LiveCluster:
    """Start etcd, the API server, the controller manager, the scheduler and kwok in ``work``
    (``controllers=False``: etcd and the API server only, a store that writes nothing back:
    no ReplicaSet, pod or ServiceAccount is ever made).

    Returns once /readyz answers, the default ServiceAccount exists and kwok runs; on any
    failure everything started so far is stopped and ClusterError says which part failed.
    """
    for sub in ("logs", "etcd", "certs"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    api_port = free_port()
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_kubeconfig(server, token)))
    cluster = LiveCluster(
        bin_dir=bin_dir, work=work, kubeconfig=kubeconfig, server=server, token=token
    )
    try:
        _start(cluster, api_port, controllers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start(cluster: LiveCluster, api_port: int, controllers: bool) -> None:
    work = cluster.work
    certs = work / "certs"
    sa_key = certs / "service-account.key"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
    )
    tokens = work / "tokens.csv"
    tokens.write_text(f'{cluster.token},admin,admin,"system:masters"\n')

    client_port, peer_port = free_port(), free_port()
    cluster.start(
        "etcd",
        [
            "--name=live",
            f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client_port}",
            f"--advertise-client-urls=http://127.0.0.1:{client_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=live=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync",  # a throwaway test store
            "--log-level=warn",
        ],
    )
    _wait("etcd", lambda: _etcd_ready(client_port), cluster, "etcd")

    cluster.start(
        "kube-apiserver",
        [
            f"--etcd-servers=http://127.0.0.1:{client_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--cert-dir={certs}",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            # A loopback address may not be in the `kubernetes` Endpoints: do not maintain them.
            "--endpoint-reconciler-type=none",
        ],
    )
    _wait("kube-apiserver /readyz", cluster.readyz, cluster, "kube-apiserver")
    if not controllers:
        return

    kubeconfig = str(cluster.kubeconfig)
    cluster.start(
        "kube-controller-manager",
        [
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--controllers=*,-service-lb-controller,-node-route-controller,"
            "-cloud-node-lifecycle-controller",
            f"--service-account-private-key-file={sa_key}",
            f"--root-ca-file={certs / 'apiserver.crt'}",
            "--use-service-account-credentials=false",
            # kwok's fake nodes heartbeat (through Leases, below) late when the machine is
            # loaded; past the grace period the node lifecycle controller marks their pods
            # NotReady and kwok never marks them Ready again (no kubelet), so their Services
            # lose every endpoint. Nothing here tests node failure: give heartbeats room.
            "--node-monitor-grace-period=10m",
            # The default client limit, 20 requests a second, is the controllers' pace with
            # thousands of Deployments (each a ReplicaSet, a pod and status writes): 73 of
            # 3,000 were Available 353 s after kubectl's apply (docs/benchmarks.md). A limit
            # is not what the benchmarks and tests measure (it applies to every case alike).
            "--kube-api-qps=200",
            "--kube-api-burst=400",
        ],
    )
    cluster.start(
        "kube-scheduler",
        [
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--kube-api-qps=200",  # (default 50: binding 3,000 pods, as above)
            "--kube-api-burst=400",
        ],
    )
    cluster.start(
        "kwok",
        [
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=" + "=".join(KWOK_NODE_ANNOTATION),
            # Heartbeats through node Leases, renewed every 10 s, as kubelets do.
            "--node-lease-duration-seconds=40",
            "--cidr=10.0.0.1/16",
            "--node-ip=10.0.0.1",
            # Its pod stages, with a pod's preStop sleep before it goes (the file says why).
            f"--config={KWOK_POD_STAGES}",
            f"--server-address=127.0.0.1:{free_port()}",
        ],
    )

    def default_service_account() -> bool:
        proc = cluster.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
        return proc.returncode == 0

    _wait(
        "the default ServiceAccount (kube-controller-manager)",
        default_service_account,
        cluster,
        "kube-controller-manager",
    )


# --- fake GPU nodes ------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeShape:
    """What a pod's scheduling constraints ask of a node: labels and extended resources."""

    labels: tuple[tuple[str, str], ...]
    gpu_resources: tuple[tuple[str, int], ...]
    tainted: bool


def pod_node_shape(pod_spec: Mapping[str, Any]) -> NodeShape | None:
    """The node a pod of this spec needs, or None when it asks for no GPU.

    Labels: its nodeSelector, plus for each required node-affinity expression (first term)
    the first value of an `In` (an `Exists` gets "true"). Resources: the extended resources
    its containers limit (``nvidia.com/gpu``, MIG profiles). Tainted: it tolerates the
    ``nvidia.com/gpu`` taint GPU nodes carry.
    """
    labels = dict(pod_spec.get("nodeSelector") or {})
    terms = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", {})
        .get("nodeSelectorTerms", [])
    )
    for expression in terms[0].get("matchExpressions", []) if terms else []:
        if expression["operator"] == "In" and expression["key"] not in labels:
            labels[expression["key"]] = expression["values"][0]
        elif expression["operator"] == "Exists":
            labels.setdefault(expression["key"], "true")
    gpus: dict[str, int] = {}
    for container in pod_spec.get("containers", []):
        limits = (container.get("resources") or {}).get("limits") or {}
        for resource, amount in limits.items():
            if resource.startswith("nvidia.com/"):
                gpus[resource] = gpus.get(resource, 0) + int(amount)
    if not gpus:
        return None
    tainted = any(t.get("key") == GPU_TAINT_KEY for t in pod_spec.get("tolerations") or [])
    return NodeShape(tuple(sorted(labels.items())), tuple(sorted(gpus.items())), tainted)


def nodes_for(objects: Iterable[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """kwok Nodes on which every Deployment of ``objects`` can run all its replicas.

    One node per replica (a Deployment without ``spec.replicas`` has one). A GPU
    Deployment's are shaped by :func:`pod_node_shape`, with ``NODE_GPUS`` (or the pod's own
    count, if larger) of each GPU resource and the ``nvidia.com/gpu:NoSchedule`` taint; a
    Deployment that asks for no GPU (a chain's CPU router) gets untainted nodes with the
    labels its nodeSelector asks for, what a cluster's CPU pool gives it.
    """
    nodes: list[dict[str, Any]] = []
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        pod_spec = obj["spec"]["template"]["spec"]
        shape = pod_node_shape(pod_spec)
        kind = "gpu"
        if shape is None:
            labels = tuple(sorted((pod_spec.get("nodeSelector") or {}).items()))
            shape, kind = NodeShape(labels, (), tainted=False), "cpu"
        for _ in range(max(1, int(obj["spec"].get("replicas", 1)))):
            nodes.append(kwok_node(f"{prefix}-{kind}-{len(nodes)}", shape))
    return nodes


def kwok_node(name: str, shape: NodeShape) -> dict[str, Any]:
    resources = {
        "cpu": NODE_CPU,
        "memory": NODE_MEMORY,
        "ephemeral-storage": "10Ti",
        "pods": "110",
        **{r: str(max(NODE_GPUS, n)) for r, n in shape.gpu_resources},
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1]},
            "labels": {
                **dict(shape.labels),
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {
            "taints": (
                [{"key": GPU_TAINT_KEY, "value": "present", "effect": "NoSchedule"}]
                if shape.tainted
                else []
            )
        },
        "status": {"capacity": resources, "allocatable": resources},
    }

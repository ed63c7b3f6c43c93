"""A real Gateway on a live cluster: Traefik as a host process, with the stand-ins behind it.

Traefik comes from ``scripts/install-gateway`` (v3.6, built from its Go module; cached; see
docs/gateway-tests.md). :func:`start_gateway` installs the Gateway API standard CRDs of the
version Traefik is built against (its provider watches GatewayClass, GRPCRoute and
BackendTLSPolicy besides the kinds iac writes), a GatewayClass for Traefik, a kwok node for
the cluster's own (non-GPU) pods and a pod behind the KEDA HTTP add-on's interceptor
Service (answered by the stand-in interceptor), starts the stand-ins (tests/live/standins.py)
and Traefik: provider ``kubernetesgateway``, its entry point and API on free loopback ports,
upstream connections through the stand-ins' SOCKS5 proxy. Traefik is registered with the
cluster's processes, so ``cluster.stop()`` ends it by its PID.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live.cluster import ClusterError, LiveCluster, NodeShape, free_port, kwok_node
from tests.live.keda import KEDA_NAMESPACE
from tests.live.standins import DataPlane, start_data_plane

GATEWAY_CLASS = "traefik"
CONTROLLER_NAME = "traefik.io/gateway-controller"
START_TIMEOUT_S = 60.0
CONVERGE_TIMEOUT_S = 60.0
INTERCEPTOR_PORT = 8080  # the add-on's interceptor Service's targetPort (tests/live/fixtures.py)


@dataclass
class Answer:
    """One request through the Gateway: the status and, from a stand-in, who answered."""

    status: int
    body: dict[str, Any] | None  # a stand-in's JSON; None for anything else (Traefik's 404)
    latency_s: float

    @property
    def deployment(self) -> str | None:
        return None if self.body is None else self.body.get("deployment")


@dataclass
class Gateway:
    """Traefik serving a live cluster's Gateways, and the stand-ins behind it."""

    cluster: LiveCluster
    plane: DataPlane
    port: int  # the entry point (and every Gateway listener) on 127.0.0.1
    api_port: int  # Traefik's API (/api/http/routers) on 127.0.0.1

    def request(
        self, host: str | None, path: str, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """GET ``path`` with ``Host: host`` through the entry point (a new connection)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.connect()
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.monotonic()
            connection.request(
                "GET", path, headers={"Host": host or "gateway.test", **(headers or {})}
            )
            response = connection.getresponse()
            raw = response.read()
            latency = time.monotonic() - started
        finally:
            connection.close()
        body = None
        if response.getheader("x-iac-standin") is not None:
            body = json.loads(raw)
        return Answer(response.status, body, latency)

    def routers(self) -> list[dict[str, Any]]:
        """What Traefik serves now: its HTTP routers (name, rule, priority, status)."""
        url = f"http://127.0.0.1:{self.api_port}/api/http/routers?per_page=10000"
        with urllib.request.urlopen(url, timeout=10) as response:
            routers: list[dict[str, Any]] = json.loads(response.read())
            return routers

    def wait_routes(self, routes: Iterable[Mapping[str, Any]]) -> None:
        """Until Traefik has accepted every HTTPRoute of ``routes`` at its generation and
        serves a router for each of their rules' matches."""
        wanted = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in routes}
        matches = sum(
            max(1, len(rule.get("matches") or []))
            for r in wanted.values()
            for rule in r["spec"]["rules"]
        )
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        problems: list[str] = []
        while time.monotonic() < deadline:
            self.cluster.check_running()
            problems = []
            live = {
                (r["metadata"]["namespace"], r["metadata"]["name"]): r
                for r in self.cluster.get("httproutes", "--all-namespaces")
            }
            for key in wanted:
                route = live.get(key)
                if route is None:
                    problems.append(f"{key}: not on the cluster")
                    continue
                accepted = [
                    c
                    for p in (route.get("status") or {}).get("parents", [])
                    if p.get("controllerName") == CONTROLLER_NAME
                    for c in p.get("conditions", [])
                    if c["type"] == "Accepted"
                    and c["status"] == "True"
                    and c.get("observedGeneration") == route["metadata"]["generation"]
                ]
                if not accepted:
                    problems.append(f"{key}: not Accepted by Traefik: {route.get('status')}")
            served = [r for r in self.routers() if r.get("provider") == "kubernetesgateway"]
            if len(served) < matches:
                problems.append(f"Traefik serves {len(served)} routers, wants {matches}")
            if not problems:
                return
            time.sleep(0.2)
        raise ClusterError(
            "Traefik did not converge:\n"
            + "\n".join(problems[:20])
            + "\n"
            + self.cluster.log_tail("traefik")
        )


def gateway_objects() -> list[dict[str, Any]]:
    """The GatewayClass for Traefik; Gateways come from tests.live.prerequisites."""
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": CONTROLLER_NAME},
        }
    ]


SYSTEM_NODE = "gateway-system-0"


def _interceptor_pod() -> dict[str, Any]:
    """A kwok pod behind the add-on's interceptor Service, so that the Service has an
    endpoint (the stand-in interceptor answers for it through the proxy)."""
    labels = {"app.kubernetes.io/component": "interceptor"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "keda-add-ons-http-interceptor", "namespace": KEDA_NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeName": SYSTEM_NODE,
                    "containers": [
                        {
                            "name": "interceptor",
                            "image": "stand-in/keda-http-interceptor",
                            "ports": [{"name": "proxy", "containerPort": INTERCEPTOR_PORT}],
                        }
                    ],
                },
            },
        },
    }


def start_gateway(cluster: LiveCluster, install_dir: Path) -> Gateway:
    """Traefik and the stand-ins on a prepared cluster (tests.live.fixtures)."""
    keda = cluster.keda
    if keda is None:
        raise ClusterError("start_gateway needs a prepared cluster (KEDA and its scaler)")
    crds = install_dir / "gateway-api-crds"
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    cluster.wait_established("crd")
    port, api_port = free_port(), free_port()
    cluster.apply(
        [
            *gateway_objects(),
            kwok_node(SYSTEM_NODE, NodeShape(labels=(), gpu_resources=(), tainted=False)),
            _interceptor_pod(),
        ]
    )
    cluster.kubectl(
        "rollout", "status", "deployment", "keda-add-ons-http-interceptor",
        "-n", KEDA_NAMESPACE, "--timeout=60s",
    )  # fmt: skip

    plane = start_data_plane(cluster, keda.set_pending, KEDA_NAMESPACE, INTERCEPTOR_PORT)
    try:
        log = (cluster.work / "logs" / "traefik.log").open("wb")
        env = {
            k: v
            for k, v in os.environ.items()
            if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
        }
        env.update(
            {
                "KUBECONFIG": str(cluster.kubeconfig),
                # Upstream (backend) connections go through the stand-ins' proxy; the API
                # server on loopback is reached directly.
                "HTTP_PROXY": plane.proxy.url,
                "NO_PROXY": "127.0.0.1,localhost",
            }
        )
        cluster.processes["traefik"] = subprocess.Popen(
            [
                str(install_dir / "bin" / "traefik"),
                f"--entryPoints.web.address=127.0.0.1:{port}",
                f"--entryPoints.traefik.address=127.0.0.1:{api_port}",
                "--api.insecure=true",
                "--api.dashboard=false",  # not built in: its assets are not in the module
                "--log.noColor=true",
                "--ping=true",
                "--providers.kubernetesgateway=true",
                "--providers.kubernetesgateway.statusAddress.ip=127.0.0.1",
                "--accesslog=true",
                "--log.level=INFO",
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cluster.work,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ping(api_port):
            cluster.check_running()
            if time.monotonic() > deadline:
                raise ClusterError(f"traefik not ready:\n{cluster.log_tail('traefik')}")
            time.sleep(0.2)
    except BaseException:
        plane.stop()
        raise
    return Gateway(cluster=cluster, plane=plane, port=port, api_port=api_port)


def _ping(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False

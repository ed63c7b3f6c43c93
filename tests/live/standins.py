"""Stand-ins behind a real Gateway on a live cluster: backends, a SOCKS5 proxy, an interceptor.

Traefik (tests/live/gateway.py) reads the EndpointSlices the real EndpointSlice controller
writes for the rendered Services, from the pods kwok runs: so a deployment with no ready pod
has no endpoint, exactly as on a cluster. Those endpoints are kwok's pod IPs, which lead
nowhere on this machine. Traefik's upstream connections go through :class:`Socks5Proxy`
(``HTTP_PROXY=socks5://127.0.0.1:PORT``), which maps a pod's IP and port to the **stand-in**
of that pod on loopback and refuses every other address: no traffic leaves this machine.

- :class:`StandinBackends`: one **stand-in backend** per pod (by UID), an HTTP server on a
  loopback port that answers every request with who it stands for (namespace, Deployment,
  pod), the path it saw and the headers it got, so a test asserts *which deployment*
  answered.
- :class:`StandinInterceptor`: a **stand-in** for the KEDA HTTP add-on's interceptor (its
  module cannot be fetched here, ../shared/reference/control-plane.md), reached through a
  kwok pod behind the add-on's interceptor Service. It picks the InterceptorRoute whose
  rules match the request (host, path prefix, headers: the routing header the HTTPRoute
  sets), holds the request while the route's target Service has no ready endpoint, reports
  its requests in flight to the (stand-in) scaler (``Keda.set_pending``) so KEDA scales from
  zero, and forwards to a ready pod.

Every socket sets TCP_NODELAY: Python's http.server writes headers and body in two sends,
and with Nagle's algorithm each keep-alive response would wait for a delayed ACK (~40 ms).
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import select
import socket
import socketserver
import ssl
import struct
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.live.cluster import LiveCluster

STANDIN_HEADER = "x-iac-standin"
"""Every stand-in answer carries it: `backend` or `interceptor` (an interceptor's own error)."""
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --- reading the API server -------------------------------------------------------------


class ApiReader:
    """GETs JSON from the cluster's API server (its token, its self-signed certificate)."""

    def __init__(self, cluster: LiveCluster) -> None:
        self.server = cluster.server
        self.token = cluster.token
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE  # the test API server's own certificate

    def get(self, path: str, **query: str) -> dict[str, Any]:
        url = self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body


@dataclass(frozen=True)
class PodIdentity:
    """Who a pod is: what a stand-in backend answers with."""

    namespace: str
    pod: str
    uid: str
    deployment: str | None  # the Deployment that owns it (through its ReplicaSet), if any
    ports: tuple[int, ...]  # its containers' ports


def _identity(pod: Mapping[str, Any]) -> PodIdentity:
    meta = pod["metadata"]
    deployment = None
    template_hash = meta.get("labels", {}).get("pod-template-hash")
    for owner in meta.get("ownerReferences", []):
        if owner["kind"] == "ReplicaSet" and template_hash:
            deployment = owner["name"].removesuffix("-" + template_hash)
    ports = tuple(
        port["containerPort"]
        for container in pod["spec"].get("containers", [])
        for port in container.get("ports", [])
    )
    return PodIdentity(meta["namespace"], meta["name"], meta["uid"], deployment, ports)


class PodIndex:
    """Pod IP → the pod that has it now, read from the API server (at most every 0.2 s)."""

    REFRESH_S = 0.2

    def __init__(self, api: ApiReader) -> None:
        self.api = api
        self.lock = threading.Lock()
        self.by_ip: dict[str, PodIdentity] = {}
        self.read_at = 0.0

    def refresh(self) -> None:
        pods = self.api.get("/api/v1/pods")["items"]
        # A pod marked for deletion still holds its IP and serves while its preStop hook
        # runs (kwok removes it afterwards, tests/live/kwok-pod-stages.yaml), as on a node.
        by_ip = {
            pod["status"]["podIP"]: _identity(pod)
            for pod in pods
            if pod.get("status", {}).get("podIP")
        }
        self.by_ip = by_ip
        self.read_at = time.monotonic()

    def at(self, ip: str) -> PodIdentity | None:
        """The pod with this IP; read again when the last read is older than REFRESH_S (a
        pod's IP may be given to another pod after it is deleted)."""
        with self.lock:
            if time.monotonic() - self.read_at > self.REFRESH_S:
                self.refresh()
            found = self.by_ip.get(ip)
            if found is None:
                # A pod that has just started: Traefik can learn its endpoint (from the
                # EndpointSlice) before the last read; refusing it would fail a request.
                self.refresh()
                found = self.by_ip.get(ip)
            return found

    def exists(self, identity: PodIdentity) -> bool:
        """The pod still runs (its object exists, terminating or not), as last read."""
        with self.lock:
            if time.monotonic() - self.read_at > self.REFRESH_S:
                self.refresh()
            return any(pod.uid == identity.uid for pod in self.by_ip.values())


# --- stand-in backends --------------------------------------------------------------------


class _BackendHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a model server
    disable_nagle_algorithm = True
    server: _BackendServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        identity = self.server.identity
        if not self.server.alive(identity):
            # Its pod is gone, as a server process would be: the connection ends unanswered
            # (a proxy's kept-alive connection to a pod IP since given to another pod must
            # not reach the old pod's stand-in).
            self.close_connection = True
            return
        payload = json.dumps(
            {
                "standin": "backend",
                "namespace": identity.namespace,
                "deployment": identity.deployment,
                "pod": identity.pod,
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_bytes": len(body),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header(STANDIN_HEADER, "backend")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet: the tests assert on answers, Traefik's access log has every request."""


class _BackendServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, identity: PodIdentity, alive: Callable[[PodIdentity], bool]) -> None:
        super().__init__(("127.0.0.1", 0), _BackendHandler)
        self.identity = identity
        self.alive = alive


class StandinBackends:
    """One stand-in backend per pod (by UID), started on first use, all stopped by stop()."""

    def __init__(self, alive: Callable[[PodIdentity], bool]) -> None:
        self.lock = threading.Lock()
        self.alive = alive  # whether a pod still runs (PodIndex.exists)
        self.servers: dict[str, _BackendServer] = {}

    def address(self, identity: PodIdentity) -> tuple[str, int]:
        with self.lock:
            server = self.servers.get(identity.uid)
            if server is None:
                server = _BackendServer(identity, self.alive)
                threading.Thread(
                    target=server.serve_forever, name=f"standin-{identity.pod}", daemon=True
                ).start()
                self.servers[identity.uid] = server
            host, port = server.server_address[:2]
            return str(host), int(port)

    def stop(self) -> None:
        with self.lock:
            for server in self.servers.values():
                server.shutdown()
                server.server_close()
            self.servers.clear()


# --- the SOCKS5 proxy Traefik's upstream connections go through ----------------------------


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed during the SOCKS5 handshake")
        data += chunk
    return data


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until EOF, then pass the EOF on."""
    try:
        while True:
            readable, _, _ = select.select([source], [], [], 60)
            if not readable:
                continue
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class _Socks5Handler(socketserver.BaseRequestHandler):
    server: Socks5Proxy

    def handle(self) -> None:
        client: socket.socket = self.request
        _nodelay(client)
        _, methods = _recv_exact(client, 2)
        _recv_exact(client, methods)
        client.sendall(b"\x05\x00")  # no authentication
        _, command, _, address_type = _recv_exact(client, 4)
        if address_type == 1:
            host = socket.inet_ntoa(_recv_exact(client, 4))
        elif address_type == 3:
            host = _recv_exact(client, _recv_exact(client, 1)[0]).decode()
        else:  # IPv6: never a pod address here
            host = socket.inet_ntop(socket.AF_INET6, _recv_exact(client, 16))
        (port,) = struct.unpack(">H", _recv_exact(client, 2))
        target = self.server.resolve(host, port) if command == 1 else None
        if target is None:
            # 0x05: connection refused. The address is not a pod of this cluster (or no
            # longer is): nothing is ever sent anywhere else.
            self.server.refused.append((host, port))
            client.sendall(b"\x05\x05\x00\x01" + bytes(6))
            return
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
        _nodelay(upstream)
        client.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + bytes(2))
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        upstream.close()


class Socks5Proxy(socketserver.ThreadingTCPServer):
    """A SOCKS5 proxy (CONNECT, no authentication) on loopback that sends each connection
    where ``resolve(host, port)`` says, or refuses it when that says None."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, resolve: Callable[[str, int], tuple[str, int] | None]) -> None:
        super().__init__(("127.0.0.1", 0), _Socks5Handler)
        self.resolve = resolve
        self.refused: list[tuple[str, int]] = []

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.server_address[1]}"


# --- the stand-in interceptor ---------------------------------------------------------------


def _host_matches(pattern: str, host: str) -> bool:
    """The add-on's host rules: `*` is any host, `*.example.com` any name below it."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass
class _Route:
    namespace: str
    name: str
    spec: Mapping[str, Any]

    def matches(self, host: str, path: str, headers: Mapping[str, str]) -> bool:
        for rule in self.spec.get("rules", []):
            hosts = rule.get("hosts") or []
            paths = [p["value"] if isinstance(p, dict) else p for p in rule.get("paths") or []]
            wanted = rule.get("headers") or []
            if hosts and not any(_host_matches(h, host) for h in hosts):
                continue
            if paths and not any(path.startswith(p) for p in paths):
                continue
            if all(headers.get(h["name"].lower()) == h.get("value") for h in wanted):
                return True
        return False

    @property
    def readiness_timeout_s(self) -> float:
        value = str((self.spec.get("timeouts") or {}).get("readiness") or "0s")
        return float(value.removesuffix("s") or 0)


@dataclass
class _Pending:
    """Requests in flight per InterceptorRoute, as the add-on's interceptors count them."""

    report: Callable[[str, str, int], None]
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, route: _Route, delta: int) -> None:
        key = (route.namespace, route.name)
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + delta
            self.report(route.namespace, route.name, self.counts[key])


class _InterceptorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: StandinInterceptor

    def _fail(self, status: int, message: str) -> None:
        body = json.dumps({"standin": "interceptor", "error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(STANDIN_HEADER, "interceptor")
        self.end_headers()
        self.wfile.write(body)

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        interceptor = self.server
        routes = [
            r for r in interceptor.routes() if r.matches(host, self.path.split("?")[0], headers)
        ]
        if not routes:
            self._fail(404, f"no InterceptorRoute matches host {host!r} and these headers")
            return
        if len(routes) > 1:
            names = ", ".join(f"{r.namespace}/{r.name}" for r in routes)
            self._fail(500, f"several InterceptorRoutes match: {names}")
            return
        route = routes[0]
        interceptor.pending.add(route, 1)
        try:
            started = time.monotonic()
            deadline = started + min(route.readiness_timeout_s, interceptor.hold_limit_s)
            while not (backends := interceptor.ready_backends(route)):
                if time.monotonic() > deadline:
                    self._fail(504, f"no ready replica for {route.namespace}/{route.name}")
                    return
                time.sleep(0.1)
            interceptor.held_s.append(time.monotonic() - started)
            address = backends[next(interceptor.turn) % len(backends)]
            connection = http.client.HTTPConnection(*address, timeout=60)
            try:
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                connection.request(self.command, self.path, body=body, headers=forwarded)
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length", "server", "date"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            finally:
                connection.close()
        finally:
            interceptor.pending.add(route, -1)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _proxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet, as the backends."""


class StandinInterceptor(ThreadingHTTPServer):
    """A stand-in for the KEDA HTTP add-on's interceptor (module docstring)."""

    daemon_threads = True
    ROUTES_TTL_S = 0.5

    def __init__(
        self,
        api: ApiReader,
        pods: PodIndex,
        backends: StandinBackends,
        report_pending: Callable[[str, str, int], None],
        hold_limit_s: float = 180.0,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _InterceptorHandler)
        self.api = api
        self.pods = pods
        self.backends = backends
        self.pending = _Pending(report_pending)
        self.hold_limit_s = hold_limit_s
        self.turn = itertools.count()
        self.held_s: list[float] = []
        self._routes: list[_Route] = []
        self._routes_at = 0.0
        self._lock = threading.Lock()

    def routes(self) -> list[_Route]:
        with self._lock:
            if time.monotonic() - self._routes_at > self.ROUTES_TTL_S:
                items = self.api.get("/apis/http.keda.sh/v1beta1/interceptorroutes")["items"]
                self._routes = [
                    _Route(i["metadata"]["namespace"], i["metadata"]["name"], i["spec"])
                    for i in items
                ]
                self._routes_at = time.monotonic()
            return self._routes

    def ready_backends(self, route: _Route) -> list[tuple[str, int]]:
        """Stand-in addresses of the ready endpoints of the route's target Service."""
        target = route.spec["target"]
        namespace = route.namespace
        service = self.api.get(f"/api/v1/namespaces/{namespace}/services/{target['service']}")
        port_name = target.get("portName") or next(
            (
                p.get("name", "")
                for p in service["spec"]["ports"]
                if p["port"] == target.get("port")
            ),
            None,
        )
        slices = self.api.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            labelSelector=f"kubernetes.io/service-name={target['service']}",
        )["items"]
        found = []
        for endpoint_slice in slices:
            ports = [p for p in endpoint_slice.get("ports") or [] if p.get("name", "") == port_name]
            for endpoint in endpoint_slice.get("endpoints") or []:
                if not (endpoint.get("conditions") or {}).get("ready", True) or not ports:
                    continue
                pod = self.pods.at(endpoint["addresses"][0])
                if pod is not None:
                    found.append(self.backends.address(pod))
        return found


# --- all of it --------------------------------------------------------------------------------


@dataclass
class DataPlane:
    """The stand-ins and the proxy of one cluster (:func:`start_data_plane`)."""

    pods: PodIndex
    backends: StandinBackends
    proxy: Socks5Proxy
    interceptor: StandinInterceptor
    interceptor_namespace: str
    interceptor_port: int

    def resolve(self, host: str, port: int) -> tuple[str, int] | None:
        """Where a connection to a pod's IP and port goes: its stand-in on loopback, or the
        stand-in interceptor for the interceptor's pod; None for anything else."""
        pod = self.pods.at(host)
        if pod is None or port not in pod.ports:
            return None
        if pod.namespace == self.interceptor_namespace and port == self.interceptor_port:
            address = self.interceptor.server_address
            return str(address[0]), int(address[1])
        return self.backends.address(pod)

    def stop(self) -> None:
        for server in (self.proxy, self.interceptor):
            server.shutdown()
            server.server_close()
        self.backends.stop()


def start_data_plane(
    cluster: LiveCluster,
    report_pending: Callable[[str, str, int], None],
    interceptor_namespace: str,
    interceptor_port: int,
) -> DataPlane:
    api = ApiReader(cluster)
    pods = PodIndex(api)
    backends = StandinBackends(pods.exists)
    interceptor = StandinInterceptor(api, pods, backends, report_pending)
    plane = DataPlane(
        pods=pods,
        backends=backends,
        proxy=Socks5Proxy(lambda host, port: None),
        interceptor=interceptor,
        interceptor_namespace=interceptor_namespace,
        interceptor_port=interceptor_port,
    )
    plane.proxy.resolve = plane.resolve
    for server in (plane.proxy, interceptor):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return plane

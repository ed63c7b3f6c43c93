"""The stand-ins and the load stream of the Gateway tests, without a cluster (issue #23).

tests/live/test_gateway_routes.py trusts them to say who answered and to keep traffic on
loopback; these check that they do: a stand-in backend names its pod, the SOCKS5 proxy
connects only where its mapping says and refuses anything else, the stand-in interceptor
matches InterceptorRoute rules as iac writes them, and the load stream is bounded.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from tests.live.load import LoadStream
from tests.live.standins import (
    PodIdentity,
    Socks5Proxy,
    StandinBackends,
    _Route,
)

POD = PodIdentity("models", "chat-v1-abc-x", "uid-1", "chat-v1", (8000,))


def _socks_connect(proxy: Socks5Proxy, ip: str, port: int) -> tuple[socket.socket, int]:
    """A SOCKS5 CONNECT as Go's dialer sends it; the reply code (0: connected)."""
    sock = socket.create_connection(("127.0.0.1", proxy.server_address[1]), timeout=5)
    sock.sendall(b"\x05\x01\x00")
    assert sock.recv(2) == b"\x05\x00"
    sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(ip) + struct.pack(">H", port))
    reply = sock.recv(10)
    return sock, reply[1]


RUNNING: set[str] = set()  # the UIDs of the pods that still run


@pytest.fixture
def backends() -> Iterator[StandinBackends]:
    RUNNING.clear()
    RUNNING.add(POD.uid)
    backends = StandinBackends(lambda pod: pod.uid in RUNNING)
    yield backends
    backends.stop()


def test_proxy_maps_pod_addresses_to_their_standin_and_refuses_others(
    backends: StandinBackends,
) -> None:
    def resolve(ip: str, port: int) -> tuple[str, int] | None:
        return backends.address(POD) if (ip, port) == ("10.0.0.7", 8000) else None

    proxy = Socks5Proxy(resolve)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        sock, code = _socks_connect(proxy, "10.0.0.7", 8000)
        assert code == 0
        sock.sendall(b"GET /v1/models?x=1 HTTP/1.1\r\nHost: chat.example.com\r\nX-Seen: 1\r\n\r\n")
        raw = b""
        while b"}" not in raw:
            raw += sock.recv(65536)
        sock.close()
        head, body = raw.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        assert b"x-iac-standin: backend" in head.lower()
        answer = json.loads(body)
        assert (answer["deployment"], answer["pod"], answer["path"]) == (
            "chat-v1",
            "chat-v1-abc-x",
            "/v1/models?x=1",
        )
        assert answer["headers"]["x-seen"] == "1"

        refused, code = _socks_connect(proxy, "192.0.2.10", 8000)
        refused.close()
        assert code == 5  # connection refused: nothing is sent anywhere else
        assert proxy.refused == [("192.0.2.10", 8000)]
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_interceptor_route_matching_follows_hosts_and_the_routing_header() -> None:
    route = _Route(
        "models",
        "chat-dev",
        {
            "target": {"service": "chat-dev", "port": 8000},
            "rules": [
                {
                    "hosts": ["chat.models.example.com"],
                    "headers": [{"name": "x-iac-backend", "value": "chat-dev"}],
                }
            ],
            "timeouts": {"readiness": "2400s"},
        },
    )
    assert route.matches("chat.models.example.com", "/", {"x-iac-backend": "chat-dev"})
    assert not route.matches("chat.models.example.com", "/", {"x-iac-backend": "chat-v2"})
    assert not route.matches("chat.models.example.com", "/", {})
    assert not route.matches("other.models.example.com", "/", {"x-iac-backend": "chat-dev"})
    assert route.readiness_timeout_s == 2400.0
    # A stack without a domain writes `hosts: ["*"]`: any host, as in the add-on.
    anywhere = _Route("models", "bge", {"rules": [{"hosts": ["*"], "headers": []}]})
    assert anywhere.matches("gateway.test", "/v1", {})


def test_load_stream_is_bounded_and_records_who_answered(backends: StandinBackends) -> None:
    _, port = backends.address(POD)
    with LoadStream(port, [("chat.example.com", "/x")], rate_per_s=200, max_requests=40,
                    max_seconds=5) as stream:  # fmt: skip
        stream.wait()
    assert len(stream.sent) == 40
    assert {s.deployment for s in stream.sent} == {"chat-v1"}
    assert not [s for s in stream.sent if s.failed]

    started = time.monotonic()
    with LoadStream(port, [(None, "/")], rate_per_s=20, max_requests=10_000,
                    max_seconds=0.5) as stream:  # fmt: skip
        stream.wait()
    assert time.monotonic() - started < 3
    assert 5 <= len(stream.sent) <= 14  # 20/s for half a second, counted from 0


def test_a_deleted_pods_standin_ends_the_connection_unanswered(backends: StandinBackends) -> None:
    """A kept-alive connection to a pod IP since given to another pod must not be answered
    by the old pod's stand-in."""
    host, port = backends.address(POD)
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request)
        first = b""
        while not first.endswith(b"}"):  # headers and body may come in two reads
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        RUNNING.discard(POD.uid)
        sock.sendall(request)
        assert sock.recv(65536) == b""  # closed, nothing answered

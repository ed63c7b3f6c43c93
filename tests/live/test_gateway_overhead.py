"""What a request pays for going through the Gateway (issue #23, figures).

One deployment's environment URL, asked back to back over one kept-alive connection, through
Traefik and directly to the stand-in backend of one of its pods (the same process, the same
answer): both streams must be answered by that deployment without a failure, and with
IAC_GATEWAY_FIGURES=FILE the latencies of both go to FILE (JSON lines) for
`benchmarks/gateway.py`, which reports the difference as the Gateway's overhead. Traefik
reaches the stand-in through the SOCKS5 proxy that stands for the pod network
(tests/live/standins.py), so the overhead measured includes one loopback hop more than a
cluster's pod network would add: an upper bound of Traefik's own cost here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live.cluster import nodes_for
from tests.live.gateway import GATEWAY_CLASS, Gateway
from tests.live.load import LoadStream, Sent
from tests.live.prerequisites import stack_prerequisites

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "gateway-overhead"
HOST = "chat.overhead.example.test"
PATH = "/environments/production/v1/completions"
REQUESTS = 1_000
STACK = f"""\
version: 1
imports: [{ROOT}/modules/vllm.yaml]
cluster: {{name: overhead, namespace: {NAMESPACE}, domain: overhead.example.test}}
models:
  chat:
    template: vllm
    params: {{hf_model: org/chat}}
    resources: {{accelerator: "L4:1", cpu: "4", memory: 16Gi}}
    deployments:
      v1: {{}}
    environments:
      production:
        deployment: v1
        autoscaling: {{min_replicas: 1, max_replicas: 1}}
auth: {{public: true}}
"""


def _apply(gateway: Gateway, work: Path) -> list[dict[str, Any]]:
    (work / "stack.yaml").write_text(STACK)
    out = work / "render"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "iac", "render", "stack.yaml", "-o", str(out)],
        capture_output=True, text=True, cwd=work,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    objects = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
    cluster = gateway.cluster
    cluster.apply(nodes_for(objects, prefix=NAMESPACE))
    cluster.apply(stack_prerequisites(objects, gateway_class=GATEWAY_CLASS, port=gateway.port))
    cluster.kubectl("apply", "--server-side", "-f", str(out))
    gateway.wait_routes(o for o in objects if o["kind"] == "HTTPRoute")
    return objects


def _stream(port: int) -> list[Sent]:
    """REQUESTS GETs back to back (a rate no single connection reaches) on one connection."""
    stream = LoadStream(
        port, [(HOST, PATH)], rate_per_s=100_000, max_requests=REQUESTS, max_seconds=120,
        timeout_s=10, workers=1,
    )  # fmt: skip
    with stream:
        stream.wait()
    return list(stream.sent)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def test_gateway_overhead_per_request(gateway: Gateway, tmp_path: Path) -> None:
    objects = _apply(gateway, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while gateway.request(HOST, PATH).deployment != "chat-v1":
            assert time.monotonic() < deadline, "production never answered"
            time.sleep(0.2)
        (pod,) = gateway.cluster.get("pods", "-n", NAMESPACE)
        identity = gateway.plane.pods.at(pod["status"]["podIP"])
        assert identity is not None
        assert identity.deployment == "chat-v1"
        _, direct_port = gateway.plane.backends.address(identity)

        through = _stream(gateway.port)
        direct = _stream(direct_port)
        for sent in (through, direct):
            assert len(sent) == REQUESTS
            assert {(s.status, s.deployment) for s in sent} == {(200, "chat-v1")}

        target = os.environ.get("IAC_GATEWAY_FIGURES")
        if target:
            figures = {
                "test": "gateway_overhead",
                "requests": REQUESTS,
                "through_gateway_s": {
                    "p50": _percentile([s.latency_s for s in through], 0.5),
                    "p99": _percentile([s.latency_s for s in through], 0.99),
                },
                "direct_s": {
                    "p50": _percentile([s.latency_s for s in direct], 0.5),
                    "p99": _percentile([s.latency_s for s in direct], 0.99),
                },
            }
            with open(target, "a", encoding="utf-8") as sink:
                sink.write(json.dumps(figures) + "\n")
    finally:
        doomed = [o for o in objects if o["kind"] != "Namespace"]
        gateway.cluster.kubectl(
            "delete", "--wait=false", "--ignore-not-found", "-f", "-",
            stdin=yaml.safe_dump_all(doomed),
        )  # fmt: skip

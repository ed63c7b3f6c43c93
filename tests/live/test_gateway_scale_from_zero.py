"""Deactivation and scale from zero, through a real Gateway (issue #23, item 4).

One stack on the gateway's cluster (tests/live/gateway.py), in a namespace and domain of its
own: a deactivated deployment's URL gets the Gateway's 404 (it has no route); after `iac
activate` it is answered by that deployment; and a deployment that has scaled to zero is
reached through the (stand-in) interceptor, which holds the first request until KEDA,
told of the pending request by the (stand-in) scaler, has started a replica and the
replica is ready, then answers it: held, not failed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live.cluster import nodes_for
from tests.live.gateway import GATEWAY_CLASS, Answer, Gateway
from tests.live.prerequisites import stack_prerequisites

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "gateway-zero"
HOST = "chat.zero.example.test"
STACK = f"""\
version: 1
imports: [modules/vllm.yaml]

cluster:
  name: zero
  namespace: {NAMESPACE}
  domain: zero.example.test
  gateway: {{name: inference, namespace: gateway-system}}
  provisioner: karpenter

models:
  chat:
    template: vllm
    params: {{hf_model: org/chat}}
    resources: {{accelerator: "L4:1", cpu: "4", memory: 16Gi}}
    health: {{startup_timeout: 10s}}        # KEDA's initialCooldownPeriod
    autoscaling: {{scale_down_delay: 5s}}   # KEDA's cooldownPeriod
    deployments:
      v1: {{state: inactive}}
      v2: {{}}
      v3: {{}}
    environments:
      production:
        deployment: v2
        autoscaling: {{min_replicas: 1, max_replicas: 2}}
      staging:
        deployment: v3
        autoscaling: {{min_replicas: 0, max_replicas: 2}}
auth: {{public: true}}
"""


def _iac(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "iac", *args], capture_output=True, text=True, cwd=cwd
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _apply(gateway: Gateway, project: Path) -> list[dict[str, Any]]:
    out = project / "render"
    shutil.rmtree(out, ignore_errors=True)
    _iac("render", "stack.yaml", "-o", str(out), cwd=project)
    objects = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
    cluster = gateway.cluster
    cluster.apply(nodes_for(objects, prefix=NAMESPACE))
    cluster.apply(stack_prerequisites(objects, gateway_class=GATEWAY_CLASS, port=gateway.port))
    cluster.kubectl("apply", "--server-side", "-f", str(out))
    gateway.wait_routes(o for o in objects if o["kind"] == "HTTPRoute")
    return objects


def _ready_pods(gateway: Gateway, deployment: str) -> int:
    pods = gateway.cluster.get(
        "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={deployment}"
    )
    return sum(
        1
        for pod in pods
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in pod["status"].get("conditions", [])
        )
    )


def _until_answered(gateway: Gateway, path: str, timeout_s: float = 60.0) -> Answer:
    """The first answer from a stand-in backend (a new route takes a moment to be served)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = gateway.request(HOST, path)
        if answer.deployment is not None or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_deactivated_gets_404_activated_answers_and_the_first_request_from_zero_is_held(
    gateway: Gateway, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "modules", project / "modules")
    (project / "stack.yaml").write_text(STACK)
    objects = _apply(gateway, project)
    try:
        # Deactivated: no route, so the Gateway itself answers 404; no stand-in is reached.
        answer = gateway.request(HOST, "/deployments/v1/v1/models")
        assert (answer.status, answer.body) == (404, None), answer
        assert _until_answered(gateway, "/environments/production/x").deployment == "chat-v2"

        # Activated: its URL is answered by it.
        _iac("activate", "stack.yaml", "chat", "v1", cwd=project)
        objects = _apply(gateway, project)
        answer = _until_answered(gateway, "/deployments/v1/v1/models")
        assert (answer.status, answer.deployment) == (200, "chat-v1"), answer
        assert answer.body is not None
        assert answer.body["path"] == "/v1/models"

        # Staging scales to zero after its startup budget and delay (no request meanwhile)...
        deadline = time.monotonic() + 120
        while _ready_pods(gateway, "chat-v3") or gateway.cluster.get(
            "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/instance=chat-v3"
        ):
            assert time.monotonic() < deadline, "chat-v3 did not scale to zero"
            time.sleep(1)
        # ... and the first request is held by the interceptor until a replica is ready.
        held_before = len(gateway.plane.interceptor.held_s)
        started = time.monotonic()
        answer = gateway.request(HOST, "/environments/staging/v1/completions")
        took = time.monotonic() - started
        assert (answer.status, answer.deployment) == (200, "chat-v3"), answer
        held = gateway.plane.interceptor.held_s[held_before:]
        assert len(held) == 1, held
        # Held, not failed: it arrived with no pod at all and waited for KEDA to scale from
        # zero and kwok to start one (a fraction of a second here: no image, no weights).
        assert held[0] > 0, (held, took)
        assert _ready_pods(gateway, "chat-v3") >= 1
    finally:
        doomed = [o for o in objects if o["kind"] != "Namespace"]
        gateway.cluster.kubectl(
            "delete", "--wait=false", "--ignore-not-found", "-f", "-",
            stdin=yaml.safe_dump_all(doomed),
        )  # fmt: skip

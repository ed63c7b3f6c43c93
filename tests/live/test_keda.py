"""KEDA acting on iac's objects on a live cluster (issue #22, items 2 and 4).

One stack of a platform team's shape, rendered and applied with `kubectl apply
--server-side` to the session's cluster (tests/live/fixtures.py: the KEDA operator running,
the HTTP add-on's scaler a stand-in, tests/live/keda.py), every pod of its namespace watched
from before the first apply (tests/live/watch.py):

- a deactivated deployment never has a pod: not on the first apply, not after;
- each active ScaledObject becomes an HPA with the declared bounds and behaviour, and the
  HPA controller acts on it (production's minimum of 2 is reached from the one pod a new
  Deployment starts);
- a deactivation pauses at 0 (the HPA goes, the pods go, no pod comes back) and an
  activation resumes (the HPA comes back);
- a scale-to-zero deployment goes to zero after its delays and comes back from zero when
  the (stand-in) scaler reports pending requests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live.cluster import LiveCluster, nodes_for
from tests.live.watch import PodWatch, watch_pods

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "keda-live"
STACK = f"""\
version: 1
imports: [modules/vllm.yaml]

cluster:
  name: live
  namespace: {NAMESPACE}
  domain: models.example.com
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
      v4: {{}}
    environments:
      production:
        deployment: v2
        autoscaling: {{min_replicas: 2, max_replicas: 5}}
      staging:
        deployment: v3
        autoscaling: {{min_replicas: 0, max_replicas: 3}}
auth: {{public: true}}
"""


def _iac(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "iac", *args], capture_output=True, text=True, cwd=cwd
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _render(project: Path) -> tuple[Path, list[dict[str, Any]]]:
    out = project / "render"
    _iac("render", "stack.yaml", "-o", str(out), cwd=project)
    return out, [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]


def _until(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(1.0)


def _deployment(cluster: LiveCluster, name: str) -> dict[str, Any]:
    return cluster.get(
        "deployments", "-n", NAMESPACE, "--field-selector", f"metadata.name={name}",
        "--show-managed-fields",
    )[0]  # fmt: skip


def _hpas(cluster: LiveCluster) -> dict[str, dict[str, Any]]:
    return {h["metadata"]["name"]: h for h in cluster.get("hpa", "-n", NAMESPACE)}


def _running(cluster: LiveCluster, deployment: str) -> list[str]:
    pods = cluster.get("pods", "-n", NAMESPACE, "-l", f"iac.dev/deployment={deployment}")
    return [
        p["metadata"]["name"]
        for p in pods
        if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"]
    ]


@pytest.fixture(scope="module")
def applied(
    live_cluster: LiveCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, list[dict[str, Any]], PodWatch]]:
    """The stack applied once, with every pod of its namespace watched from before."""
    assert live_cluster.keda is not None
    project = tmp_path_factory.mktemp("keda-live")
    shutil.copytree(ROOT / "modules", project / "modules")
    (project / "stack.yaml").write_text(STACK)
    out, objects = _render(project)
    # Room for every replica the stack may run (up to 5 + 3 + 1), on L4 nodes of its pool.
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    live_cluster.apply(nodes_for([{**deployment, "spec": {**deployment["spec"], "replicas": 9}}],
                                     prefix="keda-live"))  # fmt: skip
    with watch_pods(live_cluster, NAMESPACE, project) as watch:
        live_cluster.kubectl("apply", "--server-side", "-f", str(out))
        yield project, objects, watch


def test_a_deactivated_deployment_never_has_a_pod(
    live_cluster: LiveCluster, applied: tuple[Path, list[dict[str, Any]], PodWatch]
) -> None:
    _, _, watch = applied
    _until("production's two pods run", lambda: len(_running(live_cluster, "v2")) == 2)
    _until("KEDA paused chat-v1", lambda: _paused(live_cluster, "chat-v1"))
    assert _deployment(live_cluster, "chat-v1")["spec"]["replicas"] == 0
    assert watch.pods(**{"iac.dev/deployment": "v1"}) == set()
    assert watch.pods(**{"iac.dev/deployment": "v2"})  # the watch does see pods


def _paused(cluster: LiveCluster, name: str) -> bool:
    scaled = cluster.get(
        "scaledobjects", "-n", NAMESPACE, "--field-selector", f"metadata.name={name}"
    )
    conditions = {c["type"]: c["status"] for c in scaled[0].get("status", {}).get("conditions", [])}
    return conditions.get("Paused") == "True"


def test_each_scaled_object_becomes_an_hpa_with_the_declared_bounds_and_behaviour(
    live_cluster: LiveCluster, applied: tuple[Path, list[dict[str, Any]], PodWatch]
) -> None:
    _, objects, _ = applied
    scaled = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ScaledObject"}
    active = {n for n, o in scaled.items() if "annotations" not in o["metadata"]}
    assert active == {"chat-v2", "chat-v3", "chat-v4"}
    hpas = _until(
        "an HPA for each active ScaledObject",
        lambda: (h := _hpas(live_cluster)) and {f"keda-hpa-{n}" for n in active} <= set(h) and h,
    )
    assert "keda-hpa-chat-v1" not in hpas  # paused: KEDA keeps no HPA
    for name in active:
        spec = scaled[name]["spec"]
        hpa = hpas[f"keda-hpa-{name}"]["spec"]
        assert hpa["scaleTargetRef"]["name"] == spec["scaleTargetRef"]["name"]
        # KEDA owns 0 <-> 1; the HPA's floor is at least one.
        assert hpa["minReplicas"] == max(1, spec["minReplicaCount"]), name
        assert hpa["maxReplicas"] == spec["maxReplicaCount"], name
        assert hpa["behavior"] == spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    # The HPA controller acts on production's: from the one pod a new Deployment starts to
    # its minimum of 2, through the scale subresource; iac's apply does not own the count
    # (and so never fights over it).
    _until(
        "production at 2 replicas",
        lambda: _deployment(live_cluster, "chat-v2")["spec"]["replicas"] == 2,
    )
    owners = {
        (f["manager"], f.get("subresource", ""))
        for f in _deployment(live_cluster, "chat-v2")["metadata"]["managedFields"]
        if "f:replicas" in f.get("fieldsV1", {}).get("f:spec", {})
    }
    assert all(sub == "scale" for _, sub in owners), owners


def test_scale_to_zero_and_back_from_zero_on_pending_requests(
    live_cluster: LiveCluster, applied: tuple[Path, list[dict[str, Any]], PodWatch]
) -> None:
    keda = live_cluster.keda
    assert keda is not None
    # staging (v3, 0..3 replicas) starts the one pod a new Deployment starts, then KEDA scales
    # it to zero after initialCooldownPeriod (10 s) and cooldownPeriod (5 s) without requests.
    _until("staging at zero", lambda: _deployment(live_cluster, "chat-v3")["spec"]["replicas"] == 0)
    _until("staging's pods gone", lambda: not _running(live_cluster, "v3"))
    keda.set_pending(NAMESPACE, "chat-v3", 3)
    _until("staging scaled from zero", lambda: _running(live_cluster, "v3"), timeout=60)
    keda.set_pending(NAMESPACE, "chat-v3", 0)
    _until(
        "staging back at zero",
        lambda: _deployment(live_cluster, "chat-v3")["spec"]["replicas"] == 0,
    )


def test_deactivation_pauses_at_zero_and_activation_resumes(
    live_cluster: LiveCluster, applied: tuple[Path, list[dict[str, Any]], PodWatch]
) -> None:
    project, _, watch = applied
    keda = live_cluster.keda
    assert keda is not None
    keda.set_pending(NAMESPACE, "chat-v4", 1)  # v4 is in use: it must not sit at zero
    _until("v4 running", lambda: _running(live_cluster, "v4"))
    _until("v4's HPA", lambda: "keda-hpa-chat-v4" in _hpas(live_cluster))

    for _cycle in (1, 2):  # the second after iac has owned the count (as 0) once
        _iac("deactivate", "stack.yaml", "chat", "v4", cwd=project)
        out, _ = _render(project)
        # iac takes `spec.replicas` (0) from nobody: the scale subresource's writers (the HPA
        # controller, KEDA) leave it unowned, so a plain server-side apply has no conflict.
        live_cluster.kubectl("apply", "--server-side", "-f", str(out))
        _until("v4 paused", lambda: _paused(live_cluster, "chat-v4"))
        _until("v4's HPA removed", lambda: "keda-hpa-chat-v4" not in _hpas(live_cluster))
        _until("v4's pods gone", lambda: not _running(live_cluster, "v4"))
        seen = watch.pods(**{"iac.dev/deployment": "v4"})
        time.sleep(20)  # longer than KEDA's polling interval (15 s): it starts no pod again
        assert watch.pods(**{"iac.dev/deployment": "v4"}) == seen
        assert _deployment(live_cluster, "chat-v4")["spec"]["replicas"] == 0

        _iac("activate", "stack.yaml", "chat", "v4", cwd=project)
        out, _ = _render(project)
        live_cluster.kubectl("apply", "--server-side", "-f", str(out))
        # The field dropped from iac's apply, iac owns it no more: the count is KEDA's and
        # the HPA's again. (Its value right now is not asserted: the API server defaults it
        # to 1, but KEDA, resuming, may write it through the scale subresource meanwhile.)
        appliers = {
            f["manager"]
            for f in _deployment(live_cluster, "chat-v4")["metadata"]["managedFields"]
            if f["operation"] == "Apply" and "f:replicas" in f.get("fieldsV1", {}).get("f:spec", {})
        }
        assert appliers == set(), appliers
        _until("v4's HPA back", lambda: "keda-hpa-chat-v4" in _hpas(live_cluster))
        _until("v4 running again", lambda: _running(live_cluster, "v4"))
    keda.set_pending(NAMESPACE, "chat-v4", 0)

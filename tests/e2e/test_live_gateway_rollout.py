"""Requests through a real Gateway while a promotion rolls out (issue #23, items 3 and 5).

Each test starts a live cluster of its own with KEDA, Traefik and the stand-ins
(tests/live/gateway.py), applies a stack with the real Pulumi engine, then starts a steady
request stream to the environment's URL (tests/live/load.py) and a timeline of what the API
server and Traefik hold for the route (tests/live/timeline.py), and changes the stack:

- `iac up` of a rolling promotion; of one whose gate fails at the 50 % stage, so `iac up`
  rolls back; of a promotion into an environment served by a split;
- plain `pulumi up`, repeated, of the same rolling promotion (one stage per update,
  iac/program/staging.py).

Each shows: no request failed or timed out; Traefik served the planned stages' weights in
order, and in each stage the candidate served its planned share (within a binomial bound);
afterwards the environment is answered by whom the stack says alone; and the backends
Traefik sent the environment's traffic to always had a ready endpoint. kwok keeps a pod that
is being deleted for its preStop sleep (tests/live/kwok-pod-stages.yaml), as a kubelet does.

With IAC_GATEWAY_FIGURES=FILE, each test adds its figures to FILE (JSON lines) for
`benchmarks/gateway.py`: the switch latencies and the longest stretch without a ready
replica behind the environment.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result

from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.validate import check_stack
from tests.e2e.live_project import live_project
from tests.e2e.live_stack import iac, use_engine_and_kubectl
from tests.live.cluster import REPO_ROOT, nodes_for
from tests.live.fixtures import start_prepared_cluster
from tests.live.gateway import GATEWAY_CLASS, Gateway, start_gateway
from tests.live.load import LoadStream, Sent, binomial_bound
from tests.live.prerequisites import stack_prerequisites
from tests.live.timeline import RouteTimeline, Weights

if TYPE_CHECKING:
    from conftest import PulumiEngine

pytestmark = [pytest.mark.e2e, pytest.mark.live]

NAMESPACE = "models"
HOST = "llama.rollout.example.test"
PATH = "/environments/production"
V1, V2, V3 = "llama-v1", "llama-v2", "llama-v3"
STACK = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster:
  name: live
  namespace: models
  domain: rollout.example.test
  prometheus: PROMETHEUS
models:
  llama:
    template: vllm
    params: {hf_model: meta-llama/Meta-Llama-3-8B-Instruct}
    resources: {accelerator: H100, cpu: "8", memory: 64Gi}
    health: {startup_timeout: 20s}
    deployments:
      v1: {}
      v2: {image: vllm/vllm-openai:v0.7.0}
    environments:
      production:
        ENVIRONMENT
        autoscaling: {min_replicas: 2, max_replicas: 4}
        promotion:
          strategy: rolling
          max_surge_percent: 50
          stabilization: 3s
          cleanup: scale_to_zero
          GATES
auth: {public: true}
"""
GATE = """gates: [{name: errors, query: 'error_ratio{deployment="$deployment"}', max: 0.05}]"""
RATE_PER_S = 40.0
EDGE_S = 0.3  # requests sent this close to a switch of weights are not counted in a share


@pytest.fixture
def gateway(control_plane_bin: Path, gateway_bin: Path, tmp_path: Path) -> Iterator[Gateway]:
    """A live cluster of this test's own, with KEDA, Traefik and the stand-ins."""
    cluster = start_prepared_cluster(control_plane_bin, tmp_path / "cluster")
    try:
        served = start_gateway(cluster, gateway_bin.parent)
        try:
            yield served
        finally:
            served.plane.stop()
    finally:
        cluster.stop()


@pytest.fixture
def engine(
    pulumi_engine: PulumiEngine, control_plane_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> PulumiEngine:
    use_engine_and_kubectl(monkeypatch, pulumi_engine, control_plane_bin)
    return pulumi_engine


class StandinPrometheus(ThreadingHTTPServer):
    """A **stand-in** for Prometheus' query API (no Prometheus is built here). A query of
    the gate's metric (``error_ratio``) is answered with the next of ``gate_values`` (the
    last one repeated) and kept in :attr:`gate_queries`; any other query (KEDA's scalers
    read the cluster's Prometheus too) with 0."""

    daemon_threads = True

    def __init__(self, gate_values: list[float]) -> None:
        super().__init__(("127.0.0.1", 0), _PrometheusHandler)
        self.gate_values = gate_values
        self.gate_queries: list[str] = []
        Thread(target=self.serve_forever, name="standin-prometheus", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, query: str) -> float:
        if "error_ratio" not in query:
            return 0.0
        self.gate_queries.append(query)
        return self.gate_values[min(len(self.gate_queries), len(self.gate_values)) - 1]


class _PrometheusHandler(BaseHTTPRequestHandler):
    server: StandinPrometheus

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("query", [""])
        value = self.server.answer(query[0])
        series = [{"metric": {}, "value": [time.time(), str(value)]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": series}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet."""


@dataclass
class Setup:
    gateway: Gateway
    stack: Path
    project: Path


def set_up(
    gateway: Gateway, engine: PulumiEngine, work: Path, environment: str, gates: str = "",
    prometheus: str = "http://127.0.0.1:9",
) -> Setup:  # fmt: skip
    """The stack applied by `iac up` and production at its replicas, Traefik serving it."""
    stack = work / "stack.yaml"
    stack.write_text(
        STACK.replace("MODULES", str(REPO_ROOT / "modules"))
        .replace("ENVIRONMENT", environment)
        .replace("GATES", gates)
        .replace("PROMETHEUS", prometheus)
    )
    objects = compile_stack(check_stack(str(stack))).objects
    cluster = gateway.cluster
    cluster.apply(stack_prerequisites(objects, gateway_class=GATEWAY_CLASS, port=gateway.port))
    cluster.apply(nodes_for(objects, prefix="h100"))
    project = live_project(engine, cluster, stack, work / "project")
    first = iac_up(stack, project)
    assert first.exit_code == 0, first.output + first.stderr
    gateway.wait_routes(o for o in objects if o["kind"] == "HTTPRoute")
    # KEDA's HPA brings each of production's deployments to its ScaledObject's minimum.
    minimum = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicaCount"]
        for o in objects
        if o["kind"] == "ScaledObject"
    }
    deadline = time.monotonic() + 120
    while not all(ready_replicas(gateway, d) >= minimum[d] for d in production(objects)):
        assert time.monotonic() < deadline, cluster.get("deployments", "-n", NAMESPACE)
        time.sleep(1)
    return Setup(gateway, stack, project)


def production(objects: list[dict[str, Any]]) -> list[str]:
    """The Deployments production's traffic goes to (their Services have their names)."""
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    rule = next(r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == PATH)
    return [ref["name"] for ref in rule["backendRefs"] if ref.get("weight", 1)]


def ready_replicas(gateway: Gateway, deployment: str) -> int:
    found = gateway.cluster.get(
        "deployments", "-n", NAMESPACE, "--field-selector", f"metadata.name={deployment}"
    )
    return int(found[0]["status"].get("readyReplicas", 0)) if found else 0


def iac_up(stack: Path, project: Path) -> Result:
    return iac("up", str(stack), "--stack", "dev", "--project-dir", str(project), "--yes")


def planned_weights(base: Path, head: Path) -> list[Weights]:
    """The environment's weights at each stage `iac plan` shows, from the base's on, repeats
    folded (a stage that moves replicas only keeps the weights)."""
    before = compile_stack(check_stack(str(base)))
    after = compile_stack(check_stack(str(head)))
    (rollout,) = make_plan(before, after).rollouts
    start = dict(rollout.from_traffic) or {rollout.previous: 100}
    found: list[Weights] = [{f"llama-{k}": v for k, v in start.items() if v}]
    for step in rollout.steps:
        weights = {
            f"llama-{rollout.previous}": 100 - step.candidate_weight,
            f"llama-{rollout.candidate}": step.candidate_weight,
        }
        weights = {name: weight for name, weight in weights.items() if weight}
        if weights != found[-1]:
            found.append(weights)
    return found


def promote_v2(setup: Setup, work: Path) -> list[Weights]:
    """`iac promote` of v2 to production in the stack file; the weights `iac plan` shows
    for each stage of that change (:func:`planned_weights`)."""
    base = work / "base.yaml"
    base.write_text(setup.stack.read_text())
    done = iac("promote", str(setup.stack), "llama", "v2", "--to", "production")
    assert done.exit_code == 0, done.output
    return planned_weights(base, setup.stack)


@dataclass
class Run:
    """What one change under the stream showed."""

    sent: list[Sent]
    timeline: RouteTimeline
    ended_at_s: float

    def failures(self) -> list[Sent]:
        return [s for s in self.sent if s.failed or s.status != 200 or s.deployment is None]

    def stretches(self) -> list[tuple[float, float, Weights]]:
        return self.timeline.served_states()

    def check_shares(self) -> list[dict[str, Any]]:
        """In each stretch Traefik served one set of weights, each side answered its share of
        the requests sent then (those within EDGE_S of a switch left out)."""
        shares = []
        for start, end, weights in self.stretches():
            inside = [s for s in self.sent if start + EDGE_S <= s.at_s <= end - EDGE_S]
            counts = {name: sum(1 for s in inside if s.deployment == name) for name in weights}
            assert sum(counts.values()) == len(inside), (weights, inside[:5])
            for name, weight in weights.items():
                expected = len(inside) * weight / 100
                bound = binomial_bound(len(inside), weight / 100)
                assert abs(counts[name] - expected) <= bound, (weights, counts, bound)
            shares.append({"weights": weights, "requests": len(inside), "answered": counts})
        return shares


def under_stream(gateway: Gateway, change: Any, tail_s: float = 3.0) -> tuple[Any, Run]:
    """Run ``change()`` while the stream flows to production's URL and the timeline samples;
    the stream goes on ``tail_s`` after it returned."""
    stream = LoadStream(
        gateway.port, [(HOST, f"{PATH}/v1/completions")], rate_per_s=RATE_PER_S,
        max_requests=100_000, max_seconds=900, timeout_s=30,
    )  # fmt: skip
    stream.start()
    try:
        with RouteTimeline(gateway, NAMESPACE, "llama", PATH, stream.clock) as timeline:
            time.sleep(2)  # a stretch of the start state
            result = change()
            ended = stream.clock()
            time.sleep(tail_s)
    finally:
        stream.stop()
    return result, Run(list(stream.sent), timeline, ended)


def record_figures(name: str, run: Run, shares: list[dict[str, Any]]) -> None:
    """Append this test's figures to IAC_GATEWAY_FIGURES (benchmarks/gateway.py), if set."""
    target = os.environ.get("IAC_GATEWAY_FIGURES")
    if not target:
        return
    latencies = [s.latency_s for s in run.sent]
    figures = {
        "test": name,
        "requests": len(run.sent),
        "failed": len(run.failures()),
        "request_latency_p50_s": sorted(latencies)[len(latencies) // 2],
        "switches": [
            {"at_s": s.at_s, "weights": s.weights, "latency_s": s.latency_s}
            for s in run.timeline.switches()
        ],
        "longest_unserved_s": run.timeline.longest_unserved_s(),
        "shares": shares,
        "sample_period_s": run.timeline.period_s,
    }
    with open(target, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(figures) + "\n")


def check_run(run: Run, expected: list[Weights], after: str) -> list[dict[str, Any]]:
    """Every guarantee of the module docstring, for one run."""
    failures = run.failures()
    assert not failures, (len(failures), len(run.sent), failures[:5])
    assert len(run.sent) >= RATE_PER_S * 5, len(run.sent)
    assert not run.timeline.errors, run.timeline.errors[:5]
    served = [weights for _, _, weights in run.stretches()]
    assert served == expected, served
    shares = run.check_shares()
    # Afterwards: answered by `after` alone (every request sent once the last state was
    # served).
    last_start = run.stretches()[-1][0]
    assert {s.deployment for s in run.sent if s.at_s >= last_start + EDGE_S} == {after}
    assert run.timeline.longest_unserved_s() == 0.0
    assert all(s.latency_s is not None for s in run.timeline.switches())
    return shares


def test_a_rolling_promotion_under_load_fails_no_request(
    gateway: Gateway, engine: PulumiEngine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    setup = set_up(gateway, engine, tmp_path, "deployment: v1")
    expected = promote_v2(setup, tmp_path)
    assert expected == [{V1: 100}, {V1: 50, V2: 50}, {V2: 100}]

    result, run = under_stream(gateway, lambda: iac_up(setup.stack, setup.project))
    assert result.exit_code == 0, result.output + result.stderr
    shares = check_run(run, expected, after=V2)
    record_figures(request.node.name, run, shares)


def test_a_failed_gate_rolls_back_under_load_and_fails_no_request(
    gateway: Gateway, engine: PulumiEngine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Gates are read after each stage that moves traffic (not after the first, which only
    # brings candidates up): the first read, after the 50 % stage, fails, and `iac up` rolls
    # back to v1 alone.
    prometheus = StandinPrometheus([0.5])
    try:
        setup = set_up(gateway, engine, tmp_path, "deployment: v1", GATE, prometheus.url)
        assert not prometheus.gate_queries  # no promotion, no gate read
        text = setup.stack.read_text()
        setup.stack.write_text(text.replace("deployment: v1", "deployment: v2"))
        result, run = under_stream(gateway, lambda: iac_up(setup.stack, setup.project))
    finally:
        prometheus.shutdown()
        prometheus.server_close()
    assert result.exit_code == 1, result.output + result.stderr
    assert "gate errors: 0.5 is above 0.05" in result.stderr
    assert "rolling back to the last good release" in result.stderr
    assert len(prometheus.gate_queries) == 1
    shares = check_run(run, [{V1: 100}, {V1: 50, V2: 50}, {V1: 100}], after=V1)
    assert ready_replicas(gateway, V1) == 2
    record_figures(request.node.name, run, shares)


def test_a_promotion_into_a_split_under_load_fails_no_request(
    gateway: Gateway, engine: PulumiEngine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    setup = set_up(gateway, engine, tmp_path, "traffic: {v1: 80, v2: 20}")
    expected = promote_v2(setup, tmp_path)
    assert expected[0] == {V1: 80, V2: 20}, expected
    assert expected[-1] == {V2: 100}, expected
    assert len(expected) >= 3, expected  # a stage between: not all the traffic at once

    result, run = under_stream(gateway, lambda: iac_up(setup.stack, setup.project))
    assert result.exit_code == 0, result.output + result.stderr
    shares = check_run(run, expected, after=V2)
    record_figures(request.node.name, run, shares)


def test_plain_pulumi_up_of_a_rolling_promotion_under_load_fails_no_request(
    gateway: Gateway, engine: PulumiEngine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    setup = set_up(gateway, engine, tmp_path, "deployment: v1")
    expected = promote_v2(setup, tmp_path)

    def pulumi_up_until_done() -> list[str]:
        """`pulumi up` again while the program says a stage is left (its warning), as a CI
        job retrying would; each run's output kept."""
        outputs = []
        for _ in range(12):
            proc = engine.run("up", "--yes", "--stack", "dev", cwd=setup.project)
            outputs.append(proc.stdout + proc.stderr)
            status = json.loads(
                engine.run("stack", "output", "rollout", "--json", "--stack", "dev",
                           cwd=setup.project).stdout
            )  # fmt: skip
            if status.get("status") == "done":
                return outputs
            time.sleep(2)
        raise AssertionError("pulumi up did not finish the rollout:\n" + "\n".join(outputs))

    outputs, run = under_stream(gateway, pulumi_up_until_done)
    assert "this update applies stage 1/" in outputs[0], outputs[0]
    assert len(outputs) >= len(expected)
    shares = check_run(run, expected, after=V2)
    record_figures(request.node.name, run, shares)

"""Requests through a real Gateway: every endpoint reaches its own deployment (issue #23).

For every example, the demo stack and a generated 50-model stack, applied as rendered to a
live cluster that Traefik serves (tests/live/gateway.py), with stand-in backends that say
which deployment they stand for (tests/live/standins.py):

1. each environment's and each active deployment's URL is answered by the intended
   deployment (asserted by the stand-in's identity, not the status code), with the
   endpoint's prefix rewritten away; a host or path no stack declares gets Traefik's 404;
   a deactivated deployment's URL gets 404 (it has no route: README, `iac deactivate`).
2. each side of a traffic split serves a share of its environment's requests within a
   binomial bound of its declared weight (:func:`binomial_bound`), a weight-0 side none.

What the stack intends is read from iac's Release of the stack (who serves each
environment, with which weights; the URLs of `iac.spec.endpoints`), not from the routes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.generate import large_stack
from iac.compile.release import Release, build_release
from iac.diagnostics import Diagnostics
from iac.validate import check_stack
from tests.live.cluster import nodes_for
from tests.live.gateway import GATEWAY_CLASS, Answer, Gateway
from tests.live.load import binomial_bound
from tests.live.prerequisites import stack_prerequisites

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
GENERATED = "generated-50-models"
STACKS = [
    *sorted(ROOT.glob("examples/*/stack.yaml")),
    *sorted(ROOT.glob("stacks/*.yaml")),
    Path(GENERATED),
]
PROBE = "/v1/probe?q=1"  # what a client sends after an endpoint's prefix
SETTLE_S = 60.0  # how long an endpoint may take to be served after its objects are applied
SPLIT_REQUESTS = 200


def _stack_id(path: Path) -> str:
    if path.name == GENERATED:
        return GENERATED
    return path.parent.name if path.name == "stack.yaml" else path.stem


@dataclass
class Applied:
    """A stack applied to the gateway's cluster, with the Release it was rendered from."""

    name: str
    objects: list[dict[str, Any]]
    release: Release


def _render(stack: Path, out: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "iac", "render", str(stack), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]


@pytest.fixture(scope="module", params=STACKS, ids=_stack_id)
def applied(
    request: pytest.FixtureRequest, gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Applied]:
    """The stack rendered and applied as a whole, its routes served; removed afterwards
    (but its namespaces), so the next stack's hosts and InterceptorRoutes are its own."""
    stack: Path = request.param
    name = _stack_id(stack)
    work = tmp_path_factory.mktemp(name)
    if stack.name == GENERATED:
        stack = work / "stack.yaml"
        stack.write_text(large_stack(50, deployments=2, environments=2))
    out = work / "render"
    objects = _render(stack, out)
    release = build_release(check_stack(str(stack)), Diagnostics())
    cluster = gateway.cluster
    nodes = nodes_for(objects, prefix=name)
    cluster.apply(nodes)
    cluster.apply(stack_prerequisites(objects, gateway_class=GATEWAY_CLASS, port=gateway.port))
    cluster.kubectl("apply", "--server-side", "-f", str(out))
    try:
        gateway.wait_routes(o for o in objects if o["kind"] == "HTTPRoute")
        yield Applied(name, objects, release)
    finally:
        doomed = [o for o in objects if o["kind"] != "Namespace"]
        cluster.kubectl(
            "delete", "--wait=false", "--ignore-not-found", "-f", "-",
            stdin=yaml.safe_dump_all([*doomed, *nodes]),
        )  # fmt: skip


def _answered(gateway: Gateway, host: str | None, path: str) -> Answer:
    """The first answer from a stand-in backend, waiting (up to SETTLE_S) while the Gateway
    has no endpoint for it yet (503/502 while pods start, 404 until a route is in effect);
    the interceptor holds a request for a deployment at zero, as the real one does."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        answer = gateway.request(host, path)
        if answer.deployment is not None or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def _endpoints(
    release: Release,
) -> Iterator[tuple[str, str | None, str, dict[str, int]]]:
    """(what, host, path, {Deployment object name: weight}) for every endpoint the stack
    declares; an empty mapping: nothing may answer (a deactivated deployment's). A chain's
    endpoints are its entrypoint's: the other chainlets are reached inside the cluster only
    (`_hidden_chainlets`)."""
    for model in release.models.values():
        if model.chain is not None and not model.chain.entrypoint:
            continue
        endpoints = model.endpoints
        deployments = model.deployments
        for env in model.environments.values():
            sides = {
                deployments[name].object_name: weight
                for name, weight in env.traffic
                if weight > 0 and name in deployments and deployments[name].active
            }
            yield (
                f"{model.name} environment {env.name}",
                endpoints.host,
                endpoints.environment_path(env.name),
                sides,
            )
        for deployment in deployments.values():
            yield (
                f"{model.name} deployment {deployment.name}",
                endpoints.host,
                endpoints.deployment_path(deployment.name),
                {deployment.object_name: 1} if deployment.active else {},
            )


def _hidden_chainlets(release: Release) -> Iterator[tuple[str, str | None, str, set[str]]]:
    """(what, host, path, {Deployment object names}) for each deployment of a chainlet that
    is not its chain's entrypoint, at the paths its model would answer on if it had routes:
    none of those Deployments may answer there (the chain's host is its entrypoint's)."""
    for model in release.models.values():
        if model.chain is None or model.chain.entrypoint:
            continue
        names = {d.object_name for d in model.deployments.values()}
        for deployment in model.deployments.values():
            path = model.endpoints.deployment_path(deployment.name)
            yield f"{model.name} deployment {deployment.name}", model.endpoints.host, path, names


def test_every_endpoint_reaches_its_own_deployment(applied: Applied, gateway: Gateway) -> None:
    wrong: list[str] = []
    for what, host, path, hidden in _hidden_chainlets(applied.release):
        answer = gateway.request(host, path + PROBE)
        if answer.deployment in hidden:
            wrong.append(f"{what}: {host}{path} answered by chainlet {answer.deployment!r}")
    checked = 0
    for what, host, path, sides in _endpoints(applied.release):
        if not sides:
            answer = gateway.request(host, path + PROBE)
            if answer.status != 404 or answer.body is not None:
                wrong.append(f"{what} (deactivated): {answer.status} from {answer.body}")
            continue
        answer = _answered(gateway, host, path + PROBE)
        checked += 1
        if answer.deployment not in sides:
            wrong.append(
                f"{what}: {host}{path} answered {answer.status} by {answer.deployment!r}, "
                f"wanted one of {sorted(sides)}"
            )
        elif answer.body is not None and answer.body["path"] != PROBE:
            wrong.append(f"{what}: the backend saw {answer.body['path']!r}, wanted {PROBE!r}")
    assert checked, "no endpoint to check"
    assert not wrong, "\n".join(wrong)


def test_undeclared_host_and_path_get_404(applied: Applied, gateway: Gateway) -> None:
    model = next(iter(applied.release.models.values()))
    host = model.endpoints.host
    undeclared = [
        (host, model.endpoints.environment_path("no-such-environment") + PROBE),
        (host, model.endpoints.deployment_path("no-such-deployment") + PROBE),
        ("no-stack-declares.this.test", model.endpoints.environment_path("production") + PROBE),
    ]
    if host is None:  # routes for any host: only paths can be undeclared
        undeclared = undeclared[:2]
    for request_host, path in undeclared:
        answer = gateway.request(request_host, path)
        assert (answer.status, answer.body) == (404, None), (request_host, path, answer)


def test_split_shares_follow_declared_weights(applied: Applied, gateway: Gateway) -> None:
    splits = [
        (model, env)
        for model in applied.release.models.values()
        for env in model.environments.values()
        if len(env.traffic) > 1
    ]
    if not splits:
        assert all(
            len(e.traffic) == 1
            for m in applied.release.models.values()
            for e in m.environments.values()
        )
        return  # nothing split in this stack; the endpoints test covers its environments
    for model, env in splits:
        deployments = model.deployments
        weights = {deployments[name].object_name: weight for name, weight in env.traffic}
        served = {name for name, weight in weights.items() if weight > 0}
        host, path = model.endpoints.host, model.endpoints.environment_path(env.name)
        # Every serving side has a ready endpoint before the count starts.
        seen: set[str] = set()
        deadline = time.monotonic() + SETTLE_S
        while seen != served and not time.monotonic() > deadline:
            answer = gateway.request(host, path + PROBE)
            if answer.deployment is not None:
                seen.add(answer.deployment)
        assert seen == served, (model.name, env.name, seen, weights)
        counts = Counter(
            gateway.request(host, path + PROBE).deployment for _ in range(SPLIT_REQUESTS)
        )
        total = sum(w for w in weights.values())
        assert set(counts) <= served, (model.name, env.name, counts, weights)
        for name, weight in weights.items():
            expected = SPLIT_REQUESTS * weight / total
            bound = binomial_bound(SPLIT_REQUESTS, weight / total)
            assert abs(counts[name] - expected) <= bound, (
                f"{model.name} {env.name}: {name} served {counts[name]} of {SPLIT_REQUESTS}, "
                f"declared weight {weight}/{total} (expected {expected:.0f} ± {bound:.1f})"
            )

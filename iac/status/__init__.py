"""`iac status`: what is live, per model and environment, read from the cluster.

The Kubernetes API (through `kubectl`, with the user's own kubeconfig and context) gives the
routes as applied (who serves each environment, with which weights), replica counts ready
and desired, and each deployment's last rollout; Prometheus, when reachable, adds the
recorded series the dashboards and gates use. The reading is behind a small interface so the
tests replay recorded API responses.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from iac.compile import labels
from iac.compile.monitoring import ERROR_RATIO, INFLIGHT, REQUESTS
from iac.compile.serving.route_backends import environment_backends
from iac.errors import IacError
from iac.reports import Style
from iac.spec.endpoints import model_endpoints
from iac.spec.resolved import ResolvedStack

KINDS = ("deployments.apps", "scaledobjects.keda.sh", "httproutes.gateway.networking.k8s.io")


class ClusterReader(Protocol):
    def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        """Objects of `kind` (a kubectl resource name) in `namespace`."""


@dataclass
class Kubectl:
    """Reads with `kubectl get -o json` (the user's kubeconfig and context)."""

    context: str | None = None
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run

    def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        command = ["kubectl", "get", kind, "-n", namespace, "-o", "json"]
        if self.context:
            command += ["--context", self.context]
        try:
            done = self.run(command, capture_output=True, text=True, check=False, timeout=60)
        except FileNotFoundError:
            raise IacError(
                "iac status reads the cluster with kubectl; install it, or point PATH at it"
            ) from None
        if done.returncode != 0:
            raise IacError(f"kubectl get {kind} -n {namespace}: {done.stderr.strip()}")
        items: list[dict[str, Any]] = json.loads(done.stdout).get("items", [])
        return items


@dataclass
class DeploymentStatus:
    name: str
    weight: int | None
    ready: int
    desired: int
    min_replicas: int | None
    max_replicas: int | None
    paused: bool
    last_rollout: str | None
    """When the Deployment last progressed (its Progressing condition)."""


@dataclass
class EnvironmentStatus:
    model: str
    environment: str
    declared: dict[str, int]
    """Deployment → weight in the stack file."""
    url: str
    """The environment's endpoint, as the stack file declares it."""
    live: list[DeploymentStatus] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        """The route in the cluster differs from the declaration (not applied yet). A side
        declared at weight 0 has no place in the route."""
        routed = {name: weight for name, weight in self.declared.items() if weight}
        return {d.name: d.weight or 0 for d in self.live} != routed


def read_status(
    stack: ResolvedStack, reader: ClusterReader, metric: Callable[[str], float] | None = None
) -> list[EnvironmentStatus]:
    namespace = stack.spec.cluster.namespace
    deployments = {o["metadata"]["name"]: o for o in reader.list(KINDS[0], namespace)}
    scalers = {o["metadata"]["name"]: o for o in reader.list(KINDS[1], namespace)}
    routes = reader.list(KINDS[2], namespace)
    found = []
    for model_name in sorted(stack.models):
        model = stack.models[model_name]
        backends = environment_backends(routes, model_name)
        endpoints = model_endpoints(
            stack.spec.cluster, model_name, stack.spec.models[model_name].hostname
        )
        for env_name in sorted(model.environments):
            env = model.environments[env_name]
            url = endpoints.environment_url(env_name)
            status = EnvironmentStatus(model_name, env_name, dict(env.traffic), url)
            for object_name, weight in backends.get(env_name, []):
                obj = deployments.get(object_name, {})
                meta_labels = obj.get("metadata", {}).get("labels", {})
                scaler = scalers.get(object_name, {})
                spec = scaler.get("spec", {})
                state = obj.get("status", {})
                status.live.append(
                    DeploymentStatus(
                        name=meta_labels.get(labels.DEPLOYMENT, object_name),
                        weight=weight,
                        ready=int(state.get("readyReplicas", 0)),
                        desired=_desired(obj),
                        min_replicas=spec.get("minReplicaCount"),
                        max_replicas=spec.get("maxReplicaCount"),
                        paused="autoscaling.keda.sh/paused-replicas"
                        in scaler.get("metadata", {}).get("annotations", {}),
                        last_rollout=_last_rollout(state),
                    )
                )
            if metric is not None:
                selector = f'{{model="{model_name}",environment="{env_name}"}}'
                for name, series in (
                    ("in_flight", INFLIGHT),
                    ("requests_per_second", REQUESTS),
                    ("error_ratio", ERROR_RATIO),
                ):
                    try:
                        status.metrics[name] = metric(f"sum({series}{selector})")
                    except Exception:  # noqa: BLE001 - a missing series is shown as missing
                        continue
            found.append(status)
    return found


def _desired(deployment: dict[str, Any]) -> int:
    """The replicas the Deployment asks for (`spec.replicas`, as KEDA or iac set it), not
    the pods it has (`status.replicas` counts a rollout's surge and terminating pods too)."""
    spec = deployment.get("spec", {})
    if "replicas" in spec:
        return int(spec["replicas"])
    return int(deployment.get("status", {}).get("replicas", 0))


def _last_rollout(state: dict[str, Any]) -> str | None:
    for condition in state.get("conditions", []):
        if condition.get("type") == "Progressing":
            return (
                str(condition.get("lastUpdateTime") or condition.get("lastTransitionTime") or "")
                or None
            )
    return None


def to_json(statuses: list[EnvironmentStatus]) -> str:
    return json.dumps([{**asdict(s), "drift": s.drift} for s in statuses], indent=2) + "\n"


def to_text(statuses: list[EnvironmentStatus]) -> str:
    lines = []
    for status in statuses:
        drift = "  (cluster differs from the stack file: not applied yet?)" if status.drift else ""
        lines.append(f"{status.model} / {status.environment}  {status.url}{drift}")
        if not status.live:
            lines.append("  no route in the cluster")
        for d in status.live:
            weight = f" {d.weight}%" if d.weight is not None and len(status.live) > 1 else ""
            bounds = (
                f", scales {d.min_replicas}..{d.max_replicas}" if d.min_replicas is not None else ""
            )
            paused = ", deactivated" if d.paused else ""
            rolled = f", last rollout {d.last_rollout}" if d.last_rollout else ""
            lines.append(f"  {d.name}{weight}: {d.ready}/{d.desired} ready{bounds}{paused}{rolled}")
        if status.metrics:
            figures = ", ".join(f"{k} {v:g}" for k, v in status.metrics.items())
            lines.append(f"  {figures}")
    return "\n".join(lines) + "\n"


def to_markdown(statuses: list[EnvironmentStatus]) -> str:
    """A table a pull request or a chat can show: one row per deployment an environment
    routes to."""
    rows = [
        ["model", "environment", "URL", "deployment", "weight", "ready / desired", ""],
        ["---", "---", "---", "---", "---:", "---:", "---"],
    ]
    for status in statuses:
        where = [status.model, status.environment, f"<{status.url}>"]
        note = "cluster differs from the stack file" if status.drift else ""
        if not status.live:
            rows.append([*where, "", "", "", "no route in the cluster"])
        for d in status.live:
            weight = f"{d.weight}%" if d.weight is not None else ""
            ready = f"{d.ready} / {d.desired}"
            rows.append([*where, d.name, weight, ready, "deactivated" if d.paused else note])
    return "".join("|" + "|".join(f" {c} " if c else " " for c in row) + "|\n" for row in rows)


@dataclass(frozen=True)
class StatusReport:
    """What `iac status` prints (`iac.reports.Report`)."""

    statuses: list[EnvironmentStatus]

    def text(self, style: Style) -> str:
        return to_text(self.statuses)

    def markdown(self) -> str:
        return to_markdown(self.statuses)

    def json(self) -> str:
        return to_json(self.statuses)

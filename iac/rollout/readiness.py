"""Readiness from the cluster: after a stage is applied, `iac up` waits until the
deployments the rollout moves have the stage's replicas ready, read from the API server.

A stage holds its deployments' replica counts through their ScaledObjects (min = max), which
KEDA and the HPA controller carry out after the apply: Pulumi does not await them (and a
new Deployment's await would only cover its first pod). So the executor waits itself,
reading each Deployment's `spec.replicas` and `status.readyReplicas`, for at most the
deployment's startup budget: its startup probe's time plus a cold node's
(`COLD_NODE_SECONDS`, image pull included), the budget Pulumi's own await of the Deployment
has, or `iac up --ready-timeout`. A deployment not ready in time fails the stage (the
executor rolls back), with what its pods say (Pending and why, a container waiting and why).

While it waits, Pulumi must not: the stage's applies register the moved deployments with
`pulumi.com/skipAwait` (`without_await`; Services always have it), so that an apply returns
at once and a candidate that never becomes ready is judged by this wait's budget, not
Pulumi's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from iac.compile import Compiled
from iac.compile.serving.scaling import COLD_NODE_SECONDS, PAUSED_REPLICAS
from iac.compile.serving.workload import SKIP_AWAIT
from iac.errors import IacError
from iac.spec.types import format_duration

DeploymentKey = tuple[str, str]
"""(model, deployment) as the stack names them."""

POLL_SECONDS = 2.0


class ClusterObjects(Protocol):
    """What the wait reads (answered by `iac.preflight.cluster.Kubectl`)."""

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """One object, None if absent."""

    def items(self, resource: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The objects of `resource` in `namespace` matching the label `selector`."""


class NotReady(IacError):
    """A deployment did not have its replicas ready within its budget."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """Replicas one Deployment must have ready before the rollout goes on."""

    namespace: str
    name: str
    """The Deployment's object name."""
    replicas: int
    """Ready replicas wanted (at least)."""
    exact: bool
    """Held at exactly `replicas` (min = max): its `spec.replicas` must say so too."""
    budget: int
    """Seconds it may take."""
    budget_from: str
    """Where the budget comes from, for the message: `its startup budget`, `--ready-timeout`."""
    selector: str
    """Its pods' label selector (for the reason when it is not ready)."""


def expectations(
    compiled: Compiled, keys: Iterable[DeploymentKey], budget: int | None = None
) -> list[Expectation]:
    """What the deployments `keys` must have ready once `compiled` is applied: their
    ScaledObject's `minReplicaCount` (exactly, when held at min = max); none for a paused or
    scale-to-zero one. `budget` overrides each deployment's startup budget."""
    namespace = compiled.release.cluster.namespace
    by_name = {
        (o["kind"], o["metadata"]["name"]): o
        for o in compiled.objects
        if o["kind"] in ("Deployment", "ScaledObject")
    }
    found = []
    for model, key in sorted(set(keys)):
        release = compiled.release.models.get(model)
        deployment_release = release.deployments.get(key) if release else None
        if deployment_release is None:
            continue
        name = deployment_release.object_name
        deployment = by_name.get(("Deployment", name))
        scaled = by_name.get(("ScaledObject", name))
        if deployment is None or scaled is None:
            continue
        if PAUSED_REPLICAS in (scaled["metadata"].get("annotations") or {}):
            continue
        low = int(scaled["spec"]["minReplicaCount"])
        if low < 1:
            continue
        labels = deployment["spec"]["selector"]["matchLabels"]
        found.append(
            Expectation(
                namespace=namespace,
                name=name,
                replicas=low,
                exact=low == int(scaled["spec"]["maxReplicaCount"]),
                budget=budget if budget is not None else startup_budget(deployment),
                budget_from="its startup budget" if budget is None else "--ready-timeout",
                selector=",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            )
        )
    return found


def startup_budget(deployment: dict[str, Any]) -> int:
    """How long a replica of `deployment` may take to become ready: its startup probe's
    time (initialDelaySeconds + failureThreshold × periodSeconds) plus a cold node's."""
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    startup = 0
    for container in containers:
        probe = container.get("startupProbe") or {}
        if probe:
            startup = max(
                startup,
                int(
                    probe.get("initialDelaySeconds", 0)
                    + probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10)
                ),
            )
    return startup + COLD_NODE_SECONDS


def shortfall(expectation: Expectation, deployment: dict[str, Any] | None) -> str | None:
    """What `deployment` (as read from the API server) lacks, or None when it is ready."""
    if deployment is None:
        return "does not exist"
    want = expectation.replicas
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    if expectation.exact and desired != want:
        return f"is at {desired} replica{'s' * (desired != 1)}, not yet {want}"
    if ready < want:
        return f"has {ready} of {want} replica{'s' * (want != 1)} ready"
    return None


def pod_reasons(pods: list[dict[str, Any]]) -> list[str]:
    """Why each pod that is not ready is not: `pod NAME: Pending (Unschedulable: 0/2 nodes
    ...)`, `pod NAME: Running, container server waiting (ImagePullBackOff: ...)`."""
    reasons = []
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        status = pod.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if (conditions.get("Ready") or {}).get("status") == "True":
            continue
        if pod["metadata"].get("deletionTimestamp"):
            continue  # going away: not what the wait is short of
        why = status.get("phase") or "Pending"
        scheduled = conditions.get("PodScheduled") or {}
        if scheduled.get("status") == "False":
            why += f" ({scheduled.get('reason', 'not scheduled')}: {scheduled.get('message', '')})"
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting")
            if waiting:
                detail = waiting.get("reason", "waiting")
                if waiting.get("message"):
                    detail += f": {waiting['message']}"
                why += f", container {container.get('name')} waiting ({detail})"
            elif not container.get("ready"):
                why += f", container {container.get('name')} not ready"
        reasons.append(f"pod {pod['metadata']['name']}: {why.strip()}")
    return reasons


def wait_ready(
    wanted: list[Expectation],
    cluster: ClusterObjects,
    report: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
) -> None:
    """Return once every expectation is met; raise NotReady naming the first deployment past
    its budget, with what it lacks and what its pods say."""
    if not wanted:
        return
    start = clock()
    said: dict[str, str] = {}
    while True:
        waiting = []
        for expectation in wanted:
            try:
                found = cluster.get("deployments", expectation.name, expectation.namespace)
            except IacError as exc:  # an unreadable moment is not a verdict: read again
                lack: str | None = f"could not be read ({exc})"
            else:
                lack = shortfall(expectation, found)
            if lack is None:
                continue
            waiting.append(expectation)
            where = f"{expectation.namespace}/{expectation.name}"
            if said.get(where) != lack:
                report(f"  waiting: Deployment {where} {lack}")
                said[where] = lack
            elapsed = clock() - start
            if elapsed >= expectation.budget:
                try:
                    pods = cluster.items("pods", expectation.namespace, expectation.selector)
                except IacError:
                    pods = []
                why = "; ".join(pod_reasons(pods)) or "no pod says why"
                raise NotReady(
                    f"Deployment {where} {lack} after {format_duration(expectation.budget)} "
                    f"({expectation.budget_from}): {why}"
                )
        if not waiting:
            report(
                "  ready: "
                + ", ".join(f"{e.name} {e.replicas}{'' if e.exact else '+'}" for e in wanted)
            )
            return
        sleep(poll)


def without_await(compiled: Compiled, keys: Iterable[DeploymentKey]) -> Compiled:
    """`compiled` with the Deployments of `keys` registered without Pulumi's await
    (`pulumi.com/skipAwait`; their Services are compiled so): `wait_ready` judges their
    readiness. The objects changed are copies (compiled objects are shared and read-only)."""
    names = set()
    for model, key in keys:
        release = compiled.release.models.get(model)
        found = release.deployments.get(key) if release else None
        if found is not None:
            names.add(found.object_name)
    if not names:
        return compiled
    objects = []
    for obj in compiled.objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] in names:
            metadata = dict(obj["metadata"])
            metadata["annotations"] = {**(metadata.get("annotations") or {}), SKIP_AWAIT: "true"}
            obj = {**obj, "metadata": metadata}
        objects.append(obj)
    return dataclasses.replace(compiled, objects=objects)

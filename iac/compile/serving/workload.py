"""The serving workload of a deployment: apps/v1 Deployment, its Service, its PDB.

GPU pod practice from reference/k8s-serving.md §6: no `spec.replicas` on an active
deployment (KEDA owns it; with server-side apply a replica count in the manifest fights the
HPA), `replicas: 0` on a deactivated one (see `deployment_object`), GPU limits, the GPU taint
tolerated, placement on the node pool, a startup probe sized for loading weights, /dev/shm
in memory, and a preStop drain inside a matching grace period.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from iac.catalog import catalog
from iac.catalog.node_labels import GpuLabels
from iac.compile import labels
from iac.compile.capacity.placement import gpu_labels, gpu_resource, placement
from iac.compile.names import object_name
from iac.compile.quantity import format_mebibytes, memory_bytes
from iac.compile.release import DeploymentRelease, Release, object_metadata
from iac.compile.release.node_pools import PoolPlan
from iac.compile.serving.weights import download_container, weights_mount, weights_volume
from iac.spec.container import DEFAULT_CPU, DEFAULT_MEMORY
from iac.spec.stack import Cluster
from iac.spec.types import parse_accelerator

PROBE_PERIOD = 10
"""Seconds between probes; Baseten checks every 10 s."""
DRAIN_SECONDS = 15
"""preStop sleep: time for the Gateway and endpoints to stop sending new requests."""
REQUEST_BUDGET_SECONDS = 120
"""Time for in-flight requests (a long generation) to finish after the drain."""
SHM_CAP_MIB = 16 * 1024
"""/dev/shm is memory-backed and counts against the pod's memory: half of it, at most 16Gi."""
CONTAINER = "server"
NETWORK_POLICY = "iac-model-servers"
"""Name of the NetworkPolicy that admits traffic to the model servers (`cluster.network_policy`)."""
SKIP_AWAIT = "pulumi.com/skipAwait"
"""pulumi-kubernetes' annotation: register the object without waiting for it to be ready."""

# Parts that many Deployments and Services have in common are built once and shared by all
# of them: a 1,000-model stack would otherwise allocate a few hundred thousand equal dicts
# and lists, most of the cost of compiling it. Sharing is safe because compiled objects are
# read-only (`iac.compile.compile_release`): nothing edits them in place, and iac's YAML and
# JSON writers spell a shared part out wherever it appears. The caches are bounded: a
# long-lived process compiling many stacks keeps only recent values.

_TOLERATIONS: list[dict[str, Any]] = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
]
_POD_SECURITY_CONTEXT: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
_LIFECYCLE: dict[str, Any] = {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
_STRATEGY: dict[str, Any] = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
}
_SHM_MOUNT: dict[str, Any] = {"name": "dshm", "mountPath": "/dev/shm"}


@dataclass(frozen=True, slots=True)
class _Gpu:
    """What a Deployment's pods ask for on the nodes, for one `resources.accelerator`."""

    kind: str
    """The accelerator type (the Deployment's `iac.dev/accelerator` label)."""
    resource: str
    """The extended resource requested (`gpu_resource`)."""
    count: str
    """Units per pod, as the quantity text."""


# A stack names a handful of accelerators for thousands of deployments: each is parsed and
# looked up in the catalog (itself loaded once per process) once, not per Deployment.
@functools.lru_cache(maxsize=256)
def _gpu(accelerator: str, labeller: GpuLabels) -> _Gpu:
    kind, count = parse_accelerator(accelerator)
    accelerator_type = catalog().accelerators[kind]
    return _Gpu(
        kind=kind,
        resource=gpu_resource(accelerator_type, labeller),
        count=str(count),
    )


@functools.lru_cache(maxsize=256)
def _resources(cpu: str, memory: str, gpu: _Gpu | None) -> dict[str, Any]:
    requests = {"cpu": cpu, "memory": memory}
    limits = {"memory": memory}
    if gpu is not None:
        # Extended resources cannot be overcommitted: request and limit must be equal.
        requests[gpu.resource] = limits[gpu.resource] = gpu.count
    return {"requests": requests, "limits": limits}


@functools.lru_cache(maxsize=256)
def _shm_volume(memory: str) -> dict[str, Any]:
    """/dev/shm in memory: half the pod's memory, in MiB, at most SHM_CAP_MIB."""
    size = format_mebibytes(min(memory_bytes(memory) // 2**21, SHM_CAP_MIB))
    return {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size}}


@functools.lru_cache(maxsize=256)
def _probes(path: str, startup_timeout: int) -> dict[str, Any]:
    """The container's startupProbe, readinessProbe and livenessProbe, by field name."""
    http_get = {"path": path, "port": "http"}
    return {
        "startupProbe": {
            "httpGet": http_get,
            "periodSeconds": PROBE_PERIOD,
            "failureThreshold": max(1, math.ceil(startup_timeout / PROBE_PERIOD)),
        },
        "readinessProbe": {"httpGet": http_get, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {
            "httpGet": http_get,
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 4,
        },
    }


@functools.lru_cache(maxsize=256)
def _env(variables: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    """`env` of the container, from its variables sorted by name."""
    return [{"name": name, "value": value} for name, value in variables]


@functools.lru_cache(maxsize=256)
def _env_from(secrets: tuple[str, ...]) -> list[dict[str, Any]]:
    # References only: the values stay in the cluster's Secrets.
    return [{"secretRef": {"name": s}} for s in sorted(set(secrets))]


def _metrics_port(release: DeploymentRelease) -> int | None:
    """The container's separate metrics port; None when metrics are served on `http`."""
    metrics = release.container.metrics
    if metrics and metrics.port and metrics.port != release.port:
        return metrics.port
    return None


@functools.lru_cache(maxsize=256)
def _container_ports(port: int, metrics_port: int | None) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    if metrics_port is not None:
        ports.append({"name": "metrics", "containerPort": metrics_port, "protocol": "TCP"})
    return ports


@functools.lru_cache(maxsize=256)
def _service_ports(port: int, metrics_port: int | None) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = [
        {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
    ]
    if metrics_port is not None:
        ports.append(
            {"name": "metrics", "port": metrics_port, "targetPort": "metrics", "protocol": "TCP"}
        )
    return ports


def deployment_object(
    release: DeploymentRelease, cluster: Cluster, pool: PoolPlan | None
) -> dict[str, Any]:
    container = release.container
    resources = container.resources
    health = release.health
    accelerator = resources.accelerator if resources else None
    cpu = (resources.cpu if resources else None) or DEFAULT_CPU
    memory = (resources.memory if resources else None) or DEFAULT_MEMORY
    gpu = _gpu(accelerator, gpu_labels(cluster)) if accelerator else None
    object_labels = labels.workload_object(
        release.model, release.name, release.object_name, release.environment
    )
    if gpu is not None:
        object_labels[labels.ACCELERATOR] = gpu.kind
    if release.node_pool:
        object_labels[labels.NODE_POOL] = release.node_pool
    if release.chain:
        object_labels[labels.CHAIN] = release.chain
    volumes, mounts = _volumes(release, gpu, memory)
    spec = _container_spec(release, _resources(cpu, memory, gpu), mounts)
    pod_spec = _pod_spec(release, spec, _gpu_placement(gpu, pool, cluster), volumes)

    metadata: dict[str, Any] = {
        "name": release.object_name,
        "namespace": cluster.namespace,
        "labels": object_labels,
    }
    replicas: dict[str, Any] = {}
    if not release.active:
        # Deactivated: no pod ever, not even on the first apply (a Deployment without
        # `replicas` starts one until KEDA pauses it: a GPU node launched for a model declared
        # off). The count is iac's only here (the ScaledObject is paused at 0 and KEDA keeps
        # no HPA). No conflict on a deactivation: the HPA controller's and KEDA's writes
        # through the scale subresource leave `spec.replicas` unowned (shown on a live
        # cluster, tests/live/test_keda.py). Reactivating drops the field: the API server
        # defaults it to 1 and KEDA, resumed, takes the count from there. No await: nothing
        # to wait for. On the object, not the pod template: reactivating restarts nothing.
        metadata["annotations"] = {SKIP_AWAIT: "true"}
        replicas["replicas"] = 0
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": replicas
        | {
            # An active deployment has no `replicas`: KEDA owns the count (module docstring).
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": health.startup_timeout + 600,
            "strategy": _STRATEGY,
            "selector": {"matchLabels": labels.selector(release.model, release.name)},
            "template": {
                "metadata": {
                    "labels": labels.workload(release.model, release.name, release.object_name)
                },
                "spec": pod_spec,
            },
        },
    }


def _gpu_placement(gpu: _Gpu | None, pool: PoolPlan | None, cluster: Cluster) -> dict[str, Any]:
    """Where the pod of a GPU deployment may run: tolerating the GPU nodes' taint, on the
    nodes of its accelerator (and pool); nothing for a deployment without GPUs."""
    if gpu is None:
        return {}
    found: dict[str, Any] = {"tolerations": _TOLERATIONS}
    where = placement(catalog().accelerators[gpu.kind], pool, cluster)
    if where.node_selector:
        found["nodeSelector"] = where.node_selector
    if where.affinity:
        found["affinity"] = where.affinity
    return found


def _volumes(
    release: DeploymentRelease, gpu: _Gpu | None, memory: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and the server container's mounts of them: shared memory for a
    GPU server, and the weights' volume when the deployment downloads weights."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if gpu is not None:
        volumes.append(_shm_volume(memory))
        mounts.append(_SHM_MOUNT)
    if release.container.weights is not None:
        volumes.append(weights_volume(release))
        mounts.append(weights_mount(release))
    return volumes, mounts


def _container_spec(
    release: DeploymentRelease, resources: dict[str, Any], mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The model server's container."""
    container = release.container
    spec: dict[str, Any] = {"name": CONTAINER, "image": container.image}
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    if container.env or release.chain_env:
        # A chainlet's callees (`iac.compile.release.chains`) over a variable of its own.
        variables = {**(container.env or {}), **dict(release.chain_env)}
        spec["env"] = _env(tuple(sorted(variables.items())))
    if container.secrets:
        spec["envFrom"] = _env_from(tuple(container.secrets))
    spec["ports"] = _container_ports(release.port, _metrics_port(release))
    spec["resources"] = resources
    spec.update(_probes(release.health.path, release.health.startup_timeout))
    spec["lifecycle"] = _LIFECYCLE
    spec["securityContext"] = _security_context(container.run_as_user)
    if mounts:
        spec["volumeMounts"] = mounts
    return spec


def _pod_spec(
    release: DeploymentRelease,
    server: dict[str, Any],
    gpu_placement: dict[str, Any],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """The pod: the weights' download first (when there are weights), then `server`."""
    container = release.container
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": DRAIN_SECONDS + REQUEST_BUDGET_SECONDS,
        "securityContext": _POD_SECURITY_CONTEXT,
    }
    if container.weights:
        pod_spec["initContainers"] = [download_container(release)]
    pod_spec["containers"] = [server]
    pod_spec.update(gpu_placement)
    pod_spec["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            # GPUs are scarce: spread when possible, never block scheduling on it.
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels.selector(release.model, release.name)},
        }
    ]
    if volumes:
        pod_spec["volumes"] = volumes
    if container.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [
            {"name": n} for n in sorted(set(container.image_pull_secrets))
        ]
    return pod_spec


def service_object(release: DeploymentRelease, cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        # Not awaited by Pulumi: pulumi-kubernetes calls a Service ready 10 s after the last
        # change to its endpoints, pods or not, so a first apply of 100 models spent 375 s in
        # these waits (docs/program.md, "a first apply to a live API server"). They prove
        # nothing the Deployment's own await does not: it waits for the pods this selects.
        "metadata": object_metadata(release, cluster) | {"annotations": {SKIP_AWAIT: "true"}},
        "spec": {
            "type": "ClusterIP",
            "selector": labels.selector(release.model, release.name),
            "ports": _service_ports(release.port, _metrics_port(release)),
        },
    }


def has_disruption_budget(release: DeploymentRelease) -> bool:
    """With two or more replicas guaranteed, drains take them one at a time."""
    return release.active and release.autoscaling.min_replicas >= 2


def disruption_budget(release: DeploymentRelease, cluster: Cluster) -> dict[str, Any] | None:
    """A PodDisruptionBudget where `has_disruption_budget`, else None."""
    if not has_disruption_budget(release):
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(release, cluster),
        "spec": {
            "maxUnavailable": 1,
            # A pod still loading its model is not serving: let drains evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": labels.selector(release.model, release.name)},
        },
    }


@functools.lru_cache(maxsize=256)
def _security_context(run_as_user: int | None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    if run_as_user is not None:
        context["runAsNonRoot"] = True
        context["runAsUser"] = run_as_user
    return context


def network_policy(cluster: Cluster) -> dict[str, Any]:
    """Model pods take traffic only from the Gateway, the KEDA interceptor and Prometheus."""
    sources = sorted(
        {cluster.gateway.namespace, cluster.scale_from_zero.namespace, cluster.monitoring_namespace}
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NETWORK_POLICY,
            "namespace": cluster.namespace,
            "labels": {labels.MANAGED_BY: "iac"},
        },
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "model-server"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                        for ns in sources
                    ]
                }
            ],
        },
    }


def chain_models(release: Release) -> dict[str, list[str]]:
    """Each chain of a release, with the models its chainlets run as (sorted)."""
    found: dict[str, list[str]] = {}
    for model in sorted(release.models.values(), key=lambda m: m.name):
        if model.chain is not None:
            found.setdefault(model.chain.chain, []).append(model.name)
    return dict(sorted(found.items()))


def chain_network_policy_name(chain: str) -> str:
    return object_name("iac-chain", chain)


def chain_network_policy(chain: str, models: list[str], cluster: Cluster) -> dict[str, Any]:
    """A chain's chainlets take calls from each other, beside what `network_policy` admits
    (policies add up): pods of other models and chains still cannot call them."""
    members = {
        "matchExpressions": [{"key": labels.MODEL, "operator": "In", "values": list(models)}]
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": chain_network_policy_name(chain),
            "namespace": cluster.namespace,
            "labels": {labels.MANAGED_BY: "iac", labels.CHAIN: chain},
        },
        "spec": {
            "podSelector": members,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": members}]}],
        },
    }

"""The serving workload of a deployment: apps/v1 Deployment, its Service, its PDB.

GPU pod practice from reference/k8s-serving.md §6: no `spec.replicas` (KEDA owns it; with
server-side apply a replica count in the manifest fights the HPA), GPU limits, the GPU taint
tolerated, placement on the node pool, a startup probe sized for loading weights, /dev/shm
in memory, and a preStop drain inside a matching grace period.
"""

from __future__ import annotations

import math
from typing import Any

from iac.catalog import AcceleratorType, catalog
from iac.compile import labels
from iac.compile.node_pools import PoolPlan, node_labels
from iac.compile.quantity import format_mebibytes, memory_bytes
from iac.compile.release import DeploymentRelease, object_metadata
from iac.compile.weights import download_container, weights_mount, weights_volume
from iac.spec.stack import Cluster
from iac.spec.types import parse_accelerator

DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2Gi"
"""Requests when a level sets none: Baseten's defaults (reference/baseten.md §4.1)."""
PROBE_PERIOD = 10
"""Seconds between probes; Baseten checks every 10 s."""
DRAIN_SECONDS = 15
"""preStop sleep: time for the Gateway and endpoints to stop sending new requests."""
REQUEST_BUDGET_SECONDS = 120
"""Time for in-flight requests (a long generation) to finish after the drain."""
SHM_CAP_MIB = 16 * 1024
"""/dev/shm is memory-backed and counts against the pod's memory: half of it, at most 16Gi."""
CONTAINER = "server"
SKIP_AWAIT = "pulumi.com/skipAwait"
"""pulumi-kubernetes' annotation: register the object without waiting for it to be ready."""
GKE_PARTITION_SIZE = "cloud.google.com/gke-gpu-partition-size"
"""The label GKE puts on the nodes of a pool whose GPUs it partitions (`3g.40gb`)."""
WHOLE_GPU = "nvidia.com/gpu"


def gpu_resource(kind: AcceleratorType, provisioner: str) -> str:
    """The extended resource one unit of `kind` is requested as on the provisioner's nodes.

    A MIG slice: GKE's device plugin offers each partition of a `gpuPartitionSize` pool as
    one `nvidia.com/gpu` (GKE's "Running multi-instance GPUs"); elsewhere the NVIDIA GPU
    operator's mixed strategy names it per profile (`nvidia.com/mig-3g.40gb`, the catalog's
    `resource`). Nothing advertises the other name: a pod asking for it never schedules.
    """
    if kind.mig is not None and provisioner == "gke":
        return WHOLE_GPU
    return kind.resource


def gpu_affinity(kind: AcceleratorType, provisioner: str) -> dict[str, Any] | None:
    """On GKE, a MIG slice requires nodes partitioned to its profile, by the label GKE
    sets on them; None elsewhere (the resource name alone says the profile).

    A node affinity rather than a `nodeSelector` entry: the selector is exactly the pool's
    own `nodeConfig.labels` (what the Pulumi program matches to make a pod's owner wait
    for its pool), and GKE refuses labels it manages in `nodeConfig.labels`.
    """
    if kind.mig is None or provisioner != "gke":
        return None
    term = {"key": GKE_PARTITION_SIZE, "operator": "In", "values": [kind.mig.profile]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [term]}]
            }
        }
    }


def deployment_object(
    release: DeploymentRelease, cluster: Cluster, pool: PoolPlan | None
) -> dict[str, Any]:
    container = release.container
    pod_labels = labels.workload(release.model, release.name, release.object_name)
    health = release.health
    accelerator = container.resources.accelerator if container.resources else None
    cpu = (container.resources.cpu if container.resources else None) or DEFAULT_CPU
    memory = (container.resources.memory if container.resources else None) or DEFAULT_MEMORY

    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    limits: dict[str, str] = {"memory": memory}
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    pod: dict[str, Any] = {}
    if accelerator:
        kind, count = parse_accelerator(accelerator)
        accelerator_type = catalog().accelerators[kind]
        resource = gpu_resource(accelerator_type, cluster.provisioner)
        # Extended resources cannot be overcommitted: request and limit must be equal.
        requests[resource] = limits[resource] = str(count)
        pod["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
        selector = node_labels(pool, cluster.provisioner) if pool else {}
        if selector:
            pod["nodeSelector"] = selector
        affinity = gpu_affinity(accelerator_type, cluster.provisioner)
        if affinity:
            pod["affinity"] = affinity
        shm = min(memory_bytes(memory) // 2**21, SHM_CAP_MIB)  # half the memory, in MiB
        volumes.append(
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": format_mebibytes(shm)}}
        )
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})

    ports = [{"name": "http", "containerPort": release.port, "protocol": "TCP"}]
    if container.metrics and container.metrics.port and container.metrics.port != release.port:
        ports.append(
            {"name": "metrics", "containerPort": container.metrics.port, "protocol": "TCP"}
        )

    spec: dict[str, Any] = {"name": CONTAINER, "image": container.image}
    if container.command:
        spec["command"] = list(container.command)
    if container.args:
        spec["args"] = list(container.args)
    if container.env:
        spec["env"] = [{"name": k, "value": container.env[k]} for k in sorted(container.env)]
    if container.secrets:
        # References only: the values stay in the cluster's Secrets.
        spec["envFrom"] = [{"secretRef": {"name": s}} for s in sorted(set(container.secrets))]
    spec["ports"] = ports
    spec["resources"] = {"requests": requests, "limits": limits}
    http_get = {"path": health.path, "port": "http"}
    spec["startupProbe"] = {
        "httpGet": http_get,
        "periodSeconds": PROBE_PERIOD,
        "failureThreshold": max(1, math.ceil(health.startup_timeout / PROBE_PERIOD)),
    }
    spec["readinessProbe"] = {"httpGet": http_get, "periodSeconds": 5, "failureThreshold": 3}
    spec["livenessProbe"] = {
        "httpGet": http_get,
        "periodSeconds": 15,
        "timeoutSeconds": 5,
        "failureThreshold": 4,
    }
    spec["lifecycle"] = {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
    spec["securityContext"] = _security_context(container.run_as_user)
    if container.weights is not None:
        volumes.append(weights_volume(release))
        mounts.append(weights_mount(release))
    if mounts:
        spec["volumeMounts"] = mounts

    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": DRAIN_SECONDS + REQUEST_BUDGET_SECONDS,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        **({"initContainers": [download_container(release)]} if container.weights else {}),
        "containers": [spec],
        **pod,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                # GPUs are scarce: spread when possible, never block scheduling on it.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels.selector(release.model, release.name)},
            }
        ],
    }
    if volumes:
        pod_spec["volumes"] = volumes
    if container.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [
            {"name": n} for n in sorted(set(container.image_pull_secrets))
        ]

    object_labels = labels.with_environment(pod_labels, release.environment)
    if accelerator:
        object_labels[labels.ACCELERATOR] = parse_accelerator(accelerator)[0]
    if release.node_pool:
        object_labels[labels.NODE_POOL] = release.node_pool
    metadata: dict[str, Any] = {
        "name": release.object_name,
        "namespace": cluster.namespace,
        "labels": object_labels,
    }
    if not release.active:
        # Deactivated: KEDA holds it at zero; Pulumi must not start a GPU pod and wait for a
        # model nobody calls. On the object, not the pod template: reactivating restarts nothing.
        metadata["annotations"] = {SKIP_AWAIT: "true"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            # No `replicas`: KEDA owns the count (see module docstring).
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": health.startup_timeout + 600,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "selector": {"matchLabels": labels.selector(release.model, release.name)},
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }


def service_object(release: DeploymentRelease, cluster: Cluster) -> dict[str, Any]:
    container = release.container
    ports = [{"name": "http", "port": release.port, "targetPort": "http", "protocol": "TCP"}]
    if container.metrics and container.metrics.port and container.metrics.port != release.port:
        ports.append(
            {
                "name": "metrics",
                "port": container.metrics.port,
                "targetPort": "metrics",
                "protocol": "TCP",
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(release, cluster),
        "spec": {
            "type": "ClusterIP",
            "selector": labels.selector(release.model, release.name),
            "ports": ports,
        },
    }


def disruption_budget(release: DeploymentRelease, cluster: Cluster) -> dict[str, Any] | None:
    """With two or more replicas guaranteed, drains take them one at a time."""
    if not release.active or release.autoscaling.min_replicas < 2:
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
            "name": "iac-model-servers",
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

"""Keeping cold starts short: images pulled onto GPU nodes ahead of time, and spare GPU
capacity kept provisioned so a new replica does not wait minutes for a node.

- Pre-pull: per GPU pool, a DaemonSet whose init containers pull the images of the
  deployments that may run there (each exits at once), then sleeps in a pause container.
- Warm capacity (`warm:` on a pool or an environment): with Karpenter, a `CapacityBuffer`
  (autoscaling.x-k8s.io) of placeholder chunks shaped like real replicas; elsewhere a
  Deployment of placeholder pods at a negative priority, which real replicas preempt. A warm
  node holds all of a node's devices: on GKE those of the pool's machine type, elsewhere
  the accelerator's most per node (Karpenter launches the instance that fits it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from iac.catalog.node_labels import GpuLabels
from iac.compile import labels
from iac.compile.capacity.gke import pool_machine
from iac.compile.capacity.machines import node_units
from iac.compile.capacity.placement import gpu_labels, gpu_resource, placement
from iac.compile.names import MAX_NAME, distinct_names, object_name
from iac.compile.release import DeploymentRelease, Release
from iac.compile.release.node_pools import PoolPlan, node_labels
from iac.compile.release.split import served
from iac.spec.container import DEFAULT_CPU, DEFAULT_MEMORY
from iac.spec.stack import Cluster, Pricing
from iac.spec.types import parse_accelerator

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
WARM_PRIORITY = "iac-warm-capacity"
WARM_PRIORITY_VALUE = -10
"""Below every real pod (0 by default): placeholders are the first to be preempted."""
_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
_RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
WARM_PREFIX = "iac-warm-"
PREPULL_PREFIX = "iac-prepull"


@dataclass(frozen=True, slots=True)
class WarmChunk:
    """One placeholder: a replica-shaped (or node-shaped) request on a pool."""

    name: str
    """Labels its pods and names its objects (`warm_name`): unique among the chunks."""
    pool: PoolPlan
    count: int
    resource: str
    units: int
    cpu: str
    memory: str
    environment: tuple[str, str] | None = None
    """(model, environment) whose `warm:` asks for it; None for the pool's own `warm:`."""


def warm_name(chunk: WarmChunk) -> str:
    """Name of a chunk's objects: `iac-warm-pool-h100`, `iac-warm-llama-v3`."""
    return WARM_PREFIX + chunk.name


def warm_chunks(release: Release, pricing: Pricing | None = None) -> list[WarmChunk]:
    """The placeholders of every `warm:` in the release, on pools and on environments.

    `pricing` is the stack's: on GKE it takes part in choosing a pool's machine type, so a
    warm node has that machine's devices. Without it the catalog's prices choose, which
    gives another machine only where the stack's `pricing:` adds or reprices GCP machines.

    Names: `pool-<pool>` (whole nodes), `pool-<pool>-replicas` and, for an environment, its
    deployment's object name; hashed to fit `iac-warm-` in 63 characters, and where two
    would be equal (pool `gpu`'s replicas, pool `gpu-replicas`' nodes) each ends in a hash
    of what it is for (`distinct_names`).
    """
    pools = {p.name: p for p in release.pools}
    deployments = [d for m in release.models.values() for d in m.deployments.values()]
    labeller = gpu_labels(release.cluster)
    chunks: dict[tuple[str, ...], WarmChunk] = {}
    parts: dict[tuple[str, ...], tuple[str, ...]] = {}
    for name, pool in sorted(pools.items()):
        warm = pool.warm
        if warm is None:
            continue
        on_pool = [d for d in deployments if d.node_pool == name and d.active]
        if warm.nodes:
            resource = gpu_resource(pool.accelerator, labeller)
            units = _node_units(release, pool, pricing)
            key = ("pool", name, "nodes")
            parts[key] = ("pool", name)
            chunks[key] = WarmChunk("", pool, warm.nodes, resource, units, "1", "1Gi")
        if warm.replicas and on_pool:
            largest = max(on_pool, key=lambda d: (_units(d), d.model, d.name))
            key = ("pool", name, "replicas")
            parts[key] = ("pool", name, "replicas")
            chunks[key] = _replica_chunk(pool, warm.replicas, largest, labeller)
    for model in release.models.values():
        for env in model.environments.values():
            # Warm capacity is for the deployment the environment sends its requests to.
            sides = served(env.traffic)
            if env.warm is None or not env.warm.replicas or len(sides) != 1:
                continue
            deployment = model.deployments.get(sides[0][0])
            if deployment is None or deployment.node_pool not in pools:
                continue
            key = ("environment", model.name, env.name)
            parts[key] = (deployment.object_name,)
            chunk = _replica_chunk(
                pools[deployment.node_pool or ""], env.warm.replicas, deployment, labeller
            )
            chunks[key] = replace(chunk, environment=(model.name, env.name))
    names = distinct_names(parts, limit=MAX_NAME - len(WARM_PREFIX))
    return [replace(chunk, name=names[key]) for key, chunk in chunks.items()]


def _node_units(release: Release, pool: PoolPlan, pricing: Pricing | None) -> int:
    """Accelerator units of one whole node of the pool."""
    if release.cluster.provisioner == "gke":
        # GKE nodes are the pool's one machine type: a 1-GPU machine never fits a
        # placeholder asking for the accelerator's 8.
        machine = pool_machine(release, pool, pricing)
        if machine is not None:  # else compiling the pool reports why it has none
            return node_units(pool, machine)
    return pool.accelerator.max_per_node


def _units(deployment: DeploymentRelease) -> int:
    resources = deployment.container.resources
    return parse_accelerator(resources.accelerator)[1] if resources and resources.accelerator else 0


def _replica_chunk(
    pool: PoolPlan, count: int, deployment: DeploymentRelease, labeller: GpuLabels
) -> WarmChunk:
    resources = deployment.container.resources
    return WarmChunk(
        "",
        pool,
        count,
        gpu_resource(pool.accelerator, labeller),
        _units(deployment),
        (resources.cpu if resources else None) or DEFAULT_CPU,
        (resources.memory if resources else None) or DEFAULT_MEMORY,
    )


def _placeholder_pod(chunk: WarmChunk, cluster: Cluster, priority: bool) -> dict[str, Any]:
    amount = str(chunk.units)
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 0,
        "tolerations": [_TOLERATION],
        "containers": [
            {
                "name": "placeholder",
                "image": PAUSE_IMAGE,
                "resources": {
                    "requests": {"cpu": chunk.cpu, "memory": chunk.memory, chunk.resource: amount},
                    "limits": {"memory": chunk.memory, chunk.resource: amount},
                },
                "securityContext": _RESTRICTED,
            }
        ],
    }
    where = placement(chunk.pool.accelerator, chunk.pool, cluster)
    if where.node_selector:
        spec["nodeSelector"] = where.node_selector
    if where.affinity:
        spec["affinity"] = where.affinity
    if priority:
        spec["priorityClassName"] = WARM_PRIORITY
    return {"metadata": {"labels": _warm_labels(chunk)}, "spec": spec}


def _warm_labels(chunk: WarmChunk) -> dict[str, str]:
    return {labels.MANAGED_BY: "iac", "iac.dev/warm-capacity": chunk.name}


def warm_objects(chunks: list[WarmChunk], cluster: Cluster) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    karpenter = cluster.provisioner == "karpenter"
    for chunk in chunks:
        name = warm_name(chunk)
        meta = {"name": name, "namespace": cluster.namespace, "labels": _warm_labels(chunk)}
        if karpenter:
            objects.append(
                {"apiVersion": "v1", "kind": "PodTemplate", "metadata": meta,
                 "template": _placeholder_pod(chunk, cluster, priority=False)}
            )  # fmt: skip
            objects.append(
                {
                    "apiVersion": "autoscaling.x-k8s.io/v1beta1",
                    "kind": "CapacityBuffer",
                    "metadata": meta,
                    "spec": {"podTemplateRef": {"name": name}, "replicas": chunk.count},
                }
            )
        else:
            selector = {"matchLabels": _warm_labels(chunk)}
            objects.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": chunk.count,
                        "selector": selector,
                        "template": _placeholder_pod(chunk, cluster, priority=True),
                    },
                }
            )
    if chunks and not karpenter:
        objects.append(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": WARM_PRIORITY, "labels": {labels.MANAGED_BY: "iac"}},
                "value": WARM_PRIORITY_VALUE,
                "preemptionPolicy": "Never",
                "globalDefault": False,
                "description": "Placeholders keeping GPUs warm; real replicas preempt them.",
            }
        )
    return objects


def prepull_name(pool: PoolPlan) -> str:
    """`iac-prepull-<pool>`, hashed to fit."""
    return object_name(PREPULL_PREFIX, pool.name)


def prepull_pools(release: Release, cluster: Cluster) -> list[tuple[PoolPlan, list[str]]]:
    """The pools that get a pre-pull DaemonSet, with the images it pulls."""
    if not cluster.prepull_images:
        return []
    found = []
    deployments = [d for m in release.models.values() for d in m.deployments.values() if d.active]
    for pool in release.pools:
        images = sorted(
            {d.container.image or "" for d in deployments if d.node_pool == pool.name} - {""}
        )
        # Existing nodes the pool names none of: not every node of its type in the cluster.
        if not images or (cluster.provisioner == "existing" and not node_labels(pool, "existing")):
            continue
        found.append((pool, images))
    return found


def prepull_objects(release: Release, cluster: Cluster) -> list[dict[str, Any]]:
    objects = []
    for pool, images in prepull_pools(release, cluster):
        where = placement(pool.accelerator, pool, cluster)
        match = {labels.MANAGED_BY: "iac", "iac.dev/prepull": pool.name}
        pod: dict[str, Any] = {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "tolerations": [_TOLERATION],
            "nodeSelector": where.node_selector,
            **({"affinity": where.affinity} if where.affinity else {}),
            "initContainers": [
                {
                    "name": f"pull-{index}",
                    "image": image,
                    # Pulling is the point; the container itself exits at once.
                    "command": ["sh", "-c", "exit 0"],
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"memory": "64Mi"},
                    },
                    "securityContext": _RESTRICTED,
                }
                for index, image in enumerate(images)
            ],
            "containers": [
                {
                    "name": "pause",
                    "image": PAUSE_IMAGE,
                    "resources": {
                        "requests": {"cpu": "1m", "memory": "8Mi"},
                        "limits": {"memory": "16Mi"},
                    },
                    "securityContext": _RESTRICTED,
                }
            ],
        }
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {
                    "name": prepull_name(pool),
                    "namespace": cluster.namespace,
                    "labels": match,
                },
                "spec": {
                    "selector": {"matchLabels": match},
                    "updateStrategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "100%"},
                    },
                    "template": {"metadata": {"labels": match}, "spec": pod},
                },
            }
        )
    return objects

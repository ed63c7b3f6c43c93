"""Where a GPU pod may run: on its pool's nodes, which carry its accelerator type.

Every pod that asks for an accelerator (a serving replica, a warm-capacity placeholder) and
the image pre-pull DaemonSet of a pool select two things:

- the pool's own labels (`node_labels`), in `nodeSelector`. With Karpenter and GKE these
  are exactly the labels the pool puts on its nodes, which is also how the Pulumi program
  finds the pool a workload waits for;
- the accelerator type, by the labels its nodes carry (`iac.catalog.node_labels`, those of
  the provisioner, or of `cluster.gpu_label` on existing nodes). Where iac creates the pools
  they are a required node affinity, so the nodeSelector stays the pool's labels (GKE also
  refuses its own labels in a pool's `nodeConfig.labels`). On existing nodes a label with
  one value goes in the nodeSelector (GKE Autopilot accepts `cloud.google.com/gke-accelerator`
  only there), a label with several in the affinity, `In` its values (one type, several
  boards: `NVIDIA-H100-80GB-HBM3`, `NVIDIA-H100-PCIe`). A label the pool itself declares is
  the pool's to choose (`iac validate` holds its value to the type's).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from iac.catalog import AcceleratorType, catalog
from iac.catalog.node_labels import GpuLabels, accelerator_labels, gpu_labels_of
from iac.compile.release.node_pools import PoolPlan, node_labels
from iac.spec.stack import Cluster

WHOLE_GPU = "nvidia.com/gpu"


@dataclass(frozen=True, slots=True)
class Placement:
    """The placement fields of a pod spec; empty ones are left out of it."""

    node_selector: dict[str, str]
    affinity: dict[str, Any] | None


def gpu_labels(cluster: Cluster) -> GpuLabels:
    """Who labels the cluster's GPU nodes (`iac.catalog.node_labels.gpu_labels_of`)."""
    return gpu_labels_of(cluster.provisioner, cluster.gpu_label)


def gpu_resource(kind: AcceleratorType, labeller: GpuLabels) -> str:
    """The extended resource one unit of `kind` is requested as on the cluster's nodes.

    A MIG slice: GKE's device plugin offers each partition of a `gpuPartitionSize` pool as
    one `nvidia.com/gpu` (GKE's "Running multi-instance GPUs"); elsewhere the NVIDIA GPU
    operator's mixed strategy names it per profile (`nvidia.com/mig-3g.40gb`, the catalog's
    `resource`). Nothing advertises the other name: a pod asking for it never schedules.
    """
    if kind.mig is not None and labeller == "gke":
        return WHOLE_GPU
    return kind.resource


def placement(kind: AcceleratorType, pool: PoolPlan | None, cluster: Cluster) -> Placement:
    """Where pods asking for `kind` on `pool` may run (see the module docstring)."""
    pool_labels = node_labels(pool, cluster.provisioner) if pool else {}
    return _placement(
        kind.name, gpu_labels(cluster), cluster.provisioner, tuple(pool_labels.items())
    )


# A stack names a handful of accelerators and pools for thousands of Deployments: each
# placement is built once and its dicts shared (compiled objects are read-only, see
# `iac.compile.serving.workload`).
@functools.lru_cache(maxsize=256)
def _placement(
    accelerator: str,
    labeller: GpuLabels,
    provisioner: str,
    pool_labels: tuple[tuple[str, str], ...],
) -> Placement:
    created = provisioner != "existing"
    selector = dict(pool_labels)
    expressions = []
    kind = catalog().accelerators[accelerator]
    for key, values in accelerator_labels(kind, labeller, every_series=created).items():
        if not created and key in selector:
            continue  # the pool's own label, of one of these values (iac validate)
        if not created and len(values) == 1:
            selector[key] = values[0]
        else:
            expressions.append({"key": key, "operator": "In", "values": list(values)})
    return Placement(selector, node_affinity(expressions) if expressions else None)


def node_affinity(expressions: list[dict[str, Any]]) -> dict[str, Any]:
    """A required node affinity: nodes matching every expression."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    }

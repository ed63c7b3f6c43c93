"""The node labels that say which accelerator a GPU node carries, as each labeller writes them.

Whoever brings a GPU node up labels it with its device: NVIDIA GPU feature discovery (GFD,
part of the GPU operator and of the device plugin's chart) on any Kubernetes, GKE on its
GPU nodes, Karpenter on the nodes it launches. A workload selects its accelerator type by
the labels of its cluster's labeller (`iac.compile.capacity.placement`); the values are the
catalog's (accelerators.yaml, with the source of each under `label_sources`).
"""

from __future__ import annotations

from typing import Literal

from iac.catalog.models import AcceleratorType, catalog

GpuLabels = Literal["gpu-feature-discovery", "gke", "karpenter", "none"]
"""Who labels the GPU nodes (`cluster.gpu_label`); `none`: nobody iac can rely on."""
DEFAULT_GPU_LABELS: GpuLabels = "gpu-feature-discovery"
"""On nodes iac does not create: the GPU operator's labels, the same on every cloud and on
premises."""

GFD_PRODUCT = "nvidia.com/gpu.product"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GKE_PARTITION_SIZE = "cloud.google.com/gke-gpu-partition-size"
"""The label GKE puts on the nodes of a pool whose GPUs it partitions (`3g.40gb`)."""
KARPENTER_GPU_NAME = "karpenter.k8s.aws/instance-gpu-name"
KARPENTER_GPU_MEMORY = "karpenter.k8s.aws/instance-gpu-memory"

PROVISIONER_LABELS: dict[str, GpuLabels] = {"karpenter": "karpenter", "gke": "gke"}
"""The labels of the nodes a provisioner creates itself."""


def gpu_labels_of(provisioner: str, gpu_label: GpuLabels | None) -> GpuLabels:
    """Who labels the cluster's GPU nodes: the provisioner that creates them, else the
    stack's `cluster.gpu_label`, else GPU feature discovery."""
    return PROVISIONER_LABELS.get(provisioner) or gpu_label or DEFAULT_GPU_LABELS


def accelerator_labels(
    kind: AcceleratorType, labeller: GpuLabels, *, every_series: bool = False
) -> dict[str, tuple[str, ...]]:
    """The labels a node carrying `kind` has, as `labeller` writes them: each key with the
    values it may take (one per board of the type, or per machine series); a node of the
    type matches every key with one of its values. Empty for `none` (and for GKE, which has
    no nodes of some types).

    A MIG slice is found on its parent's nodes: GKE labels them with the parent's device and
    the partition size; Karpenter with the instance's GPU; GFD (mixed strategy, whose
    `nvidia.com/mig-<profile>` resources iac requests) with `<resource>.product`, the
    parent's product name and the profile.

    `every_series`: GKE's names of the device on every machine series (A3 Mega's H100 is
    `nvidia-h100-mega-80gb`), for a pool whose machine iac chooses; otherwise the type's own
    name only, the one GKE Autopilot provisions for.
    """
    mig = kind.mig
    device = catalog().accelerators[mig.parent] if mig else kind
    if labeller == "gpu-feature-discovery":
        if mig:
            products = (f"{p}-MIG-{mig.profile}" for p in device.gpu_products)
            return {f"{kind.resource}.product": tuple(products)}
        return {GFD_PRODUCT: device.gpu_products}
    if labeller == "gke":
        if not device.gke_accelerator:
            return {}  # GKE has no such nodes: placing a deployment on them is an error
        names = [device.gke_accelerator]
        if every_series:
            names += [n for n in device.gke_accelerator_of_series.values() if n not in names]
        labels = {GKE_ACCELERATOR: tuple(names)}
        if mig:
            labels[GKE_PARTITION_SIZE] = (mig.profile,)
        return labels
    if labeller == "karpenter":
        return {
            KARPENTER_GPU_NAME: (device.karpenter_gpu_name,),
            KARPENTER_GPU_MEMORY: (str(device.karpenter_gpu_memory),),
        }
    return {}

"""Accelerator types, named as Baseten names them (`reference/baseten.md` §4.1).

The spec layer only needs the names; the compiler also needs how each type is requested
(`resource`) and how a node carrying it is labelled, per node provisioner.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AcceleratorType:
    name: str
    """Baseten's name, as written in `resources.accelerator` (`H100`, `A10G`, ...)."""
    memory_gib: int
    """Memory of one device."""
    resource: str
    """The extended resource a container requests (MIG slices have their own)."""
    karpenter_gpu_name: str
    """Value of the `karpenter.k8s.aws/instance-gpu-name` label on AWS nodes."""
    gke_accelerator: str
    """Value of the `cloud.google.com/gke-accelerator` label on GKE nodes ('' if GKE has none)."""
    max_per_node: int = 8
    """The most devices one node (one replica) can carry."""


_GPU = "nvidia.com/gpu"

ACCELERATORS: dict[str, AcceleratorType] = {
    a.name: a
    for a in (
        AcceleratorType("T4", 16, _GPU, "t4", "nvidia-tesla-t4", 4),
        AcceleratorType("L4", 24, _GPU, "l4", "nvidia-l4"),
        AcceleratorType("A10G", 24, _GPU, "a10g", "", 8),
        AcceleratorType("V100", 16, _GPU, "v100", "nvidia-tesla-v100"),
        AcceleratorType("A100", 80, _GPU, "a100", "nvidia-a100-80gb"),
        AcceleratorType("A100_40GB", 40, _GPU, "a100", "nvidia-tesla-a100"),
        AcceleratorType("H100", 80, _GPU, "h100", "nvidia-h100-80gb"),
        # Baseten's H100_40GB is a MIG slice of an H100 (3g.40gb), requested as its own resource.
        AcceleratorType("H100_40GB", 40, "nvidia.com/mig-3g.40gb", "h100", "nvidia-h100-80gb", 2),
        AcceleratorType("H200", 141, _GPU, "h200", "nvidia-h200-141gb"),
        AcceleratorType("B200", 180, _GPU, "b200", "nvidia-b200"),
        AcceleratorType("L40S", 48, _GPU, "l40s", ""),
        AcceleratorType("RTX_PRO_6000", 96, _GPU, "rtx-pro-6000", "nvidia-rtx-pro-6000"),
    )
}
"""Every accelerator name a stack file may use, keyed by name."""

"""Karpenter (AWS) node pools: a `NodePool` per pool and the `EC2NodeClass` they launch with.

Disruption is set so that a model that is loading or serving is not evicted to save money:
only empty nodes are consolidated, and drift replaces at most one node at a time.
(reference/k8s-serving.md §3.1)
"""

from __future__ import annotations

from typing import Any

from iac.catalog.node_labels import accelerator_labels
from iac.compile import labels
from iac.compile.release.node_pools import PoolPlan, gpu_taint, node_labels
from iac.spec.stack import Cluster

DEFAULT_NODE_CLASS = "iac-gpu"
EMPTY_NODE_GRACE = "10m"
"""How long an empty GPU node is kept for the next scale-up before it is removed."""


def node_pool_object(plan: PoolPlan, cluster: Cluster) -> dict[str, Any]:
    accelerator = plan.accelerator
    physical = accelerator.mig.parent if accelerator.mig else accelerator.name
    node_metadata_labels = node_labels(plan, "karpenter")
    if accelerator.mig:
        # The GPU operator's MIG manager partitions the node's devices on this label.
        node_metadata_labels["nvidia.com/mig.config"] = f"all-{accelerator.mig.profile}"
    requirements = _requirements(plan)
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {
            "name": plan.name,
            "labels": {labels.MANAGED_BY: "iac", "iac.dev/accelerator": physical},
        },
        "spec": {
            "template": {
                "metadata": {"labels": node_metadata_labels},
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": node_class_name(plan, cluster),
                    },
                    "requirements": requirements,
                    "taints": [gpu_taint()],
                    "expireAfter": "720h",
                    # Drains wait for in-flight requests, but never forever.
                    "terminationGracePeriod": "1h",
                },
            },
            "limits": {"nvidia.com/gpu": str(plan.limit_devices)},
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": EMPTY_NODE_GRACE,
                "budgets": [{"nodes": "1"}],
            },
        },
    }


def _requirements(plan: PoolPlan) -> list[dict[str, Any]]:
    """Which instances the pool may launch: NVIDIA GPUs of the plan's accelerator, its
    capacity type, enough GPUs on one node for its largest replica, its instance types."""
    accelerator = plan.accelerator
    requirements: list[dict[str, Any]] = [
        {
            "key": "karpenter.k8s.aws/instance-gpu-manufacturer",
            "operator": "In",
            "values": ["nvidia"],
        },
        # The GPU by the labels its workloads select (iac.compile.capacity.placement): its name, and
        # its memory, which tells A100 80GB from 40GB and a whole L4 from a g6f fraction.
        *(
            {"key": key, "operator": "In", "values": list(values)}
            for key, values in accelerator_labels(accelerator, "karpenter").items()
        ),
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [plan.capacity_type]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
    ]
    if plan.largest_replica > 1:
        # A replica's devices must all be on one node.
        requirements.append(
            {
                "key": "karpenter.k8s.aws/instance-gpu-count",
                "operator": "Gt",
                "values": [str(plan.largest_replica - 1)],
            }
        )
    if plan.instance_types:
        requirements.append(
            {
                "key": "node.kubernetes.io/instance-type",
                "operator": "In",
                "values": list(plan.instance_types),
            }
        )
    return requirements


def node_class_name(plan: PoolPlan, cluster: Cluster) -> str:
    return plan.node_class or cluster.karpenter.node_class or DEFAULT_NODE_CLASS


def node_class_object(cluster: Cluster) -> dict[str, Any]:
    """The EC2NodeClass of iac's pools, found by Karpenter's discovery tag on subnets and
    security groups (the convention of Karpenter's getting-started guide)."""
    settings = cluster.karpenter
    discovery = {"karpenter.sh/discovery": cluster.name}
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": DEFAULT_NODE_CLASS, "labels": {labels.MANAGED_BY: "iac"}},
        "spec": {
            "role": settings.node_role or f"KarpenterNodeRole-{cluster.name}",
            "amiSelectorTerms": [{"alias": settings.ami_alias}],
            "subnetSelectorTerms": [{"tags": discovery}],
            "securityGroupSelectorTerms": [{"tags": discovery}],
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "volumeSize": settings.root_volume,
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
        },
    }


def karpenter_objects(
    pools: list[PoolPlan] | tuple[PoolPlan, ...], cluster: Cluster
) -> list[dict[str, Any]]:
    objects = [node_pool_object(plan, cluster) for plan in pools]
    if any(node_class_name(plan, cluster) == DEFAULT_NODE_CLASS for plan in pools):
        objects.append(node_class_object(cluster))
    return objects

"""GKE node pools in the Pulumi program: each declaration of `iac.compile.capacity.gke`
registered as a `pulumi_gcp.container.NodePool` under the cluster's component, with one
explicit GCP provider, inputs exactly the rendered properties.

`pulumi_gcp` is an optional dependency (`pip install 'iac[gke]'`), imported only when the
compiled stack has GKE node pools. Pods that select a pool's node labels wait for it
(`depends_on`), so on the first `pulumi up` the pool exists before the Deployments that
need it, and on deletion they go before it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pulumi

from iac.compile import Compiled
from iac.compile.capacity.gke import NODE_POOL_TYPE, resource_id
from iac.errors import IacError

INSTALL_HINT = "pip install 'iac[gke]'"
_POD_OWNERS = {"Deployment", "DaemonSet", "StatefulSet", "PodTemplate"}


@dataclass
class NodePools:
    """What `register` created: nothing, for a stack without GKE node pools."""

    provider: pulumi.ProviderResource | None = None
    resources: dict[str, pulumi.CustomResource] = field(default_factory=dict)
    """By `iac.compile.capacity.gke.resource_id` (`gcp:container/nodePool:NodePool/gpu-h100`)."""
    node_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """By resource id: the labels the pool's nodes carry."""

    def selected_by(self, obj: Mapping[str, Any]) -> list[pulumi.CustomResource]:
        """The pools whose nodes an object's pods select (their nodeSelector ⊆ the pool's
        node labels): what a Deployment, DaemonSet, StatefulSet or PodTemplate waits for."""
        if not self.resources or obj.get("kind") not in _POD_OWNERS:
            return []
        template = obj.get("template") if obj["kind"] == "PodTemplate" else None
        if template is None:
            template = (obj.get("spec") or {}).get("template") or {}
        selector = (template.get("spec") or {}).get("nodeSelector") or {}
        if not selector:
            return []
        return [
            self.resources[key]
            for key, labels in self.node_labels.items()
            if all(labels.get(k) == v for k, v in selector.items())
        ]


def import_gcp() -> ModuleType:
    """`pulumi_gcp`, or an IacError saying how to install it."""
    try:
        import pulumi_gcp
    except ImportError as exc:
        raise IacError(
            "`provisioner: gke` creates GKE node pools through the pulumi-gcp package, "
            f"which is not installed; install it with: {INSTALL_HINT}"
        ) from exc
    return pulumi_gcp


def register(compiled: Compiled, parent: pulumi.Resource) -> NodePools:
    """Register the compiled stack's GKE node pools as children of `parent` (the cluster's
    component); a missing pulumi_gcp stops the run as a pulumi.RunError."""
    declarations = [d for d in compiled.cloud if d["type"] == NODE_POOL_TYPE]
    unknown = sorted({d["type"] for d in compiled.cloud} - {NODE_POOL_TYPE})
    if unknown:
        raise pulumi.RunError(f"no Pulumi resource class for {', '.join(unknown)}")
    if not declarations:
        return NodePools()
    try:
        gcp = import_gcp()
    except IacError as exc:
        raise pulumi.RunError(str(exc)) from None
    cluster = compiled.release.cluster
    project = cluster.gke.project if cluster.gke else None
    # Explicit, so the pools never depend on ambient `gcp:*` config of the Pulumi stack;
    # credentials come from the environment (Application Default Credentials).
    provider = gcp.Provider(cluster.name, project=project)
    pools = NodePools(provider=provider)
    for declaration in declarations:
        properties = declaration["properties"]
        key = resource_id(declaration)
        pools.resources[key] = gcp.container.NodePool(
            declaration["name"],
            opts=pool_options(parent, provider),
            **{_snake(name): value for name, value in properties.items()},
        )
        pools.node_labels[key] = dict(properties["nodeConfig"].get("labels") or {})
    return pools


def pool_options(
    parent: pulumi.Resource, provider: pulumi.ProviderResource
) -> pulumi.ResourceOptions:
    """A pool's options. Delete before replace: a pool carries its stack name (`name`, what
    `gcloud` and the console show), unique in its cluster, and some of its inputs cannot be
    changed in place (spot ↔ on-demand, its GPUs: a new pool), so the replacement
    Pulumi would create first would collide with the pool it replaces. The pool's pods are
    evicted while the new pool comes up (`pulumi preview` shows the replacement as
    delete-replaced)."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, delete_before_replace=True)


def _snake(name: str) -> str:
    """`initialNodeCount` → `initial_node_count`: the SDK's keyword for a top-level input
    (nested dicts are sent with the keys they have, Pulumi's camelCase names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

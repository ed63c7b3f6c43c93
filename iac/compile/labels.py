"""Labels on everything `iac` emits: the standard `app.kubernetes.io/*` set and ours."""

from __future__ import annotations

MODEL = "iac.dev/model"
DEPLOYMENT = "iac.dev/deployment"
ENVIRONMENT = "iac.dev/environment"
ACCELERATOR = "iac.dev/accelerator"
"""On a Deployment (not its pods): the accelerator type, for policies and humans."""
NODE_POOL = "iac.dev/node-pool"
"""On GPU nodes and on the Deployments placed on them: the node pool's name."""
MANAGED_BY = "app.kubernetes.io/managed-by"
CHAIN = "iac.dev/chain"
"""On a chain's own objects (its NetworkPolicy) and its chainlets' Deployments (not their
pods): the chain's name."""


def selector(model: str, deployment: str) -> dict[str, str]:
    """Pod selector of a deployment: immutable once created, so only names that never change."""
    return {MODEL: model, DEPLOYMENT: deployment}


def workload(model: str, deployment: str, object_name: str) -> dict[str, str]:
    """Labels of a deployment's pods (no environment: a promotion must not restart pods)."""
    # Ends with `selector(model, deployment)`'s labels, spelled out: built for every object of
    # every deployment, and a merge would build the selector's dict only to copy it.
    return {
        "app.kubernetes.io/name": model,
        "app.kubernetes.io/instance": object_name,
        "app.kubernetes.io/version": deployment,
        "app.kubernetes.io/component": "model-server",
        MANAGED_BY: "iac",
        MODEL: model,
        DEPLOYMENT: deployment,
    }


def workload_object(
    model: str, deployment: str, object_name: str, environment: str | None
) -> dict[str, str]:
    """Labels of a deployment's objects (its Deployment, Service, ScaledObject, ...): its
    pods' labels plus the environment it serves (objects, never pods)."""
    found = workload(model, deployment, object_name)
    if environment:
        found[ENVIRONMENT] = environment
    return found


def model(model_name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": model_name, MANAGED_BY: "iac", MODEL: model_name}

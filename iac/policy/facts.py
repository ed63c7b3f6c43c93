"""What the rules look at: one record per deployment, built from the release (in `iac`) or
from the Kubernetes objects Pulumi registers (in the CrossGuard pack). Both builders give
the same records for the same stack (a test holds them equal), so one set of rule functions
serves both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from iac.catalog import catalog
from iac.compile import labels
from iac.compile.release import DeploymentRelease, Release
from iac.compile.release.split import served
from iac.compile.serving.route_backends import environment_backends
from iac.compile.serving.scaling import PAUSED_REPLICAS
from iac.spec.stack import Promotion
from iac.spec.types import parse_accelerator


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    model: str
    deployment: str
    environment: str | None
    active: bool
    image: str
    accelerator: str | None
    """Accelerator type (`H100`), or None for CPU only."""
    units: int
    """Accelerators per replica (GPUs or MIG slices)."""
    min_replicas: int
    max_replicas: int
    scale_down_delay: int
    startup_seconds: int
    node_pool: str | None
    traffic: tuple[tuple[str, int], ...] = ()
    """Who its environment's route sends requests to, with percents, by deployment name:
    `(("v3", 100),)` alone, several during a split; empty when it serves no environment. A
    side at weight 0 (dark) is not in it."""
    cpu: str | None = None
    """Declared CPU; only known from the stack file (objects carry the defaults too)."""
    memory: str | None = None
    """Declared memory; only known from the stack file."""
    weights_size: str | None = None
    """Only known from the stack file."""
    promotion_strategy: str | None = None
    """Of the environment it serves; only known from the stack file."""
    promotion: Promotion | None = None
    """The promotion settings of the environment it serves; only known from the stack
    file."""
    from_stack: bool = False
    """Built from the stack file, so the stack-only facts above are known."""

    @property
    def dark(self) -> bool:
        """Bound to an environment that sends it no requests (weight 0)."""
        return self.environment is not None and self.deployment not in dict(self.traffic)


def facts_from_release(release: Release) -> list[DeploymentFacts]:
    found = []
    for model in release.models.values():
        for d in model.deployments.values():
            env = model.environments.get(d.environment or "")
            # As the route has it: the active sides sent requests.
            traffic = tuple(
                sorted(
                    (name, weight)
                    for name, weight in served(env.traffic if env else ())
                    if name in model.deployments and model.deployments[name].active
                )
            )
            found.append(_from_deployment(d, env.promotion if env else None, traffic))
    return sorted(found, key=lambda f: (f.model, f.deployment))


def _from_deployment(
    d: DeploymentRelease, promotion: Promotion | None, traffic: tuple[tuple[str, int], ...]
) -> DeploymentFacts:
    resources = d.container.resources
    kind, units = (
        parse_accelerator(resources.accelerator)
        if resources and resources.accelerator
        else (None, 0)
    )
    return DeploymentFacts(
        model=d.model,
        deployment=d.name,
        environment=d.environment,
        active=d.active,
        image=d.container.image or "",
        accelerator=kind,
        units=units,
        cpu=resources.cpu if resources else None,
        memory=resources.memory if resources else None,
        min_replicas=d.autoscaling.min_replicas,
        max_replicas=d.autoscaling.max_replicas,
        scale_down_delay=d.autoscaling.scale_down_delay,
        startup_seconds=d.health.startup_timeout,
        node_pool=d.node_pool,
        traffic=traffic,
        weights_size=d.container.weights_size,
        promotion_strategy=promotion.strategy if promotion else None,
        promotion=promotion,
        from_stack=True,
    )


STACK_ONLY = ("cpu", "memory", "weights_size", "promotion_strategy", "promotion")
"""Facts no Kubernetes object carries: rules on them run in `iac`, not in the pack."""


def facts_from_objects(objects: Iterable[dict[str, Any]]) -> list[DeploymentFacts]:
    """The same records from the objects alone (what a Pulumi policy pack sees)."""
    deployments: dict[str, dict[str, Any]] = {}
    scalers: dict[str, dict[str, Any]] = {}
    routes: list[dict[str, Any]] = []
    for obj in objects:
        name = obj.get("metadata", {}).get("name", "")
        if obj.get("kind") == "Deployment" and labels.MODEL in obj["metadata"].get("labels", {}):
            deployments[name] = obj
        elif obj.get("kind") == "ScaledObject":
            scalers[name] = obj
        elif obj.get("kind") == "HTTPRoute":
            routes.append(obj)
    named = {
        name: obj["metadata"]["labels"].get(labels.DEPLOYMENT, name)
        for name, obj in deployments.items()
    }
    backends = {
        model: environment_backends(routes, model)
        for model in {obj["metadata"]["labels"][labels.MODEL] for obj in deployments.values()}
    }
    _chain_backends(deployments, backends)
    resources_by_name = {a.resource: a.name for a in catalog().accelerators.values() if a.mig}
    found = []
    for name, obj in deployments.items():
        meta_labels = obj["metadata"]["labels"]
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        requests = container.get("resources", {}).get("requests", {})
        accelerator = meta_labels.get(labels.ACCELERATOR)
        units = 0
        for resource, amount in requests.items():
            if resource == "nvidia.com/gpu" or resource in resources_by_name:
                units = int(amount)
        scaler = scalers.get(name, {})
        spec = scaler.get("spec", {})
        paused = scaler.get("metadata", {}).get("annotations", {}).get(PAUSED_REPLICAS) == "0"
        environment = meta_labels.get(labels.ENVIRONMENT)
        routed = backends[meta_labels[labels.MODEL]].get(environment or "", [])
        traffic = tuple(sorted((named.get(ref, ref), weight) for ref, weight in routed))
        found.append(
            DeploymentFacts(
                model=meta_labels[labels.MODEL],
                deployment=meta_labels[labels.DEPLOYMENT],
                environment=environment,
                active=not paused,
                image=container.get("image", ""),
                accelerator=accelerator,
                units=units,
                min_replicas=spec.get("minReplicaCount", 0),
                max_replicas=spec.get("maxReplicaCount", 1),
                scale_down_delay=spec.get("cooldownPeriod", 0),
                startup_seconds=spec.get("initialCooldownPeriod", 0),
                node_pool=meta_labels.get(labels.NODE_POOL),
                traffic=traffic if environment else (),
            )
        )
    return sorted(found, key=lambda f: (f.model, f.deployment))


def _chain_backends(
    deployments: dict[str, dict[str, Any]],
    backends: dict[str, dict[str, list[tuple[str, int]]]],
) -> None:
    """A chainlet other than the entrypoint has no route: its environments send it what the
    entrypoint's route sends the entrypoint, deployment for deployment (by object name)."""
    chains: dict[str, set[str]] = {}
    names: dict[tuple[str, str], str] = {}
    for name, obj in deployments.items():
        found = obj["metadata"]["labels"]
        names[(found[labels.MODEL], found[labels.DEPLOYMENT])] = name
        if labels.CHAIN in found:
            chains.setdefault(found[labels.CHAIN], set()).add(found[labels.MODEL])
    version = {name: key[1] for key, name in names.items()}
    for models in chains.values():
        routed = next((backends[m] for m in sorted(models) if backends[m]), {})
        for model in models:
            if backends[model]:
                continue
            backends[model] = {
                env: [
                    (names.get((model, version.get(ref, ref)), ref), weight) for ref, weight in refs
                ]
                for env, refs in routed.items()
            }

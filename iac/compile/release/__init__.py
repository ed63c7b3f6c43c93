"""Stack → Release: who serves what, with which effective autoscaling.

The release is the meaning of a stack, independent of how it becomes Kubernetes objects:
which deployments run, which environment each serves with what share of traffic, how each
scales and whether it is reached through the scale-from-zero interceptor. The object
compiler renders it; `iac plan` compares two of them.

Building it decides, beside this module:

    node_pools.py  which pool each deployment runs on, and how large each pool may grow
    split.py       how a traffic split shares its environment's replica bounds
    maxima.py      replica maxima no cluster can reach (a warning at the number to lower)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iac.compile import labels
from iac.compile.names import MAX_WORKLOAD_NAME, object_name
from iac.compile.release import split
from iac.compile.release.chains import wire_chains
from iac.compile.release.maxima import check_maxima
from iac.compile.release.node_pools import Demand, PoolPlan, place, plan_pools
from iac.diagnostics import Diagnostics
from iac.spec.auth import PUBLIC, Access, access
from iac.spec.autoscaling import Autoscaling
from iac.spec.container import DEFAULT_PORT, ContainerFields, Health, Kind, State
from iac.spec.endpoints import ModelEndpoints, model_endpoints
from iac.spec.resolved import (
    ChainMember,
    ResolvedDeployment,
    ResolvedEnvironment,
    ResolvedStack,
)
from iac.spec.stack import Cluster, Promotion, Warm
from iac.spec.types import parse_accelerator


@dataclass(frozen=True, slots=True)
class DeploymentRelease:
    model: str
    name: str
    object_name: str
    """Name of its Deployment, Service and ScaledObject."""
    state: State
    kind: Kind
    environment: str | None
    """The environment it serves, if any."""
    weight: int | None
    """Its traffic weight in that environment, in percent (0: dark, sent none of it)."""
    autoscaling: Autoscaling
    """Effective: the environment's when bound (shared out during a split), else its own."""
    via_interceptor: bool
    """Reached through the KEDA HTTP add-on, which holds requests while it scales from zero."""
    container: ContainerFields
    port: int
    """The serving port (the container's, defaulted by the loader)."""
    health: Health
    """Health endpoint and startup budget (defaulted by the loader)."""
    in_flight: tuple[str, ...]
    """Metrics that sum to the requests a pod holds; empty when the server declares none."""
    node_pool: str | None
    """GPU node pool it is placed on; None for CPU-only."""
    chain: str | None = None
    """The chain whose chainlet it is (None for a model's deployment)."""
    chain_env: tuple[tuple[str, str], ...] = ()
    """A chainlet's: where the chainlets it calls are, in the same chain deployment
    (`IAC_CHAINLET_<NAME>_URL`..., `iac.compile.release.chains`), sorted by name."""

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def dark(self) -> bool:
        """Bound to an environment at weight 0: it runs 0..1 replicas and the environment's
        route sends it nothing (its own `/deployments/<name>/` path still reaches it)."""
        return self.weight == 0

    @property
    def routed(self) -> bool:
        """Has its own `/deployments/<name>/` endpoint (active deployments do)."""
        return self.state == "active"


@dataclass(frozen=True, slots=True)
class EnvironmentRelease:
    model: str
    name: str
    traffic: tuple[tuple[str, int], ...]
    """(deployment, weight), sorted by deployment name."""
    promotion: Promotion
    access: Access
    """Who may call its `/environments/<name>/` endpoint."""
    warm: Warm | None = None
    """Capacity kept ready for its deployment."""


@dataclass(frozen=True, slots=True)
class ModelRelease:
    name: str
    deployments: Mapping[str, DeploymentRelease]
    environments: Mapping[str, EnvironmentRelease]
    endpoints: ModelEndpoints
    """Its host and path prefix (`iac.spec.endpoints`)."""
    access: Access
    """Who may call its `/deployments/<name>/` endpoints (each environment says its own)."""
    chain: ChainMember | None = None
    """A chainlet's model: its chain, and whether it is the entrypoint (the only chainlet
    with endpoints)."""

    @property
    def routed(self) -> bool:
        """Has endpoints on the Gateway: a model, or a chain's entrypoint."""
        return self.chain is None or self.chain.entrypoint

    @property
    def answers_as(self) -> str:
        """The name its endpoints are known by: a chain's entrypoint answers as the chain."""
        return self.chain.chain if self.chain is not None else self.name


@dataclass(frozen=True, slots=True)
class Release:
    cluster: Cluster
    models: Mapping[str, ModelRelease]
    pools: tuple[PoolPlan, ...] = ()
    """GPU node pools, with what may run on each."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (for plans and stack outputs), sorted for stable diffs."""
        return {
            "models": {
                m.name: {
                    "deployments": {
                        d.name: {
                            "state": d.state,
                            "kind": d.kind,
                            "environment": d.environment,
                            "weight": d.weight,
                            "image": d.container.image,
                            "accelerator": d.container.resources.accelerator
                            if d.container.resources
                            else None,
                            "autoscaling": d.autoscaling.model_dump(),
                            "via_interceptor": d.via_interceptor,
                        }
                        for d in sorted(m.deployments.values(), key=lambda d: d.name)
                    },
                    "environments": {
                        e.name: {"traffic": dict(e.traffic)}
                        for e in sorted(m.environments.values(), key=lambda e: e.name)
                    },
                }
                for m in sorted(self.models.values(), key=lambda m: m.name)
            },
            "node_pools": {
                p.name: {
                    "accelerator": p.accelerator.name,
                    "capacity_type": p.capacity_type,
                    "demand_gpus": p.demand_devices,
                    "limit_gpus": p.limit_devices,
                }
                for p in self.pools
            },
        }


def build_release(stack: ResolvedStack, diagnostics: Diagnostics) -> Release:
    """The release of a checked stack. Problems found here (a split that cannot autoscale, a
    pool that cannot be placed on) are added to `diagnostics`; names two objects would
    share are `iac.compile.identities`' to find."""
    models: dict[str, ModelRelease] = {}
    for model_name in sorted(stack.models):
        model = stack.models[model_name]
        serving: dict[str, tuple[ResolvedEnvironment, int]] = {}
        for env in model.environments.values():
            for deployment, weight in env.traffic:
                serving[deployment] = (env, weight)
        deployments = {
            name: _deployment(stack, model.deployments[name], serving.get(name), diagnostics)
            for name in sorted(model.deployments)
        }
        spec = stack.spec.models[model_name]
        # Nothing said (a stack with no `auth:`, reported by iac.validate.auth): public.
        stack_auth = stack.spec.auth
        environments = {
            name: EnvironmentRelease(
                model=model_name,
                name=name,
                traffic=tuple(sorted(model.environments[name].traffic)),
                promotion=model.environments[name].promotion,
                access=access(stack_auth, spec.auth, spec.environments[name].auth) or PUBLIC,
                warm=spec.environments[name].warm,
            )
            for name in sorted(model.environments)
        }
        endpoints = model_endpoints(stack.spec.cluster, model.answers_as, spec.hostname)
        models[model_name] = ModelRelease(
            model_name,
            deployments,
            environments,
            endpoints,
            access(stack_auth, spec.auth) or PUBLIC,
            model.chain,
        )
    if stack.chains:
        models = wire_chains(models, stack.spec.cluster)
    pools = plan_pools(stack.spec, stack.source, _demands(models), diagnostics)
    check_maxima(stack, models, diagnostics)
    return Release(cluster=stack.spec.cluster, models=models, pools=tuple(pools))


def _demands(models: Mapping[str, ModelRelease]) -> list[tuple[str, Demand]]:
    """What each active GPU deployment may ask of its pool: max replicas plus, where its
    environment promotes by rolling, the surge that brings up new replicas first (one
    replica with `max_unavailable_percent` where that rounds down to none)."""
    found = []
    for model in models.values():
        for deployment in model.deployments.values():
            resources = deployment.container.resources
            if not deployment.active or deployment.node_pool is None or resources is None:
                continue
            count = parse_accelerator(resources.accelerator or "")[1]
            replicas = deployment.autoscaling.max_replicas
            env = model.environments.get(deployment.environment or "")
            if env is not None and env.promotion.strategy == "rolling":
                # With max_unavailable_percent, the surge replica a promotion adds where the
                # percent rounds down to none.
                replicas += env.promotion.surge_replicas(replicas)
            found.append(
                (deployment.node_pool, Demand(model.name, deployment.name, replicas, count))
            )
    return found


def _deployment(
    stack: ResolvedStack,
    deployment: ResolvedDeployment,
    serving: tuple[ResolvedEnvironment, int] | None,
    diagnostics: Diagnostics,
) -> DeploymentRelease:
    container = deployment.container
    in_flight = tuple(container.metrics.in_flight or ()) if container.metrics else ()
    has_metric = bool(in_flight)
    environment: str | None = None
    weight: int | None = None
    scaling = deployment.autoscaling
    if serving is not None:
        env, weight = serving
        environment = env.name
        scaling = _share(env, deployment.name, weight)
        in_split = weight > 0 and len(split.served(env.traffic)) > 1
        if in_split and not has_metric and deployment.active:
            # The interceptor routes one Service per route; a weighted split routes directly,
            # so without a metric from the pods nothing can measure this deployment's load.
            diagnostics.warning(
                deployment.origins(),
                f"'{deployment.name}' is in a traffic split but its server declares no "
                "`metrics.in_flight`, so it cannot autoscale during the split; its replicas "
                f"are held at {scaling.min_replicas}",
                deployment.origins.path(),
            )
            scaling = scaling.model_copy(update={"max_replicas": scaling.min_replicas})
    return DeploymentRelease(
        model=deployment.model,
        name=deployment.name,
        object_name=object_name(deployment.model, deployment.name, limit=MAX_WORKLOAD_NAME),
        state=deployment.state,
        kind=deployment.kind,
        environment=environment,
        weight=weight,
        autoscaling=scaling,
        via_interceptor=needs_interceptor(deployment.state, scaling, in_flight),
        container=container,
        port=container.port if container.port is not None else DEFAULT_PORT,
        health=container.health or Health(),
        in_flight=in_flight,
        node_pool=place(stack.spec, deployment, diagnostics),
    )


def needs_interceptor(state: State, scaling: Autoscaling, in_flight: tuple[str, ...]) -> bool:
    """Whether a deployment is reached through the scale-from-zero interceptor: when it may
    scale to zero (something must hold requests while it starts) or its pods report no
    in-flight metric (the interceptor counts its requests)."""
    return state == "active" and (scaling.min_replicas == 0 or not in_flight)


def _share(env: ResolvedEnvironment, name: str, weight: int) -> Autoscaling:
    """The environment's scaling for one of its deployments: alone (or the only side sent
    requests), the environment's settings as they are; in a split, its share of the bounds
    and of each schedule's floor; at weight 0, 0..1 replicas (`iac.compile.release.split`)."""
    scaling = env.autoscaling
    low, high = split.side_bounds(scaling.min_replicas, scaling.max_replicas, env.traffic)[name]
    if weight <= 0:
        # Dark: no schedule keeps replicas up for an environment that sends it nothing.
        return scaling.model_copy(
            update={"min_replicas": low, "max_replicas": high, "schedules": None}
        )
    if len(split.served(env.traffic)) == 1:
        return scaling  # the only side sent requests: the environment's bounds
    schedules = [
        schedule.model_copy(
            update={
                "min_replicas": min(
                    high, split.side_floor(schedule.min_replicas, env.traffic, name)
                )
            }
        )
        for schedule in scaling.schedules or []
    ]
    return scaling.model_copy(
        update={"min_replicas": low, "max_replicas": high, "schedules": schedules or None}
    )


def object_metadata(release: DeploymentRelease, cluster: Cluster) -> dict[str, Any]:
    """Metadata of a deployment's Service, PDB, ScaledObject and InterceptorRoute: its name,
    the stack's namespace, its labels and the environment it serves (objects, never pods)."""
    return {
        "name": release.object_name,
        "namespace": cluster.namespace,
        "labels": labels.workload_object(
            release.model, release.name, release.object_name, release.environment
        ),
    }

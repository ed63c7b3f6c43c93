"""What the simulator needs to know about one deployment, read from the compiled stack.

The autoscaler is read back from the compiled ScaledObject (and InterceptorRoute), so what is
simulated is what would be applied: its trigger (Prometheus in-flight averaged over the
autoscaling window, or the HTTP add-on's concurrency), threshold, min/max, cooldown, and the
HPA behavior (stabilization windows, policies). Serving capacity and cold-start times come
from the release and from simulation parameters, each with where it comes from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from iac.catalog import catalog
from iac.compile import Compiled
from iac.compile.capacity.karpenter import EMPTY_NODE_GRACE
from iac.compile.capacity.pricing import NodesBilled, deployment_nodes, deployment_unit_price
from iac.compile.quantity import memory_bytes
from iac.compile.release import DeploymentRelease, ModelRelease
from iac.compile.release.node_pools import CLOUD_OF
from iac.compile.serving.scaling import HPA_SYNC_PERIOD
from iac.errors import IacError
from iac.spec.autoscaling import Autoscaling
from iac.spec.stack import Pricing
from iac.spec.types import format_duration, parse_accelerator, parse_duration

NODE_SECONDS = 180
"""A new GPU node, from the pending pod to a schedulable node with its device plugin
(Karpenter or GKE, on-demand: typically 2-4 minutes)."""
IMAGE_SECONDS = 60
"""Pulling the serving image on a node that does not have it (vLLM's is ~8 GB)."""
WEIGHTS_SECONDS = 60
"""Downloading and loading weights when the stack declares no `weights_size`."""
WEIGHTS_MIB_PER_SECOND = 500
"""Download-and-load speed for a declared `weights_size` (a cache or a fast hub mirror)."""
ENGINE_SECONDS = 30
"""Engine start after the weights are in memory (CUDA graphs, KV-cache profiling)."""
HPA_TOLERANCE = 0.1
"""The HPA keeps its replica count while metric / target is within 10 % of it (the
kube-controller-manager default, `--horizontal-pod-autoscaler-tolerance`)."""


@dataclass(frozen=True, slots=True)
class Figure:
    """A number the simulation uses, and where it comes from."""

    seconds: float
    basis: str


@dataclass(frozen=True, slots=True)
class ColdStart:
    node: Figure
    """Provisioning a GPU node, when the pool has no free GPU."""
    image: Figure
    """Pulling the image onto a node that has not run this deployment."""
    weights: Figure
    engine: Figure
    node_grace: float
    """How long an emptied node is kept for the next replica (inf: the nodes are not ours)."""
    nodes_ours: bool
    """True when the provisioner creates (and bills) nodes for the deployment."""
    free_gpus: float
    """GPUs free in the pool at the start beyond the deployment's replicas (inf: existing)."""
    startup_timeout: int
    """The container's startup budget; a start slower than it never becomes ready."""

    @property
    def on_new_node(self) -> float:
        return self.node.seconds + self.on_free_gpu

    @property
    def on_free_gpu(self) -> float:
        return self.image.seconds + self.on_warm_node

    @property
    def on_warm_node(self) -> float:
        """A node that ran this deployment before: image cached, weights and engine again."""
        return self.weights.seconds + self.engine.seconds

    def describe(self) -> list[str]:
        return [
            f"node {self.node.seconds:g} s ({self.node.basis})",
            f"image {self.image.seconds:g} s ({self.image.basis})",
            f"weights {self.weights.seconds:g} s ({self.weights.basis})",
            f"engine {self.engine.seconds:g} s ({self.engine.basis})",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": {"seconds": self.node.seconds, "basis": self.node.basis},
            "image": {"seconds": self.image.seconds, "basis": self.image.basis},
            "weights": {"seconds": self.weights.seconds, "basis": self.weights.basis},
            "engine": {"seconds": self.engine.seconds, "basis": self.engine.basis},
            "on_new_node": self.on_new_node,
            "on_free_gpu": self.on_free_gpu,
            "on_warm_node": self.on_warm_node,
            "empty_node_kept": None if math.isinf(self.node_grace) else self.node_grace,
        }


@dataclass(frozen=True, slots=True)
class Rules:
    """One direction of the HPA's `behavior`."""

    window: int
    """stabilizationWindowSeconds."""
    select: Literal["Max", "Min", "Disabled"]
    policies: tuple[tuple[Literal["Pods", "Percent"], int, int], ...]
    """(type, value, periodSeconds)."""


@dataclass(frozen=True, slots=True)
class Scaler:
    """The autoscaler of one deployment, as compiled."""

    trigger: Literal["prometheus", "interceptor"]
    min_replicas: int
    max_replicas: int
    target: float
    """Per-replica target of the metric (threshold, or the interceptor's targetValue)."""
    window: int
    """Seconds the metric is averaged over (0: the interceptor's current concurrency)."""
    polling: int
    cooldown: int
    """KEDA cooldownPeriod: idle time before the last replica goes (min 0 only)."""
    up: Rules
    down: Rules
    hold: int | None
    """The interceptor's readiness timeout: how long it holds a request while no replica
    is ready; None when requests go straight to the pods."""
    sync: int = HPA_SYNC_PERIOD
    tolerance: float = HPA_TOLERANCE
    settings: Autoscaling = field(default_factory=Autoscaling)
    """The effective Baseten settings (for Baseten's algorithm)."""

    def describe(self) -> str:
        if self.trigger == "prometheus":
            metric = f"in-flight requests averaged over {format_duration(self.window)} (Prometheus)"
        else:
            metric = "the interceptor's current concurrency (KEDA HTTP add-on)"
        rate = " or ".join(
            f"{v}{'%' if kind == 'Percent' else ' pods'} per {format_duration(p)}"
            for kind, v, p in self.down.policies
        )
        return (
            f"KEDA + HPA as compiled: {metric}, target {self.target:g} per replica, "
            f"{self.min_replicas}..{self.max_replicas} replicas; every {self.sync}s; "
            f"scale-down after a {format_duration(self.down.window)} window, at most {rate}"
            + (
                f"; to zero after {format_duration(self.cooldown)} idle"
                if self.min_replicas == 0
                else ""
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target": self.target,
            "window": self.window,
            "sync": self.sync,
            "cooldown": self.cooldown,
            "tolerance": self.tolerance,
            "scale_up": {"window": self.up.window, "policies": [list(p) for p in self.up.policies]},
            "scale_down": {
                "window": self.down.window,
                "policies": [list(p) for p in self.down.policies],
            },
            "hold": self.hold,
        }


@dataclass(frozen=True, slots=True)
class Setup:
    """Everything about one deployment the simulation needs."""

    model: str
    environment: str | None
    deployment: str
    share: float
    """Its share of the environment's traffic (1 unless split)."""
    slots: int
    """Requests one replica serves at once: its concurrency_target."""
    gpus: float
    """Devices one replica holds (a MIG slice counts its share)."""
    accelerator: str | None
    hourly: float
    """USD per replica-hour (0 when unpriced or CPU-only)."""
    price_basis: str
    scaler: Scaler
    cold: ColdStart
    nodes: NodesBilled | None = None
    """Where the provisioner buys whole machines: the USD per hour and GPUs of the nodes a
    number of its replicas' nodes are billed as (`iac cost`'s whole nodes); None: each
    replica at its own price."""
    nodes_basis: str = ""


@dataclass(frozen=True, slots=True)
class Params:
    """Simulation parameters; None takes the default (see docs/simulate.md)."""

    node_seconds: float | None = None
    image_seconds: float | None = None
    weights_seconds: float | None = None
    engine_seconds: float | None = None
    node_grace: float | None = None
    free_gpus: float | None = None
    tolerance: float = HPA_TOLERANCE


def setup_for(
    compiled: Compiled,
    pricing: Pricing | None,
    model: str,
    environment: str,
    params: Params | None = None,
) -> list[Setup]:
    """The deployments serving `model`'s `environment`, each with its share of traffic."""
    params = params or Params()
    release = compiled.release
    found = release.models.get(model)
    if found is None:
        raise IacError(f"no model '{model}'; models: {', '.join(sorted(release.models)) or '-'}")
    env = found.environments.get(environment)
    if env is None:
        names = ", ".join(sorted(found.environments)) or "none"
        raise IacError(f"{_named(found)} has no environment '{environment}' (it has: {names})")
    total = sum(weight for _, weight in env.traffic) or 1
    objects = _objects_by_name(compiled.objects)
    return [
        _setup(found.deployments[name], weight / total, objects, compiled, pricing, params)
        for name, weight in env.traffic
        # A side at weight 0 (dark) is sent none of the environment's requests.
        if weight > 0 and found.deployments[name].active
    ]


def default_model(compiled: Compiled, model: str | None) -> str:
    """`model` if the stack has it, else the stack's only model."""
    models = compiled.release.models
    if model is None:
        if len(models) != 1:
            raise IacError(
                f"the stack has several models; name one with --model ({', '.join(sorted(models))})"
            )
        return next(iter(models))
    if model not in models:
        chains = sorted({m.chain.chain for m in models.values() if m.chain is not None})
        named = f"; chains: {', '.join(chains)}" if chains else ""
        raise IacError(f"no model '{model}'; models: {', '.join(sorted(models)) or '-'}{named}")
    return model


def default_environment(compiled: Compiled, model: str) -> str:
    """The model's `production` environment, else its only one."""
    found = compiled.release.models[model]
    environments = found.environments
    if "production" in environments:
        return "production"
    if len(environments) == 1:
        return next(iter(environments))
    raise IacError(
        f"{_named(found)} has environments {', '.join(sorted(environments)) or '(none)'}; "
        "name one with --environment"
    )


def _named(model: ModelRelease) -> str:
    """`model 'llama'`; a chainlet's model as its chain, whose environments are its own."""
    return f"chain '{model.chain.chain}'" if model.chain else f"model '{model.name}'"


def _objects_by_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (o["kind"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("ScaledObject", "InterceptorRoute")
    }


def _setup(
    deployment: DeploymentRelease,
    share: float,
    objects: Mapping[tuple[str, str], dict[str, Any]],
    compiled: Compiled,
    pricing: Pricing | None,
    params: Params,
) -> Setup:
    scaled = objects.get(("ScaledObject", deployment.object_name))
    if scaled is None:
        raise IacError(f"'{deployment.name}' has no ScaledObject; nothing to simulate")
    route = objects.get(("InterceptorRoute", deployment.object_name))
    scaler = scaler_from_objects(scaled, route, deployment.autoscaling, params.tolerance)
    provisioner = compiled.release.cluster.provisioner
    resources = deployment.container.resources
    accelerator = resources.accelerator if resources else None
    gpus = 0.0
    hourly = 0.0
    basis = "CPU only: not priced"
    if accelerator:
        kind, count = parse_accelerator(accelerator)
        mig = catalog().accelerators[kind].mig
        gpus = count / mig.per_device if mig else float(count)
        price = deployment_unit_price(compiled.release, deployment.model, deployment.name, pricing)
        if price is None:
            basis = f"{kind}: no price"
        else:
            hourly = price.hourly * count
            basis = price.basis if count == 1 else f"{count} × ${price.hourly:.2f}: {price.basis}"
    nodes = None
    if accelerator and hourly and provisioner in ("gke", "karpenter"):
        nodes = deployment_nodes(compiled.release, deployment.model, deployment.name, pricing)
    return Setup(
        model=deployment.model,
        environment=deployment.environment,
        deployment=deployment.name,
        share=share,
        slots=deployment.autoscaling.concurrency_target,
        gpus=gpus,
        accelerator=accelerator,
        hourly=hourly,
        price_basis=basis,
        scaler=scaler,
        cold=cold_start(deployment, provisioner, params),
        nodes=nodes[0] if nodes else None,
        nodes_basis=nodes[1] if nodes else "",
    )


def scaler_from_objects(
    scaled: Mapping[str, Any],
    route: Mapping[str, Any] | None,
    settings: Autoscaling,
    tolerance: float = HPA_TOLERANCE,
) -> Scaler:
    """Read the autoscaler back from a compiled ScaledObject (and InterceptorRoute)."""
    spec = scaled["spec"]
    trigger = spec["triggers"][0]
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    behavior = behavior or {}
    hold: int | None = None
    if trigger["type"] == "prometheus":
        kind: Literal["prometheus", "interceptor"] = "prometheus"
        target = float(trigger["metadata"]["threshold"])
        match = re.search(r"\[(\d+)s\]", trigger["metadata"]["query"])
        window = int(match.group(1)) if match else settings.autoscaling_window
    else:
        kind = "interceptor"
        if route is None:
            raise IacError(f"ScaledObject {scaled['metadata']['name']}: no InterceptorRoute")
        target = float(route["spec"]["scalingMetric"]["concurrency"]["targetValue"])
        window = 0
        readiness = route["spec"].get("timeouts", {}).get("readiness")
        hold = parse_duration(readiness) if readiness else None
    return Scaler(
        trigger=kind,
        min_replicas=int(spec.get("minReplicaCount", 0)),
        max_replicas=int(spec.get("maxReplicaCount", 100)),
        target=target,
        window=window,
        polling=int(spec.get("pollingInterval", 30)),
        cooldown=int(spec.get("cooldownPeriod", 300)),
        up=_rules(behavior.get("scaleUp"), up=True),
        down=_rules(behavior.get("scaleDown"), up=False),
        hold=hold,
        tolerance=tolerance,
        settings=settings,
    )


def _rules(rules: Mapping[str, Any] | None, *, up: bool) -> Rules:
    """A direction of the behavior, with the HPA's defaults where it is not written."""
    if rules is None:
        if up:  # Kubernetes default: 100 % or 4 pods per 15 s, whichever is more
            return Rules(0, "Max", (("Percent", 100, 15), ("Pods", 4, 15)))
        return Rules(300, "Max", (("Percent", 100, 15),))
    policies = tuple(
        (p["type"], int(p["value"]), int(p["periodSeconds"])) for p in rules.get("policies", ())
    )
    return Rules(
        int(rules.get("stabilizationWindowSeconds", 0 if up else 300)),
        rules.get("selectPolicy", "Max"),
        policies,
    )


def cold_start(deployment: DeploymentRelease, provisioner: str, params: Params) -> ColdStart:
    """Each part of a cold start: a simulation parameter, else a declared figure, else a
    default (weights from `weights_size` when declared)."""
    container = deployment.container
    declared = container.cold_start
    ours = provisioner in CLOUD_OF

    def part(name: str, given: float | None, default: float, basis: str) -> Figure:
        if given is not None:
            return Figure(float(given), "simulation parameter")
        value = getattr(declared, name, None) if declared is not None else None
        if value is not None:
            return Figure(float(value), "declared cold_start")
        return Figure(float(default), basis)

    if ours:
        node = part("node", params.node_seconds, NODE_SECONDS, "default: a new GPU node")
    else:
        node = part("node", params.node_seconds, 0, "existing nodes: none provisioned")
    if container.weights_size:
        seconds = round(memory_bytes(container.weights_size) / 2**20 / WEIGHTS_MIB_PER_SECOND)
        weights_basis = f"weights_size {container.weights_size} at {WEIGHTS_MIB_PER_SECOND} MiB/s"
    else:
        seconds = WEIGHTS_SECONDS
        weights_basis = "default: no weights_size declared"
    grace = parse_duration(EMPTY_NODE_GRACE) if ours else math.inf
    return ColdStart(
        node=node,
        image=part("image", params.image_seconds, IMAGE_SECONDS, "default"),
        weights=part("weights", params.weights_seconds, seconds, weights_basis),
        engine=part("engine", params.engine_seconds, ENGINE_SECONDS, "default"),
        node_grace=params.node_grace if params.node_grace is not None else grace,
        nodes_ours=ours,
        free_gpus=params.free_gpus if params.free_gpus is not None else (0.0 if ours else math.inf),
        startup_timeout=deployment.health.startup_timeout,
    )

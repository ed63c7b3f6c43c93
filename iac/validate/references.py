"""Checks across a loaded stack: references between environments and deployments, and
settings that are only wrong in combination (min above max, a rolling promotion with no
step size)."""

from __future__ import annotations

import math
import re

from iac.catalog import catalog
from iac.catalog.node_labels import PROVISIONER_LABELS, accelerator_labels, gpu_labels_of
from iac.diagnostics import Diagnostics, KeyPath, Location, did_you_mean
from iac.spec.autoscaling import Autoscaling
from iac.spec.resolved import (
    Origins,
    ResolvedEnvironment,
    ResolvedModel,
    ResolvedStack,
)
from iac.spec.stack import Model
from iac.spec.types import INT32_MAX, parse_accelerator


def check_references(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    _check_provisioner(stack, diagnostics)
    _check_gpu_label(stack, diagnostics)
    for model_name, model in stack.models.items():
        _check_model_name(model, diagnostics)
        spec = stack.spec.models[model_name]
        bound: dict[str, tuple[str, Location]] = {}
        for env in model.environments.values():
            _check_environment(spec, env, bound, model.described, diagnostics)
        for deployment in model.deployments.values():
            _check_bounds(deployment.autoscaling, deployment.origins, diagnostics)


def _check_model_name(model: ResolvedModel, diagnostics: Diagnostics) -> None:
    """A model's name starts its Services' names (`MODEL-DEPLOYMENT`), which Kubernetes
    wants to start with a letter (DNS-1035 labels); any DNS-1123 name is valid elsewhere."""
    if model.name[:1].isalpha():
        return
    diagnostics.error(
        model.origins(),
        f"model name '{model.name}' starts with a digit, but the Services named after it "
        f"('{model.name}-DEPLOYMENT') must start with a letter: rename it, "
        f"e.g. 'model-{model.name}'",
        model.origins.path(),
    )


def _check_environment(
    model: Model,
    env: ResolvedEnvironment,
    bound: dict[str, tuple[str, Location]],
    described: str,
    diagnostics: Diagnostics,
) -> None:
    path = env.origins.path()
    written = model.environments[env.name]
    if written.deployment is not None and written.traffic is not None:
        diagnostics.error(
            env.origins(),
            "set either `deployment` or `traffic`, not both",
            path,
        )
        return
    if not env.traffic:
        diagnostics.error(
            env.origins(),
            "names no deployment: set `deployment: NAME` (or `traffic:` weights for a split)",
            path,
        )
        return
    for deployment in env.deployments:
        _check_served(model, env, deployment, bound, described, diagnostics)
    total = sum(weight for _, weight in env.traffic)
    if written.traffic is not None and total != 100:
        # Each weight is a whole percent from 0 to 100 (checked with the file's types).
        diagnostics.error(
            env.origins(("traffic",)),
            f"traffic weights add up to {total}, not 100: each is the percent of the "
            "environment's requests a deployment gets, e.g. `{v3: 90, v4: 10}`",
            env.origins.path(("traffic",)),
        )
    _check_bounds(env.autoscaling, env.origins, diagnostics)
    _check_promotion(env, path, diagnostics)


def _check_served(
    model: Model,
    env: ResolvedEnvironment,
    deployment: str,
    bound: dict[str, tuple[str, Location]],
    described: str,
    diagnostics: Diagnostics,
) -> None:
    """A deployment the environment sends traffic to exists, may serve (published and
    active), and serves no other environment (`bound`: who serves what so far)."""
    written = model.environments[env.name]
    where = ("deployment",) if written.deployment is not None else ("traffic", deployment)
    location = env.origins(where)
    key_path = env.origins.path(where)
    target = model.deployments.get(deployment)
    if target is None:
        diagnostics.error(
            location,
            f"no deployment '{deployment}' in {described}"
            f"{did_you_mean(deployment, model.deployments)}",
            key_path,
        )
        return
    if target.kind == "development":
        diagnostics.error(
            location,
            f"'{deployment}' is a development deployment, which never serves an "
            f"environment; publish a copy (`{deployment}-published: {{from: {deployment}}}`)",
            key_path,
        )
    elif target.state == "inactive":
        diagnostics.error(
            location,
            f"deployment '{deployment}' is inactive; set `state: active` on it before it "
            "serves an environment",
            key_path,
        )
    if deployment in bound:
        other, other_location = bound[deployment]
        diagnostics.error(
            location,
            f"deployment '{deployment}' already serves environment '{other}' (line "
            f"{other_location.line}); a deployment serves one environment at a time, so "
            f"declare a copy (`{deployment}-{env.name}: {{from: {deployment}}}`)",
            key_path,
        )
    else:
        bound[deployment] = (env.name, location)


def _check_promotion(env: ResolvedEnvironment, path: KeyPath, diagnostics: Diagnostics) -> None:
    """The environment's promotion settings make sense together."""
    promotion = env.promotion
    if promotion.strategy == "rolling" and (
        (promotion.max_surge_percent == 0) == (promotion.max_unavailable_percent == 0)
    ):
        diagnostics.error(
            env.origins(),
            "a rolling promotion needs exactly one of `max_surge_percent` and "
            f"`max_unavailable_percent` above 0 (got {promotion.max_surge_percent} and "
            f"{promotion.max_unavailable_percent})",
            (*path, "promotion"),
        )
    floor = env.autoscaling.min_replicas
    peak = floor + math.ceil(floor * promotion.replica_overhead_percent / 100)
    if promotion.strategy == "rolling" and peak > INT32_MAX:
        where = ("promotion", "replica_overhead_percent")
        diagnostics.error(
            env.origins(where),
            f"a rolling promotion first scales the previous deployment to {peak:,} replicas "
            f"(min_replicas {floor:,} plus {promotion.replica_overhead_percent} %), past the "
            f"{INT32_MAX:,} its ScaledObject holds: lower the overhead or min_replicas",
            env.origins.path(where),
        )
    unavailable = promotion.strategy == "rolling" and promotion.max_unavailable_percent > 0
    if promotion.allow_unavailable and not unavailable:
        where = ("promotion", "allow_unavailable")
        diagnostics.error(
            env.origins(where),
            "`allow_unavailable` applies to rolling promotions with `max_unavailable_percent` "
            "(it takes a replica down where that percent rounds down to none); set "
            "`strategy: rolling`, `max_surge_percent: 0` and `max_unavailable_percent`, or "
            "remove it",
            env.origins.path(where),
        )


_GKE_NODE_POOL = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")


def _check_provisioner(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    """`provisioner: gke` needs the cluster to create node pools in, and pool names GKE
    accepts (at most 40 characters, starting with a letter)."""
    # A stack file with errors elsewhere may lack its sections (the loader goes on).
    cluster = getattr(stack.spec, "cluster", None)
    if cluster is None or cluster.provisioner != "gke":
        return
    if cluster.gke is None:
        where = ("cluster", "provisioner")
        diagnostics.error(
            stack.source.value(where),
            "`provisioner: gke` creates node pools in a GKE cluster: name it with "
            "`cluster.gke: {cluster: NAME, location: REGION}` (and `project:` unless the "
            "Google Cloud provider's default project is meant)",
            where,
        )
    for name in getattr(stack.spec, "node_pools", None) or {}:
        if not _GKE_NODE_POOL.match(name):
            where = ("node_pools", name)
            diagnostics.error(
                stack.source.key(where),
                f"'{name}' is not a valid GKE node pool name: use at most 40 lower-case "
                "letters, digits and '-', starting with a letter",
                where,
            )


_LABELLER = {"karpenter": "Karpenter", "gke": "GKE"}


def _check_gpu_label(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    """`cluster.gpu_label` says who labels nodes iac does not create: nodes a provisioner
    creates carry its own labels. On existing nodes, a pool label that is also one of its
    accelerator type's labels must have one of the type's values, or no node matches."""
    cluster = getattr(stack.spec, "cluster", None)
    if cluster is None:
        return
    own = PROVISIONER_LABELS.get(cluster.provisioner)
    if own is not None:
        if cluster.gpu_label not in (None, own):
            diagnostics.error(
                stack.source.value(("cluster", "gpu_label")),
                f"`provisioner: {cluster.provisioner}` creates the GPU nodes, and workloads "
                f"select them by the labels {_LABELLER[own]} puts on them; remove `gpu_label` "
                "(it says who labels the nodes of `provisioner: existing`)",
                ("cluster", "gpu_label"),
            )
        return
    labeller = gpu_labels_of(cluster.provisioner, cluster.gpu_label)
    for name, pool in (getattr(stack.spec, "node_pools", None) or {}).items():
        kind = catalog().accelerators[parse_accelerator(pool.accelerator)[0]]
        device = catalog().accelerators[kind.mig.parent] if kind.mig else kind
        if labeller == "gke" and not device.gke_accelerator:
            continue  # GKE has no such nodes: placing a deployment on the pool says so
        wanted = accelerator_labels(kind, labeller)
        for key, value in (pool.labels or {}).items():
            values = wanted.get(key)
            if values is not None and value not in values:
                where = ("node_pools", name, "labels", key)
                choice = "it" if len(values) == 1 else "one of them"
                diagnostics.error(
                    stack.source.value(where),
                    f"{kind.name} nodes carry {key}: {' or '.join(values)} "
                    f"(`gpu_label: {labeller}`), so no node would match '{value}'; write "
                    f"{choice}, or leave the label out (workloads select the type anyway)",
                    where,
                )


def _check_bounds(autoscaling: Autoscaling, origins: Origins, diagnostics: Diagnostics) -> None:
    if autoscaling.min_replicas > autoscaling.max_replicas:
        key = ("autoscaling", "min_replicas")
        if key not in origins.written:
            key = ("autoscaling", "max_replicas")
        diagnostics.error(
            origins(key),
            f"min_replicas ({autoscaling.min_replicas}) is above max_replicas "
            f"({autoscaling.max_replicas}); raise max_replicas or lower min_replicas",
            origins.path(key),
        )

"""Every object the compiler makes, as the API server tells objects apart (API group, kind,
namespace, name), with the declaration it comes from, without building the objects.

Two objects with one identity are one object in the cluster: the second apply overwrites the
first (or fails on a field that cannot change, a selector), and Pulumi refuses two resources
of one name. The names iac makes from its own words never coincide (`iac.compile.names`),
but names made of the stack's names can: deployment `c` of model `a-b` and deployment `b-c`
of model `a` are both `a-b-c`; a model `m-2` has the name of the second HTTPRoute of a model
`m` with more than 16 routed paths; a model `iac` with a deployment `warm-pool-gpu` has the
name of pool `gpu`'s warm placeholders. `check_unique_objects` reports each as an error at
one declaration naming the other.

It reads the release only, so `iac validate`, which builds no object, finds what `iac render`
would; `declared_objects` uses the builders' own names and conditions, and a test holds it
equal to the identities of the compiled objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from iac.compile.capacity.coldstart import (
    WARM_PRIORITY,
    WarmChunk,
    prepull_name,
    prepull_pools,
    warm_chunks,
    warm_name,
)
from iac.compile.capacity.karpenter import DEFAULT_NODE_CLASS, node_class_name
from iac.compile.monitoring.chain_dashboard import chain_dashboard_name, chainlets_shown
from iac.compile.monitoring.model_dashboard import dashboard_name
from iac.compile.monitoring.scrape import scraped
from iac.compile.names import Identity
from iac.compile.release import ModelRelease, Release
from iac.compile.serving.auth import policy_names
from iac.compile.serving.routes import grant_name, route_names
from iac.compile.serving.weights import claim_name, cluster_cached
from iac.compile.serving.workload import (
    NETWORK_POLICY,
    chain_models,
    chain_network_policy_name,
    has_disruption_budget,
)
from iac.diagnostics import Diagnostics, Location, format_path
from iac.spec.resolved import ResolvedStack, Written
from iac.spec.stack import Cluster

_PER_DEPLOYMENT = (("", "Service"), ("apps", "Deployment"))
_MONITORING = "monitoring.coreos.com"

Owner = tuple[str, ...]
"""What declares an object, as data: `("deployment", MODEL, NAME)`, `("model", NAME)`,
`("node pool", NAME)`, `("warm capacity", POOL)`, `("warm capacity", MODEL, ENVIRONMENT)`,
`("cluster", KEY)`. Located (`declaration`) only when it is named in a message."""


@dataclass(frozen=True, slots=True)
class Declaration:
    """Where and what an owner is, for messages."""

    noun: str
    """`deployment`, `model`, `node pool`, `warm capacity`, `cluster`."""
    title: str
    """`deployment 'v1' of model 'a'`."""
    written: Written


def declared_objects(stack: ResolvedStack, release: Release) -> list[tuple[Identity, Owner]]:
    """The identity of every object `compile_release(stack, release)` makes, in its order of
    building, each with its owner (an object several deployments share, a weights claim,
    with the first)."""
    return list(_declared(release, stack))


def check_unique_objects(stack: ResolvedStack, release: Release, diagnostics: Diagnostics) -> None:
    """An error for each name two declarations' objects would share, at the one written
    later, naming the other and the kinds of the objects."""
    owners: dict[Identity, list[Owner]] = {}
    for found, owner in declared_objects(stack, release):
        same = owners.setdefault(found, [])
        if owner not in same:
            same.append(owner)
    clashes: dict[tuple[Owner, Owner, str], list[str]] = {}
    for (_, kind, _, name), sharing in owners.items():
        if len(sharing) < 2:
            continue
        first, *others = sorted(sharing, key=lambda o: _order(declaration(stack, release, o)))
        for owner in others:
            kinds = clashes.setdefault((owner, first, name), [])
            if kind not in kinds:
                kinds.append(kind)
    for (owner, first, name), kinds in clashes.items():
        this, other = declaration(stack, release, owner), declaration(stack, release, first)
        here, there = this.written.location, other.written.location
        at = f"line {there.line}" if there.file == here.file else str(there)
        diagnostics.error(
            here,
            f"objects of this {this.noun} would be named '{name}' ({', '.join(kinds)}), "
            f"like those of {other.title} ({at}); rename one",
            this.written.path,
        )


def _order(declaration: Declaration) -> tuple[Location, str, str]:
    """File order: the first written is the one the others are said to be like."""
    written = declaration.written
    return (written.location, format_path(written.path), declaration.title)


def declaration(stack: ResolvedStack, release: Release, owner: Owner) -> Declaration:
    """Where the owner of an object is written in the stack, and what it is called."""
    noun = owner[0]
    if noun == "deployment":
        model, name = owner[1:]
        written = stack.models[model].deployments[name].origins.anchor
        return Declaration(noun, f"deployment '{name}' of model '{model}'", written)
    if noun == "model":
        return Declaration(noun, f"model '{owner[1]}'", stack.models[owner[1]].origins.anchor)
    if noun == "node pool":
        plan = next(p for p in release.pools if p.name == owner[1])
        title = f"node pool '{plan.name}'"
        if plan.declared or not plan.demand:
            return Declaration(noun, title, Written(stack.source, ("node_pools", plan.name), True))
        # A pool iac derives for an accelerator: declared by the first deployment placed on it.
        first = plan.demand[0]
        origins = stack.models[first.model].deployments[first.deployment].origins
        written = origins.find(("resources", "accelerator"))
        return Declaration(noun, f"{title} (for {plan.accelerator.name})", written)
    if noun == "warm capacity":
        if len(owner) == 2:
            title = f"the warm capacity of node pool '{owner[1]}'"
            return Declaration(noun, title, Written(stack.source, ("node_pools", owner[1], "warm")))
        model, env = owner[1:]
        anchor = stack.models[model].environments[env].origins.anchor
        title = f"the warm capacity of environment '{env}' of model '{model}'"
        return Declaration(noun, title, Written(anchor.source, (*anchor.path, "warm")))
    return Declaration(noun, f"`cluster.{owner[1]}`", Written(stack.source, ("cluster", owner[1])))


def _warm_owner(chunk: WarmChunk) -> Owner:
    if chunk.environment is None:
        return ("warm capacity", chunk.pool.name)
    return ("warm capacity", *chunk.environment)


def _declared(release: Release, stack: ResolvedStack) -> Iterator[tuple[Identity, Owner]]:
    """In `compile_release`'s order of building."""
    cluster = release.cluster
    yield from _cluster_declared(release)
    for model in release.models.values():
        yield from _model_declared(model, cluster)
    interceptor = any(
        d.via_interceptor for model in release.models.values() for d in model.deployments.values()
    )
    if interceptor and cluster.scale_from_zero.namespace != cluster.namespace:
        yield (
            (
                "gateway.networking.k8s.io",
                "ReferenceGrant",
                cluster.scale_from_zero.namespace,
                grant_name(cluster),
            ),
            ("cluster", "scale_from_zero"),
        )
    if cluster.monitoring:
        for chain, chainlets in chainlets_shown(release).items():
            name = chain_dashboard_name(chain)
            yield ("", "ConfigMap", cluster.namespace, name), ("model", chainlets[0].name)
    yield from _cache_claims(release)
    yield from _capacity_declared(release, stack)


def _cluster_declared(release: Release) -> Iterator[tuple[Identity, Owner]]:
    """The namespace, its network policy and Karpenter's node pools and class."""
    cluster = release.cluster
    namespace = cluster.namespace
    if cluster.create_namespace:
        yield ("", "Namespace", "", namespace), ("cluster", "namespace")
    if cluster.network_policy and release.models:
        yield (
            ("networking.k8s.io", "NetworkPolicy", namespace, NETWORK_POLICY),
            ("cluster", "network_policy"),
        )
        for chain, models in chain_models(release).items():
            yield (
                ("networking.k8s.io", "NetworkPolicy", namespace, chain_network_policy_name(chain)),
                ("model", models[0]),
            )
    if cluster.provisioner == "karpenter":
        for plan in release.pools:
            yield ("karpenter.sh", "NodePool", "", plan.name), ("node pool", plan.name)
        if any(node_class_name(plan, cluster) == DEFAULT_NODE_CLASS for plan in release.pools):
            yield (
                ("karpenter.k8s.aws", "EC2NodeClass", "", DEFAULT_NODE_CLASS),
                ("cluster", "provisioner"),
            )


def _model_declared(model: ModelRelease, cluster: Cluster) -> Iterator[tuple[Identity, Owner]]:
    """A model's deployments' objects, its routes and its monitoring."""
    namespace = cluster.namespace
    for deployment in model.deployments.values():
        owner: Owner = ("deployment", model.name, deployment.name)
        name = deployment.object_name
        for group, kind in _PER_DEPLOYMENT:
            yield (group, kind, namespace, name), owner
        if has_disruption_budget(deployment):
            yield ("policy", "PodDisruptionBudget", namespace, name), owner
        if deployment.via_interceptor:
            yield ("http.keda.sh", "InterceptorRoute", namespace, name), owner
        yield ("keda.sh", "ScaledObject", namespace, name), owner
    owner = ("model", model.name)
    for route in route_names(model):
        yield ("gateway.networking.k8s.io", "HTTPRoute", namespace, route), owner
    for policy in policy_names(model, cluster):
        yield ("gateway.envoyproxy.io", "SecurityPolicy", namespace, policy), owner
    active = [d for d in model.deployments.values() if d.active]
    if cluster.monitoring and active:
        for deployment in sorted(active, key=lambda d: d.name):
            if scraped(deployment):
                yield (
                    (_MONITORING, "PodMonitor", namespace, deployment.object_name),
                    ("deployment", model.name, deployment.name),
                )
        yield (_MONITORING, "PrometheusRule", namespace, model.name), owner
        if model.chain is None:  # a chainlet is shown on its chain's dashboard
            yield ("", "ConfigMap", namespace, dashboard_name(model.name)), owner


def _cache_claims(release: Release) -> Iterator[tuple[Identity, Owner]]:
    """One claim per source of cached weights, shared by every deployment caching it (the
    first declares it)."""
    namespace = release.cluster.namespace
    claims: set[str] = set()
    for model in release.models.values():
        for deployment in model.deployments.values():
            weights = cluster_cached(deployment)
            if weights is not None and claim_name(weights) not in claims:
                claims.add(claim_name(weights))
                yield (
                    ("", "PersistentVolumeClaim", namespace, claim_name(weights)),
                    ("deployment", model.name, deployment.name),
                )


def _capacity_declared(release: Release, stack: ResolvedStack) -> Iterator[tuple[Identity, Owner]]:
    """Image pre-pulls per pool, and warm capacity (its priority class off Karpenter)."""
    cluster = release.cluster
    namespace = cluster.namespace
    for pool, _ in prepull_pools(release, cluster):
        yield ("apps", "DaemonSet", namespace, prepull_name(pool)), ("node pool", pool.name)
    chunks = warm_chunks(release, stack.spec.pricing)
    karpenter = cluster.provisioner == "karpenter"
    for chunk in chunks:
        owner = _warm_owner(chunk)
        if karpenter:
            yield ("", "PodTemplate", namespace, warm_name(chunk)), owner
            yield ("autoscaling.x-k8s.io", "CapacityBuffer", namespace, warm_name(chunk)), owner
        else:
            yield ("apps", "Deployment", namespace, warm_name(chunk)), owner
    if chunks and not karpenter:
        yield (
            ("scheduling.k8s.io", "PriorityClass", "", WARM_PRIORITY),
            _warm_owner(chunks[0]),
        )

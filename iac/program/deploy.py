"""Compiled objects → Pulumi resources: one provider, a component per model, one resource per
object, registered with the object's own fields as inputs (nothing added, nothing copied).
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from iac.compile import Compiled, compile_release, object_id
from iac.compile.options import ObjectOptions
from iac.diagnostics import Diagnostics
from iac.errors import IacError
from iac.policy import check_with_policies
from iac.program import kinds, settings
from iac.program.layout import LayoutError, Timeouts, layout
from iac.program.outputs import (
    ENDPOINTS,
    OUTPUTS,
    READY_AT,
    RELEASE,
    ROLLOUT,
    SOURCES,
    endpoints,
    stack_outputs,
    stack_sources,
)
from iac.program.sdk_costs import fast_stack_traces, plain_values_as_they_are
from iac.program.shards import Part, models_of, part_of_stack, release_of, select, split_name, whole
from iac.program.staging import Update, declares_rolling, format_time, plan_update
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Cluster

MODEL_TYPE = "iac:serving:Model"
NO_OPTIONS = ObjectOptions()
CLUSTER_TYPE = "iac:serving:Cluster"
GC_YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections while registering (CPython's default
is 700)."""


class ModelComponent(pulumi.ComponentResource):
    """Every object of one model: its deployments' workloads, scalers and routes."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(MODEL_TYPE, name, None, opts)


class ClusterComponent(pulumi.ComponentResource):
    """Cluster-wide objects: the namespace, node pools, grants in other namespaces."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(CLUSTER_TYPE, name, None, opts)


@dataclass(frozen=True)
class ProviderSettings:
    """How the Kubernetes provider reaches (or does not reach) the cluster."""

    kubeconfig: pulumi.Input[str] | None = None
    context: str | None = None
    render_dir: str | None = None
    """Write manifests here instead of applying them (`render_yaml_to_directory`)."""


@dataclass
class Deployed:
    """What the program registered; `main()` returns it so a project's own `__main__.py`
    can add resources (a Secret, say) with the same provider and ordering."""

    compiled: Compiled
    provider: k8s.Provider
    cluster: ClusterComponent
    models: dict[str, ModelComponent]
    resources: dict[str, pulumi.CustomResource]
    """By `object_id` (`apps/v1/Deployment/models/llama-3-8b-v3`)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """The stack outputs, by the names in `iac.program.outputs.OUTPUTS`."""

    @property
    def namespace(self) -> pulumi.CustomResource | None:
        """The Namespace resource, when the stack creates it."""
        namespace = self.compiled.release.cluster.namespace
        return self.resources.get(f"v1/Namespace/{namespace}")


def main() -> Deployed:
    """The Pulumi program: read config, compile the stack file, register, export outputs.

    A change that holds a rolling promotion registers one stage of it per run
    (`iac.program.staging`); `iac up` registers its stages through `deploy` directly."""
    config = pulumi.Config(settings.NAMESPACE)
    root = _project_root()
    # `dev.s07` is shard 7 of the iac stack applied as `dev` (iac.program.shards): its
    # stack file is dev's.
    base_name, _ = split_name(pulumi.get_stack())
    fast_stack_traces()  # the SDK's stack traces, without reading source files
    plain_values_as_they_are()  # and plain data serialized as it is
    gc.disable()  # the program is a process of its own: see settle_garbage_collector
    try:
        path = settings.stack_file(config.get(settings.STACK), os.environ, base_name, root)
        stack, compiled = compile_file(path)
        part = part_of_stack(pulumi.get_stack(), compiled.release.cluster.shards)
        update = staged_update(stack, compiled, path, root)
    except IacError as exc:
        raise pulumi.RunError(str(exc)) from None
    finally:
        settle_garbage_collector()
        gc.enable()
    for note in update.notes:
        (pulumi.log.warn if note.level == "warning" else pulumi.log.info)(note.text)
    deployed = deploy(
        update.compiled,
        ProviderSettings(
            kubeconfig=config.get_secret(settings.KUBECONFIG),
            context=config.get(settings.CONTEXT),
            render_dir=config.get(settings.RENDER_DIR),
        ),
        part,
    )
    for name in OUTPUTS:
        pulumi.export(name, deployed.outputs[name])
    # What `iac plan --base live` rebuilds the live release from, as after `iac up`.
    pulumi.export(SOURCES, update.sources if update.sources is not None else stack_sources(stack))
    if update.progress is not None:
        pulumi.export(ROLLOUT, rollout_output(update, deployed))
    return deployed


READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
"""The engine's built-in function behind `StackReference`: a stack's outputs by name, as its
last update left them (none before the first), without a resource in the state."""


def staged_update(stack: ResolvedStack, compiled: Compiled, path: Path, root: Path) -> Update:
    """What this run registers: `compiled`, or one stage of the rolling promotion it holds
    (read from the stack's own outputs only when the stack declares a rolling promotion)."""
    if not declares_rolling(compiled.release):
        return Update(compiled)
    shown = os.path.relpath(path, root) if path.is_relative_to(root) else str(path)
    command = f"iac up {shown} --stack {split_name(pulumi.get_stack())[0]}"
    return plan_update(stack, compiled, own_outputs(), datetime.now(UTC), command)


def own_outputs() -> dict[str, Any]:
    """This stack's outputs as its last update left them ({} before the first). Read by the
    fully qualified name (`organization/PROJECT/STACK` on a file backend); a file backend in
    the layout of Pulumi before projects knows the stack by its bare name only."""
    stack = pulumi.get_stack()
    qualified = f"{pulumi.get_organization() or 'organization'}/{pulumi.get_project()}/{stack}"
    failures = []
    for name in (qualified, stack):
        try:
            result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
        except Exception as exc:  # noqa: BLE001 - the engine's error, reported below
            failures.append(f"{name}: {exc}")
            continue
        value = result.value if isinstance(result.value, dict) else {}
        outputs = value.get("outputs")
        return dict(outputs) if isinstance(outputs, dict) else {}
    raise IacError(
        "the stack declares a rolling promotion, and the program could not read its stack's "
        "last outputs to tell how far it has gone ("
        + "; ".join(failures)
        + "); run the change with `iac up`"
    )


def rollout_output(update: Update, deployed: Deployed) -> dict[str, Any]:
    """The ROLLOUT output: the progress, and when this update's stage was ready (once
    every registered resource is created or updated, Pulumi's readiness checks included)."""
    assert update.progress is not None
    value: dict[str, Any] = update.progress.to_dict()
    if update.stamp_ready:
        ids = [resource.id for resource in deployed.resources.values()]
        value[READY_AT] = pulumi.Output.all(*ids).apply(lambda _: format_time(datetime.now(UTC)))
    elif update.ready_at is not None:
        value[READY_AT] = update.ready_at
    return value


def settle_garbage_collector() -> None:
    """Keep Python's cyclic garbage collector from dominating a large run.

    Every registered resource stays alive under its component, with its outputs; the
    collector traverses all of them on each full collection, and with thousands of objects
    that was about 40 % of the program's CPU time (docs/program.md, Benchmark). The compiled
    stack lives until the end and is never garbage, so it is moved out of the collector's
    sight (`gc.freeze`), and young objects are collected less often while resources register.

    `main` compiles the stack with the collector off before (plain data, no cycles: a
    collection would rescan it again and again and free nothing, as in `iac.cli.process`).
    The program is a process of its own (`pulumi up` starts it), so these settings are its
    entry point's, as `iac.cli.process`'s are the command line's.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def compile_file(path: Path) -> tuple[ResolvedStack, Compiled]:
    """Everything `iac validate` checks (the stack's `policies:` included), then compile;
    warnings go to Pulumi's log, errors raise StackInvalid (whose text is the diagnostics,
    one per line, as `iac validate` prints them), so an error-level policy violation stops
    `pulumi up` before anything is registered."""
    diagnostics = Diagnostics()
    stack, release = check_with_policies(str(path), diagnostics)
    compiled = compile_release(stack, release, diagnostics)
    for warning in diagnostics.sorted():
        pulumi.log.warn(str(warning))
    return stack, compiled


def deploy(
    compiled: Compiled, provider_settings: ProviderSettings | None = None, part: Part | None = None
) -> Deployed:
    """Register the compiled objects that `part` holds (all of them by default: an
    unsharded stack); IacError (as pulumi.RunError) on an object the program cannot
    register."""
    steps = deploying(compiled, provider_settings, part)
    while (deployed := _step(steps)) is None:
        pass
    return deployed


async def deploy_paced(
    compiled: Compiled, provider_settings: ProviderSettings | None = None, part: Part | None = None
) -> Deployed:
    """`deploy`, giving the event loop a turn after each resource: `iac up`'s inline program.

    Constructing a resource only schedules its registration: the SDK's RPC to the engine
    runs on the event loop, which a plain loop over 18,006 constructors (1,000 models) held
    for about 35 s while the engine, the provider and the API server waited for the first
    request. With a turn after each, they work while the rest is constructed: a first `iac
    up` of 1,000 models on a live cluster 428.8 s → 385.8 s (docs/program.md, "what the
    Python SDK costs"). A project's own `__main__.py` runs `deploy` (the language host runs
    the module's code, with no loop to hand turns to)."""
    steps = deploying(compiled, provider_settings, part)
    while (deployed := _step(steps)) is None:
        await asyncio.sleep(0)
    return deployed


def _step(steps: Generator[None, None, Deployed]) -> Deployed | None:
    """One step of `deploying`: what was registered once it is done, else None."""
    try:
        next(steps)
    except StopIteration as done:
        return cast(Deployed, done.value)
    return None


def deploying(
    compiled: Compiled, provider_settings: ProviderSettings | None, part: Part | None
) -> Generator[None, None, Deployed]:
    """`deploy`'s steps: yields after each resource constructed, returns what was
    registered."""
    part = part or whole()
    compiled = select(compiled, part)
    cluster = compiled.release.cluster
    try:
        placements = layout(compiled.objects)
        tokens = [kinds.type_token(p.obj) for p in placements]
    except (IacError, LayoutError) as exc:
        raise pulumi.RunError(str(exc)) from None

    provider = cluster_provider(cluster, provider_settings or ProviderSettings())
    inherit = pulumi.ResourceOptions(providers=[provider])
    cluster_component = ClusterComponent(cluster.name, inherit)
    from iac.program import gke  # GKE node pools; none (and no pulumi_gcp) without them

    node_pools = gke.register(compiled, cluster_component)
    model_names = models_of(
        set(compiled.release.models) | {p.model for p in placements if p.model}, part
    )
    models = {
        name: ModelComponent(name, _aliased(inherit, compiled.model_aliases.get(name, ())))
        for name in model_names
    }

    registered: list[pulumi.CustomResource] = []
    resources: dict[str, pulumi.CustomResource] = {}
    for placement, token in zip(placements, tokens, strict=True):
        owner = cluster_component if placement.model is None else models[placement.model]
        oid = object_id(placement.obj)
        options = compiled.options.get(oid, NO_OPTIONS)
        opts = pulumi.ResourceOptions(
            parent=owner,
            provider=provider,
            protect=options.protect or None,
            aliases=[pulumi.Alias(name=name) for name in options.aliases] or None,
            depends_on=[registered[i] for i in placement.depends_on]
            + node_pools.selected_by(placement.obj)
            or None,
            custom_timeouts=_custom_timeouts(placement.timeouts),
        )
        resource = kinds.KubernetesObject(placement.logical_name, token, placement.obj, opts)
        registered.append(resource)
        resources[oid] = resource
        yield
    resources.update(node_pools.resources)

    outputs = part_outputs(compiled, part)
    per_model = outputs_by_model(compiled)
    for name, component in models.items():
        component.register_outputs(per_model.get(name, {}))
    cluster_component.register_outputs({})
    return Deployed(compiled, provider, cluster_component, models, resources, outputs)


def cluster_provider(cluster: Cluster, provider_settings: ProviderSettings) -> k8s.Provider:
    """One explicit provider per cluster. `cluster_identifier` is the stack's cluster name,
    so a rotated kubeconfig or another context for the same cluster updates the provider
    instead of replacing every object on it."""
    return k8s.Provider(
        cluster.name,
        cluster_identifier=cluster.name,
        kubeconfig=provider_settings.kubeconfig,
        context=provider_settings.context,
        render_yaml_to_directory=provider_settings.render_dir,
    )


def part_outputs(compiled: Compiled, part: Part) -> dict[str, Any]:
    """The stack outputs of the Pulumi stack of `part`: a model shard shows its own models."""
    if part.index is None:
        return stack_outputs(compiled.release)
    every = endpoints(compiled.release)
    return {
        RELEASE: release_of(compiled.release, part).to_dict(),
        ENDPOINTS: {m: urls for m, urls in every.items() if part.holds(m)},
    }


def outputs_by_model(compiled: Compiled) -> dict[str, dict[str, Any]]:
    """What each model component shows as its outputs: its environments' endpoints."""
    return {name: {"endpoints": urls} for name, urls in endpoints(compiled.release).items()}


def _aliased(opts: pulumi.ResourceOptions, previous: tuple[str, ...]) -> pulumi.ResourceOptions:
    """`opts`, plus an alias per previous name (a renamed model keeps its component)."""
    if not previous:
        return opts
    aliases: list[pulumi.Input[str | pulumi.Alias]] = [pulumi.Alias(name=n) for n in previous]
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))


def _custom_timeouts(timeouts: Timeouts | None) -> pulumi.CustomTimeouts | None:
    if timeouts is None:
        return None
    return pulumi.CustomTimeouts(
        create=_duration(timeouts.create), update=_duration(timeouts.update)
    )


def _duration(seconds: int) -> str:
    """A Go duration, as Pulumi parses custom timeouts: `1h5m`, `20m`, `1210s` → `20m10s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def _project_root() -> Path:
    """The folder of Pulumi.yaml. Older language hosts do not pass it, and mocks leave a
    placeholder: then the working directory, which the engine sets to the project."""
    root = pulumi.get_root_directory()
    return Path(root) if root and os.path.isabs(root) and os.path.isdir(root) else Path.cwd()

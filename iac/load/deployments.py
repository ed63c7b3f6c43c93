"""Resolve one deployment of a model: the deployments it copies from, their levels merged
over the model's, the template's placeholders filled in, the result validated. Used by
`iac.load.stack_loader` for each deployment, with what the load shares across models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from iac.diagnostics import Diagnostics, KeyPath, did_you_mean
from iac.load import validation_errors
from iac.load.layers import Layer, Merged, ModelPaths, merge
from iac.load.modules import LoadedTemplate, fill, unfilled, unfilled_message
from iac.load.yaml_source import SourceMap
from iac.spec.autoscaling import Autoscaling
from iac.spec.container import CONTAINER_FIELDS, DEFAULT_PORT, ContainerFields
from iac.spec.images import image_reference_problem
from iac.spec.resolved import Origins, ResolvedDeployment, Written
from iac.spec.stack import Deployment, Model, Promotion, Stack

_CONTAINER_KEYS = set(CONTAINER_FIELDS)


def container_values(values: ContainerFields) -> dict[str, Any]:
    return values.model_dump(exclude_unset=True, include=_CONTAINER_KEYS)


class SharedSettings:
    """What one load builds once for all its models. Spec models are frozen, so equal
    settings can be one object: a stack's thousands of deployments and environments share
    a handful of autoscaling settings, validated once (docs/benchmarks.md has what it saves)."""

    def __init__(self, stack: Stack) -> None:
        self.defaults = None if stack.defaults is None else container_values(stack.defaults)
        """The defaults level's values (read by merges, never changed)."""
        self.promotion = Promotion()
        self._autoscaling: dict[tuple[Any, ...], Autoscaling] = {}

    def autoscaling(self, values: dict[str, Any]) -> Autoscaling:
        """`Autoscaling.model_validate(values)`, once per distinct `values`."""
        try:
            key = tuple((k, type(v), v) for k, v in values.items())
            found = self._autoscaling.get(key)
        except TypeError:  # an unhashable value: let validation say what is wrong
            return Autoscaling.model_validate(values)
        if found is None:
            found = self._autoscaling[key] = Autoscaling.model_validate(values)
        return found


def copy_chain(
    model: Model, name: str, paths: ModelPaths, source: SourceMap, diagnostics: Diagnostics
) -> list[tuple[str, Deployment]] | None:
    """The deployments `name` copies from (`from:`), oldest first, ending with itself."""
    chain: list[tuple[str, Deployment]] = []
    current = name
    while True:
        spec = model.deployments[current]
        chain.append((current, spec))
        origin = spec.from_
        if origin is None:
            return chain[::-1]
        where = (*paths.deployment(current), "from")
        if origin not in model.deployments:
            diagnostics.error(
                source.value(where),
                f"no deployment '{origin}' to copy from{did_you_mean(origin, model.deployments)}",
                where,
            )
            return None
        if any(origin == seen for seen, _ in chain):
            cycle = " → ".join([n for n, _ in chain] + [origin])
            diagnostics.error(source.value(where), f"`from` goes round in a circle: {cycle}", where)
            return None
        current = origin


def resolve_deployment(
    model_name: str,
    name: str,
    model: Model,
    model_level: Merged,
    source: SourceMap,
    diagnostics: Diagnostics,
    shared: SharedSettings,
    filling: Filling,
    paths: ModelPaths,
) -> ResolvedDeployment | None:
    """The deployment `name` of a model: the levels it copies from (`from:`) merged over
    the model's, its placeholders filled, validated; None (reported) when that fails."""
    path = paths.deployment(name)
    chain = copy_chain(model, name, paths, source, diagnostics)
    if chain is None:
        return None
    layers = [
        Layer(fill(container_values(spec), filling.params), source, paths.deployment_fields(link))
        for link, spec in chain
    ]
    merged, written = merge(layers, start=model_level)
    if written.get(("args",)) is not model_level[1].get(("args",)):  # this deployment's own
        fields = paths.deployment_fields(name)
        warn_dropped_args(filling.template, filling.params, (merged, written), fields, diagnostics)
    spec = model.deployments[name]
    for key in ("state", "kind", "from"):
        if source.has((*path, key)):
            written[(key,)] = Written(source, (*path, key))
    origins = Origins(Written(source, path, at_key=True), written)
    if not merged.get("image"):
        diagnostics.error(
            origins(),
            "no image: set `image:` on the model or this deployment, or use a template "
            "that sets one",
            path,
        )
        return None
    autoscaling = shared.autoscaling(merged.pop("autoscaling", {}))
    if spec.kind == "development":
        fields = paths.deployment_fields(name)
        autoscaling = _development_scaling(spec, autoscaling, fields, source, diagnostics)
    left = [*filling.left, *(found for layer in layers for found in unfilled(layer.values))]
    if not _filled_in(merged, left, origins, filling.template, diagnostics):
        return None
    container = _container_fields(merged, origins, diagnostics)
    if container is None:
        return None
    return ResolvedDeployment(
        model=model_name,
        name=name,
        state=spec.state,
        kind=spec.kind,
        container=container,
        autoscaling=autoscaling,
        copied_from=spec.from_,
        origins=origins,
    )


def _development_scaling(
    spec: Deployment,
    autoscaling: Autoscaling,
    path: KeyPath,
    source: SourceMap,
    diagnostics: Diagnostics,
) -> Autoscaling:
    """A development deployment runs 0 to 1 replicas whatever the levels say; replica
    counts written on the deployment itself are errors (they would be ignored)."""
    pinned = spec.autoscaling.model_fields_set if spec.autoscaling else set()
    for key in sorted(pinned & {"min_replicas", "max_replicas"}):
        where = (*path, "autoscaling", key)
        diagnostics.error(
            source.key(where),
            "a development deployment always runs 0 to 1 replicas; remove this key "
            "(or make it `kind: published`)",
            where,
        )
    return autoscaling.model_copy(update={"min_replicas": 0, "max_replicas": 1})


def _container_fields(
    merged: dict[str, Any], origins: Origins, diagnostics: Diagnostics
) -> ContainerFields | None:
    """The merged container fields, defaults set, validated as a whole; None (reported)
    when a value a parameter filled in is invalid (each level on its own was valid)."""
    merged.setdefault("port", DEFAULT_PORT)
    merged.setdefault("health", {})
    try:
        return ContainerFields.model_validate(merged)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            rel = tuple(error["loc"])
            diagnostics.error(origins(rel), validation_errors.message(error), origins.path(rel))
        return None


def warn_dropped_args(
    template: LoadedTemplate | None,
    params: dict[str, str],
    level: Merged,
    path: KeyPath,
    diagnostics: Diagnostics,
) -> None:
    """A level that writes `args` replaces the template's list whole (lists do not merge):
    adding one flag that way drops the template's `--model`. Warn, where the list is
    written, naming what is no longer passed."""
    written = level[1].get(("args",))
    if template is None or written is None or written.path[: len(path)] != path:
        return
    ours = template.container_values(params).get("args") or []
    kept = {_flag(arg) for arg in level[0].get("args") or []}
    dropped = [arg for arg in ours if _flag(arg) not in kept]
    if dropped:
        diagnostics.warning(
            written.source.value(written.path),
            f"`args` replaces the list of template '{template.name}' whole, so "
            f"{', '.join(f'`{_flag(a)}`' for a in dropped)} "
            f"{'is' if len(dropped) == 1 else 'are'} no longer passed: repeat in this list "
            f"what the server still needs (the template's: {', '.join(ours)}) [args-replaced]",
            written.path,
        )


def _flag(arg: Any) -> str:
    """`--model=x` → `--model`; any other argument is itself."""
    text = str(arg)
    return text.split("=", 1)[0] if text.startswith("-") else text


@dataclass(frozen=True, slots=True)
class Filling:
    """What fills a model's placeholders, and what its model level left unfilled (computed
    once for its deployments)."""

    template: LoadedTemplate | None
    params: dict[str, str]
    left: list[tuple[KeyPath, str]]


def _filled_in(
    merged: dict[str, Any],
    left: list[tuple[KeyPath, str]],
    origins: Origins,
    template: LoadedTemplate | None,
    diagnostics: Diagnostics,
) -> bool:
    """Report each `${...}` that no parameter filled (a typo like `${hf_modle}` would reach
    the container as it is), and an image that a parameter made invalid; each where it is
    written. `left`: the placeholders the levels left, some perhaps overridden by a later
    level (a deployment's own `args`). False when there is one."""
    ok = True
    for rel, name in dict.fromkeys(left):
        if f"${{{name}}}" not in _text_at(merged, rel):
            continue  # a later level replaced it
        written = origins.find(rel)
        # Origins are kept per field (and per key of a mapping): an item of a list is
        # located below its field.
        depth = next(
            (n for n in range(len(rel), 0, -1) if origins.written.get(rel[:n]) is written), 0
        )
        where = (*written.path, *rel[depth:])
        message = unfilled_message(name, template, in_defaults=where[:1] == ("defaults",))
        diagnostics.error(written.source.value(where), message, where)
        ok = False
    image = merged.get("image")
    if ok and isinstance(image, str):
        problem = image_reference_problem(image)
        if problem is not None:
            diagnostics.error(origins(("image",)), problem, origins.path(("image",)))
            ok = False
    return ok


def _text_at(values: Any, rel: KeyPath) -> str:
    """The string at `rel` in merged container fields ('' when there is none)."""
    for part in rel:
        found = isinstance(values, dict) and part in values
        if found or (isinstance(values, list) and isinstance(part, int) and part < len(values)):
            values = values[part]
        else:
            return ""
    return values if isinstance(values, str) else ""

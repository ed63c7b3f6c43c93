"""Load a stack file: read it, validate each part, fill templates, merge the levels.

Problems are collected, not raised: a broken model does not hide the errors of the next
one. Models that failed validation are left out of the result, so later checks only see
well-formed data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from iac.diagnostics import Diagnostic, Diagnostics, KeyPath, did_you_mean
from iac.errors import ModuleFileGiven
from iac.gc_pause import without_gc
from iac.load import validation_errors
from iac.load.layers import Layer, Merged, merge
from iac.load.modules import (
    Imports,
    LoadedTemplate,
    fill,
    load_templates,
    looks_like_module,
    template_params,
    unfilled,
    unfilled_message,
)
from iac.load.yaml_source import SourceMap, read_yaml
from iac.spec.autoscaling import Autoscaling
from iac.spec.container import CONTAINER_FIELDS, DEFAULT_PORT, ContainerFields
from iac.spec.images import image_reference_problem
from iac.spec.resolved import (
    Origins,
    ResolvedDeployment,
    ResolvedEnvironment,
    ResolvedModel,
    ResolvedStack,
    Written,
)
from iac.spec.stack import Defaults, Deployment, Environment, Model, Promotion, Stack
from iac.spec.types import Name

STACK_FILE_NAME = "stack.yaml"
"""The file looked for when a folder is named instead of a file."""
MAX_MODELS = 5000
"""Models in one stack file: past this, plans and applies get slow; split the stack."""

_CONTAINER_KEYS = set(CONTAINER_FIELDS)
_NAME = TypeAdapter(Name)
_IMPORTS: TypeAdapter[list[str]] = TypeAdapter(list[str])
_DEFAULTS: TypeAdapter[Defaults] = TypeAdapter(Defaults)


def stack_file(path: str) -> str:
    """`examples/01-single-model` → `examples/01-single-model/stack.yaml`."""
    return os.path.join(path, STACK_FILE_NAME) if os.path.isdir(path) else path


@without_gc
def load_stack(path: str, diagnostics: Diagnostics) -> ResolvedStack | None:
    """Load and resolve one stack file, reporting problems to `diagnostics`.

    None when the file cannot be read at all. Otherwise the stack holds every model that
    loaded cleanly, so that later checks still find their problems; it is only complete when
    `diagnostics` has no errors. Raises ModuleFileGiven when the file is a module file
    (`templates:`, no `cluster:` or `models:`): its stack errors would all be beside the point.
    """
    return _load(os.path.normpath(stack_file(path)), diagnostics)


def _load(file: str, diagnostics: Diagnostics) -> ResolvedStack | None:
    document = read_yaml(file, diagnostics)
    if document is None:
        return None
    source = document.source
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__
        shown = {"list": "a list", "str": "text", "int": "a number"}.get(kind, kind)
        diagnostics.error(
            source.value(()),
            f"the top level must be a mapping of keys (`version:`, `cluster:`, `models:`), "
            f"not {shown}",
        )
        return None
    if looks_like_module(document.data):
        raise ModuleFileGiven(file, [Diagnostic(source.key(("templates",)), _module_given(file))])
    stack, models = _validate(document.data, source, diagnostics)
    imports = load_templates(file, stack.imports, source, diagnostics)
    resolved: dict[str, ResolvedModel] = {}
    shared = _Shared(stack)
    for name, model in models.items():
        result = _resolve_model(name, model, shared, imports, source, diagnostics)
        if result is not None:
            resolved[name] = result
    return ResolvedStack(
        file=file,
        spec=stack.model_copy(update={"models": models}),
        models=resolved,
        files=(file, *imports.files),
        source=source,
    )


def _module_given(file: str) -> str:
    return (
        "this is a module file (it has `templates:` and no `cluster:` or `models:`), not a "
        f"stack: name a stack file that imports it, or check it with `iac validate {file}`"
    )


def _validate(
    data: dict[str, Any], source: SourceMap, diagnostics: Diagnostics
) -> tuple[Stack, dict[str, Model]]:
    """Validate the stack's top level and each model on its own, reporting every error.

    When the top level has errors, the models are still resolved against what of it is
    valid (`imports`, `defaults`), so their own problems are reported in the same run.
    """
    top = {k: v for k, v in data.items() if k != "models"}
    try:
        stack = Stack.model_validate(top)
    except ValidationError as exc:
        validation_errors.report(exc, Stack, source, (), diagnostics)
        stack = Stack.model_construct(  # type: ignore[call-arg]  # cluster is what failed
            imports=_valid_or(_IMPORTS, top.get("imports"), []),
            defaults=_valid_or(_DEFAULTS, top.get("defaults"), None),
        )
    raw_models = data.get("models") or {}
    models: dict[str, Model] = {}
    if not isinstance(raw_models, dict):
        diagnostics.error(
            source.value(("models",)),
            "must be a mapping of model name to model",
            ("models",),
        )
        return stack, models
    if len(raw_models) > MAX_MODELS:
        diagnostics.error(
            source.key(("models",)),
            f"{len(raw_models)} models, over the limit of {MAX_MODELS} for one stack; split the "
            "stack into several files (one per team or cluster)",
            ("models",),
        )
        return stack, models
    for name, raw in raw_models.items():
        path: KeyPath = ("models", name)
        name_ok = _check_name(name, path, source, diagnostics)
        try:
            model = Model.model_validate(raw)
        except ValidationError as exc:
            validation_errors.report(exc, Model, source, path, diagnostics)
            continue
        if name_ok:
            models[name] = model
    return stack, models


def _valid_or(adapter: TypeAdapter[Any], value: Any, fallback: Any) -> Any:
    try:
        return adapter.validate_python(value) if value is not None else fallback
    except ValidationError:
        return fallback


def _check_name(name: Any, path: KeyPath, source: SourceMap, diagnostics: Diagnostics) -> bool:
    try:
        _NAME.validate_python(name)
    except ValidationError as exc:
        diagnostics.error(source.key(path), exc.errors()[0]["msg"], path)
        return False
    return True


def _container(values: ContainerFields) -> dict[str, Any]:
    return values.model_dump(exclude_unset=True, include=_CONTAINER_KEYS)


class _Shared:
    """What one load builds once for all its models. Spec models are frozen, so equal
    settings can be one object: a stack's thousands of deployments and environments share
    a handful of autoscaling settings, validated once (docs/benchmarks.md has what it saves)."""

    def __init__(self, stack: Stack) -> None:
        self.defaults = None if stack.defaults is None else _container(stack.defaults)
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


def _resolve_model(
    name: str,
    model: Model,
    shared: _Shared,
    imports: Imports,
    source: SourceMap,
    diagnostics: Diagnostics,
) -> ResolvedModel | None:
    path: KeyPath = ("models", name)
    base: list[Layer] = []
    if shared.defaults is not None:
        base.append(Layer(shared.defaults, source, ("defaults",)))
    template: LoadedTemplate | None = None
    params: dict[str, str] = {}
    if model.template is not None:
        template = _find_template(model.template, imports, source, path, diagnostics)
        if template is None:
            return None
        filled = template_params(template, model.params or {}, source, path, diagnostics)
        if filled is None:
            return None
        params = filled
        base.append(Layer(template.container_values(params), template.source, template.prefix))
    elif model.params:
        diagnostics.error(
            source.key((*path, "params")),
            "`params` fill a template's parameters, but this model names no `template`",
            (*path, "params"),
        )
    # A model's own fields (and its deployments') take the template's parameters too: a
    # model that overrides the template's `args` writes `${hf_model}` as the template does.
    base.append(Layer(fill(_container(model), params), source, path))
    model_level = merge(base)  # shared by every deployment and environment of the model
    filling = _Filling(template, params, unfilled(model_level[0]))
    _warn_dropped_args(template, params, model_level, path, diagnostics)

    deployments: dict[str, ResolvedDeployment] = {}
    for deployment_name in model.deployments:
        deployment = _resolve_deployment(
            name, deployment_name, model, model_level, source, diagnostics, shared, filling
        )
        if deployment is not None:
            deployments[deployment_name] = deployment
    scaling_level: Merged = (
        {"autoscaling": model_level[0]["autoscaling"]} if "autoscaling" in model_level[0] else {},
        {rel: w for rel, w in model_level[1].items() if rel[0] == "autoscaling"},
    )
    environments = {
        env_name: _resolve_environment(name, env_name, env, scaling_level, source, shared)
        for env_name, env in model.environments.items()
    }
    return ResolvedModel(
        name=name,
        template=model.template,
        deployments=deployments,
        environments=environments,
        origins=Origins(Written(source, path, at_key=True)),
    )


def _find_template(
    wanted: str, imports: Imports, source: SourceMap, path: KeyPath, diagnostics: Diagnostics
) -> LoadedTemplate | None:
    """The template a model names, or None: reported here unless the cause already is (the
    template has errors in its module, or an import that could not be read may hold it)."""
    templates = imports.templates
    template = templates.get(wanted)
    if template is None and wanted not in imports.unusable and imports.complete:
        where = (*path, "template")
        if templates:
            hint = did_you_mean(wanted, templates)
            message = f"no template '{wanted}'{hint} (imported: {', '.join(sorted(templates))})"
        elif imports.files:
            message = f"no template '{wanted}' in the imported modules"
        else:
            message = (
                f"no template '{wanted}': import the module that defines it "
                "(`imports: [../modules/vllm.yaml]`)"
            )
        diagnostics.error(source.value(where), message, where)
    return template


def _copy_chain(
    model: Model, name: str, path: KeyPath, source: SourceMap, diagnostics: Diagnostics
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
        where = (*path, "deployments", current, "from")
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


def _resolve_deployment(
    model_name: str,
    name: str,
    model: Model,
    model_level: Merged,
    source: SourceMap,
    diagnostics: Diagnostics,
    shared: _Shared,
    filling: _Filling,
) -> ResolvedDeployment | None:
    model_path: KeyPath = ("models", model_name)
    path: KeyPath = (*model_path, "deployments", name)
    chain = _copy_chain(model, name, model_path, source, diagnostics)
    if chain is None:
        return None
    layers = [
        Layer(fill(_container(spec), filling.params), source, (*model_path, "deployments", link))
        for link, spec in chain
    ]
    merged, written = merge(layers, start=model_level)
    if written.get(("args",)) is not model_level[1].get(("args",)):  # this deployment's own
        _warn_dropped_args(filling.template, filling.params, (merged, written), path, diagnostics)
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
        pinned = spec.autoscaling.model_fields_set if spec.autoscaling else set()
        for key in sorted(pinned & {"min_replicas", "max_replicas"}):
            where = (*path, "autoscaling", key)
            diagnostics.error(
                source.key(where),
                "a development deployment always runs 0 to 1 replicas; remove this key "
                "(or make it `kind: published`)",
                where,
            )
        autoscaling = autoscaling.model_copy(update={"min_replicas": 0, "max_replicas": 1})
    left = [*filling.left, *(found for layer in layers for found in unfilled(layer.values))]
    if not _filled_in(merged, left, origins, filling.template, diagnostics):
        return None
    merged.setdefault("port", DEFAULT_PORT)
    merged.setdefault("health", {})
    try:
        container = ContainerFields.model_validate(merged)
    except ValidationError as exc:  # a value a parameter filled in (each level was valid)
        for error in exc.errors(include_url=False):
            rel = tuple(error["loc"])
            diagnostics.error(origins(rel), validation_errors.message(error), origins.path(rel))
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


def _warn_dropped_args(
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
class _Filling:
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


def _resolve_environment(
    model_name: str,
    name: str,
    env: Environment,
    scaling_level: Merged,
    source: SourceMap,
    shared: _Shared,
) -> ResolvedEnvironment:
    path: KeyPath = ("models", model_name, "environments", name)
    layers = []
    if env.autoscaling is not None:
        values = env.autoscaling.model_dump(exclude_unset=True)
        layers.append(Layer({"autoscaling": values}, source, path))
    merged, written = merge(layers, start=scaling_level)
    if env.deployment is not None:
        traffic: tuple[tuple[str, int], ...] = ((env.deployment, 100),)
    else:
        traffic = tuple((env.traffic or {}).items())
    if source.has((*path, "deployment")):
        written[("deployment",)] = Written(source, (*path, "deployment"))
    if source.has((*path, "traffic")):
        written[("traffic",)] = Written(source, (*path, "traffic"), at_key=True)
    for deployment, _ in traffic:
        key_path = (*path, "traffic", deployment)
        if source.has(key_path):
            written[("traffic", deployment)] = Written(source, key_path, at_key=True)
    for key in env.promotion.model_fields_set if env.promotion else ():
        key_path = (*path, "promotion", key)
        if source.has(key_path):
            written[("promotion", key)] = Written(source, key_path)
    return ResolvedEnvironment(
        model=model_name,
        name=name,
        traffic=traffic,
        autoscaling=shared.autoscaling(merged.get("autoscaling", {})),
        promotion=env.promotion or shared.promotion,
        origins=Origins(Written(source, path, at_key=True), written),
    )

"""Load a stack file: read it, validate each part, fill templates, merge the levels.

Problems are collected, not raised: a broken model does not hide the errors of the next
one. Models that failed validation are left out of the result, so later checks only see
well-formed data.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from iac.diagnostics import Diagnostic, Diagnostics, KeyPath, did_you_mean
from iac.errors import ModuleFileGiven
from iac.load import validation_errors
from iac.load.chains import chainlet_model_name, desugar_chains
from iac.load.deployments import (
    Filling,
    SharedSettings,
    container_values,
    resolve_deployment,
    warn_dropped_args,
)
from iac.load.layers import Layer, Merged, ModelPaths, merge
from iac.load.modules import (
    Imports,
    LoadedTemplate,
    fill,
    load_templates,
    looks_like_module,
    template_params,
    unfilled,
)
from iac.load.yaml_source import SourceMap, read_yaml
from iac.spec.resolved import (
    Origins,
    ResolvedChain,
    ResolvedDeployment,
    ResolvedEnvironment,
    ResolvedModel,
    ResolvedStack,
    Written,
)
from iac.spec.stack import Chain, Defaults, Environment, Model, Stack
from iac.spec.types import Name

STACK_FILE_NAME = "stack.yaml"
"""The file looked for when a folder is named instead of a file."""
MAX_MODELS = 5000
"""Models in one stack file: past this, plans and applies get slow; split the stack."""

_NAME = TypeAdapter(Name)
_Part = TypeVar("_Part", Model, Chain)
_IMPORTS: TypeAdapter[list[str]] = TypeAdapter(list[str])
_DEFAULTS: TypeAdapter[Defaults] = TypeAdapter(Defaults)


def stack_file(path: str) -> str:
    """`examples/01-single-model` → `examples/01-single-model/stack.yaml`."""
    return os.path.join(path, STACK_FILE_NAME) if os.path.isdir(path) else path


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
    stack, models, chains = _validate(document.data, source, diagnostics)
    imports = load_templates(file, stack.imports, source, diagnostics)
    resolved: dict[str, ResolvedModel] = {}
    shared = SharedSettings(stack)
    for name, model in models.items():
        result = _resolve_model(name, model, shared, imports, source, diagnostics)
        if result is not None:
            resolved[name] = result
    written_models = dict(models)
    resolved_chains: dict[str, ResolvedChain] = {}
    for chain_name, chainlets in desugar_chains(chains, models, source, diagnostics).items():
        complete = True
        for part in chainlets:
            written_models[part.name] = part.model
            result = _resolve_model(
                part.name, part.model, shared, imports, source, diagnostics, part.paths
            )
            if result is None:
                complete = False
            else:
                resolved[part.name] = replace(result, chain=part.member)
        if complete:
            resolved_chains[chain_name] = _resolved_chain(chain_name, chains[chain_name], source)
    return ResolvedStack(
        file=file,
        spec=stack.model_copy(update={"models": written_models, "chains": chains}),
        models=resolved,
        files=(file, *imports.files),
        source=source,
        chains=resolved_chains,
        chainlet_models=frozenset(written_models) - set(models),
    )


def _resolved_chain(name: str, chain: Chain, source: SourceMap) -> ResolvedChain:
    return ResolvedChain(
        name=name,
        entrypoint=chain.entrypoint or "",  # checked: set and a chainlet
        chainlets={c: chainlet_model_name(name, c) for c in chain.chainlets},
        origins=Origins(Written(source, ("chains", name), at_key=True)),
    )


def _module_given(file: str) -> str:
    return (
        "this is a module file (it has `templates:` and no `cluster:` or `models:`), not a "
        f"stack: name a stack file that imports it, or check it with `iac validate {file}`"
    )


def _validate(
    data: dict[str, Any], source: SourceMap, diagnostics: Diagnostics
) -> tuple[Stack, dict[str, Model], dict[str, Chain]]:
    """Validate the stack's top level and each model and chain on its own, reporting every
    error.

    When the top level has errors, the models are still resolved against what of it is
    valid (`imports`, `defaults`), so their own problems are reported in the same run.
    """
    top = {k: v for k, v in data.items() if k not in ("models", "chains")}
    try:
        stack = Stack.model_validate(top)
    except ValidationError as exc:
        validation_errors.report(exc, Stack, source, (), diagnostics)
        stack = Stack.model_construct(  # type: ignore[call-arg]  # cluster is what failed
            imports=_valid_or(_IMPORTS, top.get("imports"), []),
            defaults=_valid_or(_DEFAULTS, top.get("defaults"), None),
        )
    models = _each(Model, "models", "model", data, source, diagnostics)
    chains = _each(Chain, "chains", "chain", data, source, diagnostics)
    return stack, models, chains


def _each(
    kind: type[_Part],
    section: str,
    what: str,
    data: dict[str, Any],
    source: SourceMap,
    diagnostics: Diagnostics,
) -> dict[str, _Part]:
    """The entries of `section` (`models`, `chains`), each validated on its own."""
    raw_parts = data.get(section) or {}
    parts: dict[str, _Part] = {}
    if not isinstance(raw_parts, dict):
        diagnostics.error(
            source.value((section,)),
            f"must be a mapping of {what} name to {what}",
            (section,),
        )
        return parts
    if len(raw_parts) > MAX_MODELS:
        diagnostics.error(
            source.key((section,)),
            f"{len(raw_parts)} {section}, over the limit of {MAX_MODELS} for one stack; split "
            "the stack into several files (one per team or cluster)",
            (section,),
        )
        return parts
    for name, raw in raw_parts.items():
        path: KeyPath = (section, name)
        name_ok = _check_name(name, path, source, diagnostics)
        try:
            part = kind.model_validate(raw)
        except ValidationError as exc:
            validation_errors.report(exc, kind, source, path, diagnostics)
            continue
        if name_ok:
            parts[name] = part
    return parts


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


def _resolve_model(
    name: str,
    model: Model,
    shared: SharedSettings,
    imports: Imports,
    source: SourceMap,
    diagnostics: Diagnostics,
    paths: ModelPaths | None = None,
) -> ResolvedModel | None:
    paths = paths or ModelPaths.of_model(name)
    path = paths.model
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
    base.append(Layer(fill(container_values(model), params), source, path))
    model_level = merge(base)  # shared by every deployment and environment of the model
    filling = Filling(template, params, unfilled(model_level[0]))
    warn_dropped_args(template, params, model_level, path, diagnostics)

    deployments: dict[str, ResolvedDeployment] = {}
    for deployment_name in model.deployments:
        deployment = resolve_deployment(
            name, deployment_name, model, model_level, source, diagnostics, shared, filling, paths
        )
        if deployment is not None:
            deployments[deployment_name] = deployment
    scaling_level: Merged = (
        {"autoscaling": model_level[0]["autoscaling"]} if "autoscaling" in model_level[0] else {},
        {rel: w for rel, w in model_level[1].items() if rel[0] == "autoscaling"},
    )
    environments = {
        env_name: _resolve_environment(name, env_name, env, scaling_level, source, shared, paths)
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


def _resolve_environment(
    model_name: str,
    name: str,
    env: Environment,
    scaling_level: Merged,
    source: SourceMap,
    shared: SharedSettings,
    paths: ModelPaths,
) -> ResolvedEnvironment:
    path = paths.environment(name)
    layers = []
    if env.autoscaling is not None:
        values = env.autoscaling.model_dump(exclude_unset=True)
        moved = paths.environment_scaling(name)
        layers.append(Layer({"autoscaling": values}, source, path, moved))
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

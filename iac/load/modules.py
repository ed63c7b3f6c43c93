"""Module files (`imports:`) and the templates they define, with `${param}` filling."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from iac.diagnostics import Diagnostics, KeyPath, did_you_mean
from iac.load import validation_errors
from iac.load.yaml_source import SourceMap, read_yaml
from iac.spec.container import CONTAINER_FIELDS
from iac.spec.stack import Module, Template
from iac.spec.types import PLACEHOLDER


@dataclass(frozen=True, slots=True)
class LoadedTemplate:
    name: str
    spec: Template
    source: SourceMap
    prefix: KeyPath
    """Key path of the template in its module file (`templates.vllm`)."""

    def container_values(self, params: dict[str, str]) -> dict[str, Any]:
        """The container fields the template wrote, with `${param}` filled in."""
        values = self.spec.model_dump(exclude_unset=True, include=set(CONTAINER_FIELDS))
        return fill(values, params)


def load_templates(
    stack_file: str, imports: list[str], source: SourceMap, diagnostics: Diagnostics
) -> tuple[dict[str, LoadedTemplate], list[str]]:
    """Read every imported module. Returns templates by name and the files read."""
    base = os.path.dirname(stack_file)
    templates: dict[str, LoadedTemplate] = {}
    files: list[str] = []
    for index, relative in enumerate(imports):
        path = os.path.normpath(os.path.join(base, relative))
        where = source.value(("imports", index))
        if not os.path.isfile(path):
            diagnostics.error(where, f"imported file '{path}' does not exist", ("imports", index))
            continue
        files.append(path)
        document = read_yaml(path, diagnostics)
        if document is None:
            continue
        try:
            module = Module.model_validate(document.data)
        except ValidationError as exc:
            validation_errors.report(exc, Module, document.source, (), diagnostics)
            continue
        for name, template in module.templates.items():
            prefix: KeyPath = ("templates", name)
            if name in templates:
                first = templates[name].source.key(templates[name].prefix)
                diagnostics.error(
                    document.source.key(prefix),
                    f"template '{name}' is also defined at {first}; rename one of them",
                    prefix,
                )
                continue
            loaded = LoadedTemplate(name, template, document.source, prefix)
            _check_placeholders(loaded, diagnostics)
            templates[name] = loaded
    return templates, files


def template_params(
    template: LoadedTemplate,
    given: dict[str, Any],
    source: SourceMap,
    model_path: KeyPath,
    diagnostics: Diagnostics,
) -> dict[str, str] | None:
    """The template's parameters filled from the model's `params:`, or None on error."""
    ok = True
    declared = template.spec.params
    for key in given:
        if key not in declared:
            path = (*model_path, "params", key)
            known = ", ".join(declared) or "none"
            diagnostics.error(
                source.key(path),
                f"template '{template.name}' has no parameter '{key}'"
                f"{did_you_mean(key, declared)} (parameters: {known})",
                path,
            )
            ok = False
    values: dict[str, str] = {}
    for name, param in declared.items():
        if name in given:
            values[name] = _text(given[name])
            if PLACEHOLDER.search(values[name]):
                path = (*model_path, "params", name)
                diagnostics.error(
                    source.value(path),
                    f"'{values[name]}' would be put into template '{template.name}' as it "
                    "is: a parameter's value is not filled in itself; write the value",
                    path,
                )
                ok = False
        elif "default" in param.model_fields_set and param.default is not None:
            values[name] = _text(param.default)
        else:
            path = (*model_path, "template")
            hint = f" ({param.description})" if param.description else ""
            diagnostics.error(
                source.value(path),
                f"template '{template.name}' needs parameter '{name}'{hint}; "
                f"set it under `params:`",
                path,
            )
            ok = False
    return values if ok else None


def _check_placeholders(template: LoadedTemplate, diagnostics: Diagnostics) -> None:
    values = template.spec.model_dump(exclude_unset=True, include=set(CONTAINER_FIELDS))
    for rel, text in _strings(values, ()):
        for name in PLACEHOLDER.findall(text):
            if name not in template.spec.params:
                path = template.prefix + rel
                diagnostics.error(
                    template.source.value(path),
                    f"'${{{name}}}' names no parameter of template '{template.name}'"
                    f"{did_you_mean(name, template.spec.params)}; declare it under `params:`",
                    path,
                )


def _strings(value: Any, path: KeyPath) -> list[tuple[KeyPath, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, (*path, k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, (*path, i))]
    return []


def fill(values: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """Container fields with each `${param}` of `params` filled in (the others are left
    for `unfilled` to report)."""
    if not params or "${" not in repr(values):  # most levels: nothing to fill
        return values
    return {key: _fill(value, params) for key, value in values.items()}


def unfilled(values: dict[str, Any]) -> list[tuple[KeyPath, str]]:
    """Each placeholder left in the strings of container fields, by key path."""
    if "${" not in repr(values):  # most levels: nothing left, no need to walk them
        return []
    return [
        (path, name) for path, text in _strings(values, ()) for name in PLACEHOLDER.findall(text)
    ]


def unfilled_message(name: str, template: LoadedTemplate | None, in_defaults: bool) -> str:
    """Why `${name}` is left in a model's field (or in the stack's `defaults`), and what to
    write instead."""
    placeholder = f"'${{{name}}}'"
    if in_defaults:
        return (
            f"{placeholder} is not filled in: parameters fill a template's fields and the "
            "model's own, not the stack's `defaults`; write the value (for an environment "
            "variable the container expands, write $(NAME))"
        )
    if template is None:
        return (
            f"{placeholder} is not filled in: this model names no template whose parameters "
            "would fill it; write the value (for an environment variable the container "
            "expands, write $(NAME))"
        )
    declared = template.spec.params
    known = ", ".join(declared) or "none"
    return (
        f"{placeholder} is not filled in: template '{template.name}' has no parameter "
        f"'{name}'{did_you_mean(name, declared)} (parameters: {known})"
    )


def _fill(value: Any, params: dict[str, str]) -> Any:
    if isinstance(value, str):
        if "${" not in value:  # most values: nothing to fill, no need for the expression
            return value
        return PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _fill(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, params) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

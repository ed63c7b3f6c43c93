"""Module files (`imports:`) and the templates they define, with `${param}` filling."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from iac.diagnostics import Diagnostics, KeyPath, did_you_mean
from iac.load import validation_errors
from iac.load.yaml_source import SourceMap, read_yaml
from iac.spec.container import CONTAINER_FIELDS
from iac.spec.stack import Module, Template
from iac.spec.types import PLACEHOLDER, Name

_TEMPLATES: TypeAdapter[dict[Name, Template]] = TypeAdapter(dict[Name, Template])


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


@dataclass(frozen=True, slots=True)
class LoadedModule:
    """One module file's templates: those that validated, and the names of those that did
    not (their errors are reported in the module)."""

    file: str
    templates: dict[str, LoadedTemplate]
    invalid: frozenset[str]


@dataclass(frozen=True, slots=True)
class Imports:
    """What a stack's `imports:` give it."""

    templates: dict[str, LoadedTemplate]
    """The usable templates, by name."""
    files: list[str]
    """The module files read, each once."""
    unusable: frozenset[str]
    """Templates written in a module but invalid there: a model naming one is left out
    without another error, since the template's own error is the cause."""
    complete: bool
    """Whether every import was read. When one was not (a missing file, a YAML error), a
    template not found may be in it, and the import's error is the cause to report."""


def load_templates(
    stack_file: str, imports: list[str], source: SourceMap, diagnostics: Diagnostics
) -> Imports:
    """Read every imported module, each file once however it is named."""
    base = os.path.dirname(stack_file)
    templates: dict[str, LoadedTemplate] = {}
    unusable: set[str] = set()
    files: list[str] = []
    complete = True
    read: dict[tuple[int, int], int] = {}  # (device, inode) → index of the import
    for index, relative in enumerate(imports):
        path = os.path.normpath(os.path.join(base, relative))
        here: KeyPath = ("imports", index)
        where = source.value(here)
        if os.path.isdir(path):
            diagnostics.error(where, _folder_message(path, relative), here)
            complete = False
            continue
        if not os.path.isfile(path):
            diagnostics.error(where, f"imported file '{path}' does not exist", here)
            complete = False
            continue
        identity = _identity(path)
        first = read.get(identity) if identity is not None else None
        if first is not None:
            diagnostics.error(where, _twice_message(imports, first, index, source), here)
            continue
        if identity is not None:
            read[identity] = index
        files.append(path)
        module = load_module(path, diagnostics)
        if module is None:
            complete = False
            continue
        unusable |= module.invalid
        for name, loaded in module.templates.items():
            if name in templates:
                first_at = templates[name].source.key(templates[name].prefix)
                diagnostics.error(
                    loaded.source.key(loaded.prefix),
                    f"template '{name}' is also defined at {first_at}; rename one of them",
                    loaded.prefix,
                )
                continue
            templates[name] = loaded
    return Imports(templates, files, frozenset(unusable - set(templates)), complete)


def looks_like_module(data: Any) -> bool:
    """A module file's top level: `templates:`, and none of a stack's `cluster:` or `models:`
    (a stack with a stray `templates:` key is still a stack, with an unknown key)."""
    return isinstance(data, dict) and "templates" in data and not {"cluster", "models"} & set(data)


def load_module(path: str, diagnostics: Diagnostics) -> LoadedModule | None:
    """Read and check one module file. None when it cannot be read or its top level is
    unusable; otherwise its valid templates, even when others have errors (reported)."""
    document = read_yaml(path, diagnostics)
    if document is None:
        return None
    source = document.source
    try:
        written = Module.model_validate(document.data).templates
        invalid: frozenset[str] = frozenset()
    except ValidationError as exc:
        validation_errors.report(exc, Module, source, (), diagnostics)
        data = document.data.get("templates") if isinstance(document.data, dict) else None
        if not isinstance(data, dict):
            return None
        # The templates that validate on their own are still usable: only models naming an
        # invalid one are left out, without an error of their own (`Imports.unusable`).
        written = {}
        for name, raw in data.items():
            try:
                written |= _TEMPLATES.validate_python({name: raw})
            except ValidationError:
                continue
        invalid = frozenset(str(name) for name in data if name not in written)
    templates: dict[str, LoadedTemplate] = {}
    for name, template in written.items():
        loaded = LoadedTemplate(name, template, source, ("templates", name))
        _check_placeholders(loaded, diagnostics)
        templates[name] = loaded
    return LoadedModule(source.file, templates, invalid)


def _identity(path: str) -> tuple[int, int] | None:
    """What makes two paths one file (`a.yaml`, `sub/../a.yaml`, a link to it)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _twice_message(imports: list[str], first: int, index: int, source: SourceMap) -> str:
    line = source.value(("imports", first)).line
    if imports[first] == imports[index]:
        said = f"'{imports[index]}' is imported twice (first at line {line})"
    else:
        said = (
            f"'{imports[index]}' is imported twice: it is the same file as "
            f"'{imports[first]}' (line {line})"
        )
    return f"{said}; remove this entry"


_SHOWN_FILES = 4
"""Module files named in the hint for a folder in `imports`."""


def _folder_message(path: str, relative: str) -> str:
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith((".yaml", ".yml")))
    except OSError:
        names = []
    said = f"'{relative}' is a folder; `imports` name module files"
    if not names:
        return f"{said}, and it holds no .yaml file"
    shown = ", ".join(f"'{os.path.join(relative, n)}'" for n in names[:_SHOWN_FILES])
    more = f" (and {len(names) - _SHOWN_FILES} more)" if len(names) > _SHOWN_FILES else ""
    return f"{said}: import one of {shown}{more}"


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

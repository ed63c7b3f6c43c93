"""Turn pydantic validation errors into located diagnostics with fix hints."""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from iac.diagnostics import Diagnostics, KeyPath, did_you_mean
from iac.load.yaml_source import SourceMap
from iac.spec.types import INT32_MAX

_DICT_KEY = "[key]"
_HOW_TO_ADD = {
    "version": " (add `version: 1` at the top)",
    "cluster": " (add `cluster: {name: NAME}`: the cluster the stack is applied to)",
    "deployments": " (add `deployments: {v1: {}}`)",
    "templates": " (add `templates:` with at least one template)",
}


def report(
    exc: ValidationError,
    model: type[BaseModel],
    source: SourceMap,
    prefix: KeyPath,
    diagnostics: Diagnostics,
) -> None:
    """Add one diagnostic per pydantic error of validating `model` at `prefix` in `source`."""
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        is_key = bool(loc) and loc[-1] == _DICT_KEY
        rel: KeyPath = tuple(p for p in loc if p != _DICT_KEY)
        path = prefix + rel
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(rel[-1])
            allowed = _fields_at(model, rel[:-1])
            hint = did_you_mean(key, allowed)
            if not hint and allowed:
                hint = f" (expected one of: {', '.join(allowed)})"
            diagnostics.error(source.key(path), f"unknown key '{key}'{hint}", path)
        elif kind == "missing":
            key = str(rel[-1])
            parent = path[:-1]
            where = source.key(parent) if parent else source.value(())
            hint = _HOW_TO_ADD.get(key, "")
            diagnostics.error(where, f"missing required key '{key}'{hint}", parent)
        else:
            where = source.key(path) if is_key else source.value(path)
            diagnostics.error(where, message(error), path)


def message(error: Any) -> str:
    """The text of one pydantic error, with a hint where one helps."""
    message = str(error["msg"])
    # pydantic prefixes custom errors raised from our validators with "Value error, ".
    message = message.removeprefix("Value error, ")
    if error["type"] in {
        "dns_label",
        "dns_subdomain",
        "hostname",
        "duration",
        "duration_range",
        "accelerator",
        "quantity",
        "env_bool",
        "traffic_weight",
        "image",
    }:
        return message
    value = error.get("input")
    if error["type"] == "less_than_equal" and (error.get("ctx") or {}).get("le") == INT32_MAX:
        return (
            f"{value} is too large: at most {INT32_MAX:,}, as the Kubernetes field it lands in "
            "holds a 32-bit integer"
        )
    if isinstance(value, dict | list):
        shown = "a mapping" if isinstance(value, dict) else "a list"
    else:
        shown = repr(value)
    first = message[:1].lower() + message[1:]
    return f"{first} (got {shown}){_type_hint(error['type'], value)}"


def _type_hint(kind: str, value: Any) -> str:
    """How to write a value of the wrong type so that YAML reads the type wanted (the
    models are strict, like the JSON schema editors check)."""
    if isinstance(value, str) and kind in ("int_type", "float_type", "bool_type"):
        text = value.strip()
        readable = {
            "int_type": text.lstrip("-").isdigit(),
            "float_type": _is_number(text),
            "bool_type": text in ("true", "false"),
        }[kind]
        if readable:
            return f"; write {text} without quotes"
    if kind == "int_type" and isinstance(value, float) and value.is_integer():
        return f"; write {int(value)}"
    if kind == "int_type" and isinstance(value, float):
        return "; a whole number goes here"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.lower() not in ("inf", "-inf", "nan", "infinity", "-infinity")


def _fields_at(model: type[BaseModel], rel: KeyPath) -> list[str]:
    """The keys allowed at `rel` under `model` (following dicts, lists and optionals)."""
    current: Any = model
    for part in rel:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _field_by_key(current, str(part))
            if field is None:
                return []
            current = field
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X; `Annotated[X, ...]` → X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation

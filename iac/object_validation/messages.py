"""Problem text: field paths, object identifiers, and schema errors turned into messages
that name the offending field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jsonschema_rs

from iac.object_validation.builtin_schemas import Kind
from iac.object_validation.names import QUANTITY_PATTERN

FieldPath = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$-]+")


def format_path(path: Iterable[str | int]) -> str:
    """`("spec", "containers", 0, "resources", "limits", "nvidia.com/gpu")` →
    `spec.containers[0].resources.limits["nvidia.com/gpu"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(root)"


def short_repr(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _type_names(error: jsonschema_rs.ValidationError) -> list[str] | None:
    """The types a `type` error wanted (without "null"), else None."""
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return [t for t in kind.types if t != "null"] or list(kind.types)
    return None


def _wrong_type_here(error: jsonschema_rs.ValidationError, path: FieldPath) -> bool:
    return _type_names(error) is not None and tuple(error.instance_path) == path


def error_messages(error: jsonschema_rs.ValidationError) -> Iterator[tuple[FieldPath, str]]:
    """One schema error → (path, message) pairs that name the offending field."""
    path: FieldPath = tuple(error.instance_path)
    instance = error.instance
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        for key in kind.unexpected:
            yield path + (key,), "unknown field (not in the schema)"
        return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        yield path + (kind.property,), "required field is missing"
        return
    wanted = _type_names(error)
    if wanted is None and isinstance(
        kind,
        jsonschema_rs.ValidationErrorKind.AnyOf | jsonschema_rs.ValidationErrorKind.OneOfNotValid,
    ):
        # int-or-string, quantities: say what was expected rather than "not valid under any".
        branches = [_type_names(e) if len(b) == 1 else None for b in kind.context for e in b[:1]]
        if branches and len(branches) == len(kind.context) and all(branches):
            wanted = list(dict.fromkeys(t for types in branches if types for t in types))
        else:  # the one branch whose type fits says what is wrong
            fitting = [
                b for b in kind.context if b and not any(_wrong_type_here(e, path) for e in b)
            ]
            if len(fitting) == 1:
                for sub in fitting[0]:
                    yield from error_messages(sub)
                return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern) and kind.pattern in (
        QUANTITY_PATTERN,
        QUANTITY_PATTERN.strip("^$"),
    ):
        yield path, f"{short_repr(instance)} is not a quantity (such as 500m, 4, 1.5, 32Gi, 100G)"
        return
    if wanted is not None:
        expected = " or ".join(wanted)
        yield path, f"expected {expected}, got {json_type(instance)} {short_repr(instance)}"
        return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        options = ", ".join(json.dumps(o) for o in kind.options)
        yield path, f"{short_repr(instance)} is not one of: {options}"
        return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Custom):
        yield path, kind.message
        return
    yield path, error.message


def object_ident(obj: Mapping[str, Any], kind: Kind | None) -> str:
    """`apiVersion/kind/namespace/name`, the start of each problem (no namespace segment for a
    cluster-scoped kind; `?` for a missing part)."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}

    def part(value: Any) -> str:
        return value if isinstance(value, str) and value else "?"

    parts = [part(obj.get("apiVersion")), part(obj.get("kind"))]
    namespace = metadata.get("namespace")
    if (kind is not None and kind.namespaced) or (kind is None and namespace is not None):
        parts.append(part(namespace))
    parts.append(part(metadata.get("name")))
    return "/".join(parts)

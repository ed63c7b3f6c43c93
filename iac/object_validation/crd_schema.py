"""A CRD's `openAPIV3Schema` → a JSON schema (2020-12), read the way the API server reads
it, and the structural defaulting the API server applies before validating."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from iac.object_validation.builtin_schemas import (
    INTEGER_RANGES,
    OBJECT_META_REF,
    SCHEMA_DIALECT,
)
from iac.object_validation.messages import short_repr

# OpenAPI keywords that are annotations, or CEL, or handled apart.
_DROPPED_KEYWORDS = frozenset(
    {"description", "default", "example", "externalDocs", "nullable", "x-kubernetes-validations"}
)

# Kubernetes checks these formats on custom resources; int32 and int64 become the range of
# the Go integer the resource is decoded into (INTEGER_RANGES); the others a CRD may name
# (date-time, Go durations, ...) are dropped by `_convert`, as we check them nowhere.
_CRD_FORMATS = frozenset({"ipv4", "ipv6"})


def _convert(node: Mapping[str, Any], *, structural: bool = True) -> dict[str, Any]:
    """A CRD (OpenAPI v3, structural) schema node → a JSON schema (2020-12) node.

    * `type` with `nullable: true` → `[type, "null"]` (and `null` added to an `enum`);
    * `x-kubernetes-int-or-string: true` → `type: [integer, string]`;
    * `x-kubernetes-preserve-unknown-fields: true` → any field allowed (and any type if untyped);
    * `x-kubernetes-embedded-resource: true` → `apiVersion` and `kind` required strings,
      `metadata` an ObjectMeta;
    * every other object node of the structural part (reached through `properties`, `items`,
      `additionalProperties`) gets `additionalProperties: false`, since the API server prunes
      or rejects unknown fields: a typo in our output must fail;
    * `x-kubernetes-list-type: set` → `uniqueItems`; `map` keeps `x-kubernetes-list-map-keys`,
      checked by a custom keyword (`ListMapKeys`);
    * `format` is kept for `ipv4`/`ipv6` only (see `_CRD_FORMATS`); an integer's `int32` or
      `int64` becomes that range;
    * draft-4 boolean `exclusiveMinimum`/`exclusiveMaximum` → the numeric 2020-12 form;
    * `x-kubernetes-validations` (CEL) and annotations are dropped: CEL is not checked.

    Nodes under `allOf`/`anyOf`/`oneOf`/`not` are value validations, never structural: they get
    no `additionalProperties`.
    """
    out = _converted_keywords(node, structural)
    bounds = INTEGER_RANGES.get(node.get("format", ""))
    if bounds is not None and node.get("type") == "integer":
        out["minimum"] = max(out.get("minimum", bounds[0]), bounds[0])
        out["maximum"] = min(out.get("maximum", bounds[1]), bounds[1])

    nullable = node.get("nullable") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = ["integer", "string"]
    if "type" in out and nullable:
        types = [out["type"]] if isinstance(out["type"], str) else list(out["type"])
        out["type"] = [*types, "null"]
    if "enum" in out and nullable and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]

    if node.get("x-kubernetes-embedded-resource") is True:
        props = out.setdefault("properties", {})
        props["apiVersion"] = props.get("apiVersion", {"type": "string"})
        props["kind"] = props.get("kind", {"type": "string"})
        props["metadata"] = _metadata_schema(node.get("properties", {}).get("metadata"))
        required = out.get("required", [])
        out["required"] = [*required, *(k for k in ("apiVersion", "kind") if k not in required)]

    is_object = out.get("type") in ("object", ["object", "null"]) or "properties" in out
    if structural and is_object and not preserve and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def _converted_keywords(node: Mapping[str, Any], structural: bool) -> dict[str, Any]:
    """Each keyword of `node` converted on its own (children recursively); what depends on
    several keywords (nullable, int-or-string, embedded resources) is left to `_convert`."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key in ("properties", "patternProperties") and isinstance(value, Mapping):
            out[key] = {
                name: _convert(child, structural=structural) for name, child in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _convert(value, structural=structural)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, Sequence):
            out[key] = [_convert(child, structural=False) for child in value]
        elif key == "not" and isinstance(value, Mapping):
            out[key] = _convert(value, structural=False)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:
                out[key] = node[bound]
        elif key in ("minimum", "maximum") and node.get(f"exclusive{key.capitalize()}") is True:
            continue  # moved into exclusiveMinimum/exclusiveMaximum above
        elif key == "format":
            if value in _CRD_FORMATS:
                out[key] = value
        elif key == "x-kubernetes-list-type":
            if value == "set":
                out["uniqueItems"] = True
        elif key == "x-kubernetes-list-map-keys":
            if node.get("x-kubernetes-list-type") == "map":
                out[key] = list(value)
        elif key.startswith("x-kubernetes-"):
            continue  # handled below or meaningless to a validator (map-type, ...)
        else:
            out[key] = value
    return out


def _metadata_schema(crd_metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Object metadata is validated as the built-in ObjectMeta (the API server does so for the
    root and for embedded resources), plus whatever the CRD adds (it may only constrain
    `name` and `generateName`)."""
    if not crd_metadata or not crd_metadata.get("properties"):
        return {"$ref": OBJECT_META_REF}
    return {"allOf": [{"$ref": OBJECT_META_REF}, _convert(crd_metadata, structural=False)]}


def root_schema(openapi: Mapping[str, Any]) -> dict[str, Any]:
    schema = _convert(openapi)
    props = schema.setdefault("properties", {})
    props["metadata"] = _metadata_schema(openapi.get("properties", {}).get("metadata"))
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    schema["type"] = "object"
    schema["$schema"] = SCHEMA_DIALECT
    return schema


def apply_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    """Structural defaulting, as the API server does before validating a custom resource
    (apiextensions-apiserver schema/defaulting): a missing property, or a null one that is not
    nullable, gets its `default`; then the children are defaulted, defaults included."""
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for key, prop in props.items():
            if "default" in prop and (
                key not in value or (value[key] is None and prop.get("nullable") is not True)
            ):
                value[key] = copy.deepcopy(prop["default"])
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if key in props:
                apply_defaults(child, props[key])
            elif isinstance(additional, Mapping):
                apply_defaults(child, additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for child in value:
                apply_defaults(child, items)


def has_defaults(schema: Mapping[str, Any]) -> bool:
    if "default" in schema:
        return True
    children: list[Any] = list((schema.get("properties") or {}).values())
    children += [schema.get("items"), schema.get("additionalProperties")]
    return any(isinstance(c, Mapping) and has_defaults(c) for c in children)


class ListMapKeys:
    """`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`: no two items of the
    list may have the same values of the key fields (a jsonschema-rs custom keyword)."""

    def __init__(
        self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]
    ) -> None:
        self.keys = [str(k) for k in value] if isinstance(value, list) else []

    def validate(self, instance: Any) -> None:
        for problem in self._duplicates(instance):
            raise ValueError(problem)

    def iter_errors(self, instance: Any) -> Iterator[ValueError]:
        for problem in self._duplicates(instance):
            yield ValueError(problem)

    def _duplicates(self, instance: Any) -> Iterator[str]:
        if not isinstance(instance, list):
            return
        seen: dict[str, int] = {}
        for index, item in enumerate(instance):
            if not isinstance(item, Mapping):
                continue
            key = json.dumps([item.get(k) for k in self.keys], sort_keys=True, default=str)
            if key in seen:
                shown = ", ".join(f"{k}={short_repr(item.get(k))}" for k in self.keys)
                yield (
                    f"items {seen[key]} and {index} have the same key ({shown}); "
                    "x-kubernetes-list-type: map allows one item per key"
                )
            else:
                seen[key] = index

"""JSON schemas of the stack and module files, generated from the models (never by hand)."""

from __future__ import annotations

import json
from typing import Any

from iac.spec.stack import Module, Stack

SCHEMAS: dict[str, type[Stack] | type[Module]] = {"stack": Stack, "module": Module}
"""Schema name → the model it is generated from."""


def json_schema(name: str = "stack") -> dict[str, Any]:
    model = SCHEMAS[name]
    schema: dict[str, Any] = _names_checked(
        model.model_json_schema(by_alias=True, mode="validation")
    )
    if name == "stack":
        # `models:` written with nothing under it (every model commented out) is a stack of
        # no models to the loader, so editors must not mark it.
        schema["properties"]["models"]["type"] = ["object", "null"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://iac.dev/schema/{name}.schema.json"
    return schema


def render_schema(name: str = "stack") -> str:
    """The schema as committed under `schema/`: sorted keys, two-space indent, newline."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"


def _names_checked(node: Any) -> Any:
    """Maps keyed by names (models, deployments, environments...), as editors should check
    them. Pydantic writes a key's pattern as `patternProperties`, under which a key that
    does not match (`7b-chat`, `Prod`) is simply not described, so nothing flags it; as
    `propertyNames` it is an error where the name is written."""
    if isinstance(node, list):
        return [_names_checked(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _names_checked(value) for key, value in node.items()}
    patterns = node.get("patternProperties")
    if (
        isinstance(patterns, dict)
        and len(patterns) == 1
        and "properties" not in node
        and "additionalProperties" not in node
    ):
        ((pattern, values),) = patterns.items()
        del node["patternProperties"]
        node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
        node["additionalProperties"] = values
    return node

"""JSON schemas of the stack and module files, generated from the models (never by hand)."""

from __future__ import annotations

import json
from typing import Any

from iac.spec.stack import Module, Stack

SCHEMAS: dict[str, type[Stack] | type[Module]] = {"stack": Stack, "module": Module}
"""Schema name → the model it is generated from."""


def json_schema(name: str = "stack") -> dict[str, Any]:
    model = SCHEMAS[name]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://iac.dev/schema/{name}.schema.json"
    return schema


def render_schema(name: str = "stack") -> str:
    """The schema as committed under `schema/`: sorted keys, two-space indent, newline."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"

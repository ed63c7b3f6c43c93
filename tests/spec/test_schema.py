"""The committed JSON schemas are generated from the models and still match them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from iac.spec.schema import SCHEMAS, render_schema
from tests.support.golden import check_golden

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_committed_schema_has_not_drifted(kind: str, update_golden: bool) -> None:
    # On failure: `make golden` regenerates schema/ from iac/spec.
    check_golden(ROOT / "schema" / f"{kind}.schema.json", render_schema(kind), update_golden)


def _files(pattern: str) -> list[Path]:
    return sorted(ROOT.glob(pattern))


@pytest.mark.parametrize(
    "path", _files("examples/*/stack.yaml") + _files("stacks/*.yaml"), ids=lambda p: str(p.name)
)
def test_stack_files_validate_against_the_schema(path: Path) -> None:
    schema = json.loads((ROOT / "schema" / "stack.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


@pytest.mark.parametrize("path", _files("modules/*.yaml"), ids=lambda p: p.name)
def test_module_files_validate_against_the_schema(path: Path) -> None:
    schema = json.loads((ROOT / "schema" / "module.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_schema_rejects_what_the_loader_rejects() -> None:
    schema = json.loads((ROOT / "schema" / "stack.schema.json").read_text())
    bad = {"version": 1, "cluster": {"name": "c"}, "models": {"m": {"deployments": {"v1": {
        "autoscaling": {"min_replica": 1}}}}}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("models",), "7b-chat"),  # Services `7b-chat-v1` would not be DNS-1035 labels
        (("models",), "Chat"),
        (("models", "m", "deployments"), "V1"),
        (("models", "m", "environments"), "prod_eu"),
    ],
)
def test_the_schema_flags_names_kubernetes_would_refuse(path: tuple[str, ...], name: str) -> None:
    schema = json.loads((ROOT / "schema" / "stack.schema.json").read_text())
    good: dict = {"version": 1, "cluster": {"name": "c"}, "models": {"m": {
        "image": "org/m:1", "deployments": {"v1": {}}, "environments": {"prod": {
            "deployment": "v1"}}}}}  # fmt: skip
    jsonschema.validate(good, schema)
    mapping = good
    for key in path:
        mapping = mapping[key]
    mapping[name] = mapping.pop(next(iter(mapping)))
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(good, schema)

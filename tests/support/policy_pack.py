"""The Pulumi policy pack run as the engine runs it, on the resources a stack registers: what
it reports, numbers as the engine hands them over, and its facts compared with iac's."""

from __future__ import annotations

from pathlib import Path

from pulumi_policy import PolicyResource, PolicyResourceOptions, StackValidationArgs

from iac.compile import compile_stack
from iac.policy.facts import STACK_ONLY
from iac.validate import check_stack
from tests.support.stacks import write_stack

HEAD = """\
version: 1
cluster: {name: c, provisioner: karpenter}
"""
"""The stack around the `models:` text `pack_resources` is given."""


def pack_resources(tmp_path: Path, models: str) -> list[PolicyResource]:
    """The resources a pack sees for a stack of `models` (a `models:` block, unindented)."""
    path = write_stack(tmp_path, HEAD + models)
    compiled = compile_stack(check_stack(str(path)))
    options = PolicyResourceOptions(False, [], False, [], None, [])  # type: ignore[arg-type]
    type_of = {"Deployment": "kubernetes:apps/v1:Deployment"}
    return [
        PolicyResource(
            resource_type=type_of.get(o["kind"], f"kubernetes:{o['apiVersion']}:{o['kind']}"),
            props=o,
            urn=f"urn:pulumi:s::p::{o['kind']}::{o['metadata']['name']}",
            name=o["metadata"]["name"],
            opts=options,
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for o in compiled.objects
    ]


def run_policy(
    policy: object, resources: list[PolicyResource], config: dict
) -> list[tuple[str, str | None]]:
    """What `policy` reports on `resources` with `config`: (message, urn or None) each."""
    reported: list[tuple[str, str | None]] = []
    args = StackValidationArgs(resources, config)
    policy.validate(args, lambda message, urn: reported.append((message, urn)))  # type: ignore[attr-defined]
    return reported


def as_engine_sends(value: object) -> object:
    """Properties as the engine hands them to a pack: every number a float."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: as_engine_sends(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_engine_sends(v) for v in value]
    return value


def comparable_facts(facts: object) -> dict[str, object]:
    """A policy fact's values but those only the stack knows (the pack sees objects only)."""
    values = {k: getattr(facts, k) for k in facts.__slots__}  # type: ignore[attr-defined]
    for key in (*STACK_ONLY, "from_stack"):
        values.pop(key)
    return values

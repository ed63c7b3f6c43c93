"""Compiled objects share read-only parts (tolerations, probes, HPA behaviour... built once,
iac/compile), and a plan's head reuses the base's objects themselves. That is only safe
while nothing changes a compiled object: every consumer here runs on a compile and must
leave it as it was."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.policy import violations
from iac.policy.facts import facts_from_objects
from iac.program.deploy import Deployed, deploy
from iac.render.directory import write_directory
from iac.render.text import render
from iac.simulate.setup import setup_for
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT
from tests.support.program_helpers import run_program

SOURCES = sorted((ROOT / "examples").glob("*/stack.yaml")) + sorted(
    (ROOT / "stacks").glob("*.yaml")
)


def _containers(value: Any) -> list[int]:
    """The ids of every dict and list inside `value`."""
    found = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(id(item))
            stack.extend(item.values())
        elif isinstance(item, list):
            found.append(id(item))
            stack.extend(item)
    return found


def test_compiled_objects_do_share_parts() -> None:
    """What makes the test below matter: one container in several objects."""
    compiled = compile_stack(check_stack(str(ROOT / "stacks" / "demo.yaml")))
    seen = Counter(i for obj in compiled.objects for i in set(_containers(obj)))
    assert max(seen.values()) > 1


@pytest.mark.parametrize(
    "path", SOURCES, ids=lambda p: p.parent.name if p.name == "stack.yaml" else p.stem
)
def test_no_consumer_changes_a_compiled_object(path: Path, tmp_path: Path) -> None:
    stack = check_stack(str(path))
    compiled = compile_stack(stack)
    objects, cloud = copy.deepcopy(compiled.objects), copy.deepcopy(compiled.cloud)

    render(compiled.objects, "yaml", compiled.cloud)
    render(compiled.objects, "json", compiled.cloud)
    write_directory(compiled.objects, str(tmp_path / "yaml"), cloud=compiled.cloud)
    write_directory(compiled.objects, str(tmp_path / "json"), "json", cloud=compiled.cloud)
    head = compile_stack(stack, reuse=compiled)  # shares the base's objects
    make_plan(compiled, head, stack.spec.pricing, stack.spec.pricing)
    violations(stack, compiled.release)
    facts_from_objects(compiled.objects)
    for model in compiled.release.models.values():
        for environment in model.environments:
            setup_for(compiled, stack.spec.pricing, model.name, environment)

    def entry() -> Deployed:
        return deploy(compiled)

    run_program(None, entry=entry)
    assert compiled.objects == objects
    assert compiled.cloud == cloud

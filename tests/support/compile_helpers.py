"""Compile stack text in tests."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from iac.compile import Compiled
from iac.diagnostics import Diagnostics
from iac.object_validation import ObjectValidator
from tests.support.stacks import ROOT as ROOT
from tests.support.stacks import compiled_stack


@functools.cache
def object_validator() -> ObjectValidator:
    """The offline object validator, built once (it reads every schema)."""
    return ObjectValidator()


def compile_text(tmp_path: Path, text: str, diagnostics: Diagnostics | None = None) -> Compiled:
    """Compile stack text; every object it yields must also pass offline schema validation."""
    compiled = compiled_stack(tmp_path, text, diagnostics=diagnostics)
    problems = [p for obj in compiled.objects for p in object_validator().problems(obj)]
    assert problems == []
    return compiled


def find(compiled: Compiled, kind: str, name: str) -> dict[str, Any]:
    for obj in compiled.objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(
        f"no {kind} {name} in {[o['kind'] + '/' + o['metadata']['name'] for o in compiled.objects]}"
    )


def kinds(compiled: Compiled, name: str) -> set[str]:
    return {o["kind"] for o in compiled.objects if o["metadata"]["name"] == name}

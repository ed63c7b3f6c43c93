"""Every example and every stack of the repository is valid, and examples are numbered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iac.compile import APPLY_ORDER
from iac.program import kinds
from iac.validate import check_stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/stack.yaml"))
STACKS = sorted((ROOT / "stacks").glob("*.yaml"))


def test_there_are_examples_and_stacks() -> None:
    assert len(EXAMPLES) >= 3
    assert STACKS


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_numbered_and_valid(example: Path) -> None:
    assert re.match(r"^\d\d-[a-z0-9-]+$", example.name)
    stack = check_stack(str(example))
    assert stack.models
    first_line = (example / "stack.yaml").read_text().splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema=")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_readme_lists_the_example(example: Path) -> None:
    assert f"`{example.name}`" in (ROOT / "README.md").read_text()


def test_readme_names_what_every_custom_resource_needs_in_the_cluster() -> None:
    # A new kind of custom resource needs its component, minimum version and what happens
    # without it in "Cluster prerequisites" (a cluster without its CRD fails `pulumi up`).
    readme = (ROOT / "README.md").read_text()
    section = readme.partition("## Cluster prerequisites\n")[2].partition("\n## ")[0]
    emitted = sorted(kind for kind in kinds.CUSTOM if kind[1] in APPLY_ORDER)
    assert emitted
    for api_version, kind in emitted:
        assert f"`{kind}` (`{api_version}`)" in section


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_stack_is_valid(path: Path) -> None:
    assert check_stack(str(path)).models


def test_ci_examples_are_valid_yaml_running_iac_plan() -> None:
    import yaml

    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (ROOT / "examples" / "ci" / name).read_text()
        assert yaml.safe_load(text)
        assert "iac plan" in text
        assert "--format markdown" in text
        assert "<!-- iac-plan -->" in text

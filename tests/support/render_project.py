"""A Pulumi project for the end-to-end tests that run the real engine without a cluster: the
Kubernetes provider renders every object to `rendered/` (`iac:renderDir`)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Engine(Protocol):
    """What of the tests' Pulumi engine (tests/e2e/conftest.py) a project needs."""

    def run(self, *args: str, cwd: Path) -> object: ...


PROGRAM = "from iac.program import main\n\nmain()\n"
"""The `__main__.py` `iac init` writes."""


def render_project(
    tmp_path: Path, engine: Engine, stack_text: str, stack: str = "dev", program: bool = True
) -> Path:
    """`tmp_path/project`: `stacks/<stack>.yaml` holding `stack_text`, the program `iac init`
    writes (unless `program` is false: `iac up` brings its own), Pulumi stack `stack` created
    rendering to `rendered/`. The project's name is the test's, so that tests sharing the
    session's backend never share a stack."""
    directory = tmp_path / "project"
    (directory / "stacks").mkdir(parents=True)
    (directory / "stacks" / f"{stack}.yaml").write_text(stack_text)
    if program:
        (directory / "__main__.py").write_text(PROGRAM)
    (directory / "Pulumi.yaml").write_text(
        f"name: iac-e2e-{tmp_path.name.replace('_', '-')[-40:]}\nruntime: python\n"
    )
    engine.run("stack", "init", stack, cwd=directory)
    engine.run("config", "set", "iac:renderDir", "rendered", cwd=directory)
    return directory

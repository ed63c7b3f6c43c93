"""A Pulumi project (made by `iac init`) whose stack compiles a given stack file and applies
it to a live cluster (tests/live), through the real engine (tests/e2e/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner

from iac.cli import cli
from tests.live.cluster import LiveCluster

if TYPE_CHECKING:
    from conftest import PulumiEngine


def live_project(
    engine: PulumiEngine,
    cluster: LiveCluster,
    stack_file: Path,
    directory: Path,
    stack: str = "dev",
) -> Path:
    """`iac init DIRECTORY`, a Pulumi stack STACK with `iac:stack` = ``stack_file`` and the
    cluster's kubeconfig in `iac:kubeconfig` (as a secret, the way a user sets it)."""
    name = "iac-live-" + directory.parent.name.replace("_", "-")[-30:]
    created = CliRunner().invoke(cli, ["init", str(directory), "--name", name])
    assert created.exit_code == 0, created.output
    engine.run("stack", "init", stack, cwd=directory)
    engine.run("config", "set", "iac:stack", str(stack_file.resolve()), cwd=directory)
    engine.run(
        "config", "set", "--secret", "iac:kubeconfig", str(cluster.kubeconfig), cwd=directory
    )
    return directory

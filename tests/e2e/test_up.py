"""`iac up` through the real Pulumi engine (CLI, Python language host, Kubernetes provider
rendering to a directory, local file backend): the first apply renders what `iac render`
prints, a second changes nothing, a promotion runs its stages and ends at the head, an
injected failure rolls back, and a secret never appears in plain text."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.validate import check_stack

if TYPE_CHECKING:
    from conftest import PulumiEngine

ROOT = Path(__file__).resolve().parents[2]
STACK_NAME = "dev"
"""The stack file's name; each test has a Pulumi stack of its own (the backend is shared)."""
SECRET = "canary-kubeconfig-7f3a9c"


@pytest.fixture
def project(tmp_path: Path, pulumi_engine: PulumiEngine, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Pulumi project with the demo stack, rendering to a folder instead of a cluster."""
    for key, value in pulumi_engine.env.items():
        monkeypatch.setenv(key, value)
    directory = tmp_path / "project"
    (directory / "stacks").mkdir(parents=True)
    shutil.copytree(ROOT / "modules", directory / "modules")
    # The demo's 5-minute stabilization would be waited for real: none in tests.
    text = (
        (ROOT / "stacks" / "demo.yaml")
        .read_text()
        .replace("stabilization: 5m", "stabilization: 0s")
    )
    (directory / "stacks" / "dev.yaml").write_text(text)
    (directory / "Pulumi.yaml").write_text(
        f"name: iac-e2e-{tmp_path.name.replace('_', '-')[-40:]}\nruntime: python\n"
    )
    pulumi_engine.run("stack", "init", STACK_NAME, cwd=directory)
    pulumi_engine.run("config", "set", "iac:renderDir", "rendered", cwd=directory)
    # A secret the user keeps in the stack config (a token for their own resources, say).
    pulumi_engine.run("config", "set", "--secret", "registryToken", SECRET, cwd=directory)
    return directory


def up(project: Path, *args: str) -> Any:
    return CliRunner().invoke(
        cli,
        [
            "up",
            str(project / "stacks" / "dev.yaml"),
            "--stack",
            STACK_NAME,
            "--project-dir",
            str(project),
            "--yes",
            *args,
        ],
    )


def rendered(project: Path) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted((project / "rendered").rglob("*.yaml"))]


def production_backends(project: Path) -> list[dict[str, Any]]:
    """Where the rendered route of llama-3-8b sends `/environments/production`."""
    routes = [
        o
        for o in rendered(project)
        if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "llama-3-8b"
    ]
    rules = routes[0]["spec"]["rules"]
    production = next(
        r for r in rules if r["matches"][0]["path"]["value"] == "/environments/production"
    )
    backends: list[dict[str, Any]] = production["backendRefs"]
    return backends


def comparable(obj: dict[str, Any]) -> tuple[str, str]:
    return (
        f"{obj['apiVersion']}/{obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}",
        json.dumps(obj, sort_keys=True),
    )


@pytest.mark.e2e
def test_up_renders_what_iac_render_prints_and_is_idempotent(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    result = up(project)
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip().endswith("done")
    expected = compile_stack(check_stack(str(project / "stacks" / "dev.yaml"))).objects
    assert sorted(map(comparable, rendered(project))) == sorted(map(comparable, expected))
    again = up(project)
    assert again.exit_code == 0, again.output
    assert "No changes." in again.stdout
    preview = pulumi_engine.run(
        "preview", "--stack", STACK_NAME, "--json", cwd=project, check=False
    )
    state = "".join(p.read_text() for p in pulumi_engine.backend_dir.rglob("*.json"))
    assert state  # the local backend holds the state
    assert SECRET not in state
    assert SECRET not in (project / f"Pulumi.{STACK_NAME}.yaml").read_text()
    assert SECRET not in result.output + again.output + preview.stdout


@pytest.mark.e2e
def test_a_promotion_rolls_out_in_stages_and_a_failure_rolls_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert up(project).exit_code == 0
    stack = project / "stacks" / "dev.yaml"
    promoted = CliRunner().invoke(
        cli, ["promote", str(stack), "llama-3-8b", "v4", "--to", "production", "--copy"]
    )
    assert promoted.exit_code == 0, promoted.output
    result = up(project)
    assert result.exit_code == 0, result.output + result.stderr
    # v4-production's first replica comes up beside v3's two before any traffic moves.
    assert "stage 1/4: llama-3-8b/production: 0% to v4-production" in result.stderr
    assert "stage 2/4: llama-3-8b/production: 50% to v4-production" in result.stderr
    assert production_backends(project) == [{"name": "llama-3-8b-v4-production", "port": 8000}]

    # Promote back, with a failure injected into the second stage: the first stage applied,
    # then everything returns to what was live.
    CliRunner().invoke(cli, ["promote", str(stack), "llama-3-8b", "v3", "--to", "production"])
    from iac.program import automation

    real_apply = automation.AutomationEngine.apply

    def failing(self: Any, compiled: Any, progress: Any) -> None:
        if progress.stage == 1 and progress.status == "rolling":
            from iac.rollout.executor import EngineError

            raise EngineError("injected: Deployment did not become ready")
        real_apply(self, compiled, progress)

    monkeypatch.setattr(automation.AutomationEngine, "apply", failing)
    result = up(project)
    assert result.exit_code == 1
    assert "stage 2 failed: injected: Deployment did not become ready" in result.stderr
    assert "rolling back to the last good release" in result.stderr
    assert result.stdout.strip().endswith("rolled-back: injected: Deployment did not become ready")
    assert production_backends(project) == [{"name": "llama-3-8b-v4-production", "port": 8000}]


def _iac_up_process(project: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`iac up` as its own process group (as a terminal runs it), stderr to `log`."""
    iac = Path(sys.executable).parent / "iac"
    with log.open("wb") as err:
        return subprocess.Popen(
            [str(iac), "up", str(project / "stacks" / "dev.yaml"), "--stack", STACK_NAME,
             "--project-dir", str(project), "--yes"],
            env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, f"iac up ended before {text!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{log.read_text()}"
        time.sleep(0.05)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("stage", "signal_number"),
    [(1, signal.SIGKILL), (2, signal.SIGKILL), (3, signal.SIGKILL), (2, signal.SIGINT)],
    ids=["crash-in-stage-1", "crash-in-stage-2", "crash-in-stage-3", "ctrl-c-in-stage-2"],
)
def test_an_interrupted_up_leaves_a_consistent_stack_and_the_next_run_finishes(
    project: Path, pulumi_engine: PulumiEngine, tmp_path: Path, stage: int, signal_number: int
) -> None:
    """Interrupt `iac up` while a stage is being applied, by a crash (SIGKILL: no cleanup at
    all) or Ctrl-C (SIGINT to the process group, Pulumi included). The stack file is never
    touched, the recorded live release is still the one the rollout started from (so
    `iac plan --base live` shows the whole change), and the next `iac up` resumes or rolls
    forward to the head, ending where an uninterrupted run ends."""
    assert up(project).exit_code == 0
    stack = project / "stacks" / "dev.yaml"
    promoted = CliRunner().invoke(
        cli, ["promote", str(stack), "llama-3-8b", "v4", "--to", "production", "--copy"]
    )
    assert promoted.exit_code == 0, promoted.output
    head_text = stack.read_bytes()
    log = tmp_path / "up.log"
    process = _iac_up_process(project, pulumi_engine.env, log)
    _wait_for(log, f"stage {stage}/4:", process)
    time.sleep(1.0)  # into the stage's `pulumi up`
    os.killpg(process.pid, signal_number)
    process.communicate(timeout=300)
    assert process.returncode != 0, log.read_text()
    assert stack.read_bytes() == head_text

    # What is recorded as live is never the head before its last stage finished.
    plan = CliRunner().invoke(
        cli,
        ["plan", str(stack), "--base", "live", "--stack", STACK_NAME, "--project-dir",
         str(project), "--format", "json"],
    )  # fmt: skip
    assert plan.exit_code == 0, plan.output
    events = [(e["kind"], e["model"]) for e in json.loads(plan.stdout)["events"]]
    assert ("promote", "llama-3-8b") in events

    again = up(project)
    assert again.exit_code == 0, again.output + again.stderr
    assert again.stdout.strip().endswith("done")
    expected = compile_stack(check_stack(str(stack))).objects
    assert sorted(map(comparable, rendered(project))) == sorted(map(comparable, expected))
    final = up(project)
    assert final.exit_code == 0
    assert "No changes." in final.stdout

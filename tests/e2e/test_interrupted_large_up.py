"""Large first applies killed at a random point (issue #24), through the real engine (the
Kubernetes provider rendering to a folder, local file backend).

What Pulumi's state keeps of a killed update, with and without per-step checkpoints
(`PULUMI_SKIP_CHECKPOINTS`), and that `iac up`, which skips them, loses no object: the next
run registers again every object the killed one may have created, and a next run that would
leave some of them unknown to Pulumi is refused until the stack files the killed one was
applying are applied. Each kill point is drawn at random (the seed is in the test's output)
between a tenth and nine tenths of the objects written."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from benchmarks.generate import large_stack
from iac.compile import compile_stack, object_id
from iac.validate import check_stack
from tests.support.render_project import render_project

if TYPE_CHECKING:
    from conftest import PulumiEngine

STACK = "dev"
MODELS = 25
REMOVED = ("model-0003", "model-0011", "model-0017")
"""Models taken out of the stack file after a kill: their objects must not be left behind."""
KUBERNETES = "kubernetes:"


@pytest.fixture
def project(tmp_path: Path, pulumi_engine: PulumiEngine) -> Path:
    """A project as `iac init` writes it (`__main__.py` runs `iac.program.main()`), with a
    25-model stack (455 objects) rendering to `rendered/`."""
    return render_project(tmp_path, pulumi_engine, large_stack(MODELS), STACK)


def written(project: Path) -> set[str]:
    """The objects whose manifest the provider has written (a file cut short by the kill
    is left out)."""
    found = set()
    for path in (project / "rendered").rglob("*.yaml"):
        try:
            obj = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(obj, dict) and "metadata" in obj:
            found.add(object_id(obj))
    return found


def state(engine: PulumiEngine, project: Path) -> tuple[list[str], list[str]]:
    """The objects the stack's state records (one entry per resource, duplicates kept), and
    those of its pending operations (begun, not known to have completed)."""
    exported = engine.run("stack", "export", "--stack", STACK, cwd=project).stdout
    deployment = json.loads(exported)["deployment"]

    def ids(resources: list[dict[str, Any]]) -> list[str]:
        return [
            object_id(r["inputs"])
            for r in resources
            if r["type"].startswith(KUBERNETES) and not r["type"].startswith("pulumi:providers")
        ]

    pending = [op["resource"] for op in deployment.get("pending_operations") or []]
    return ids(deployment.get("resources") or []), ids(pending)


def head_objects(project: Path) -> set[str]:
    compiled = compile_stack(check_stack(str(project / "stacks" / f"{STACK}.yaml")))
    return {object_id(obj) for obj in compiled.objects}


def kill_when_written(
    process: subprocess.Popen[bytes], project: Path, share: float, log: Path, sig: int
) -> None:
    """Send `sig` to the process group once `share` of the stack's objects are written."""
    wanted = int(share * len(head_objects(project)))
    deadline = time.monotonic() + 600
    while len(list((project / "rendered").rglob("*.yaml"))) < wanted:
        assert process.poll() is None, f"ended before {wanted} objects:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"not {wanted} objects in 600 s:\n{log.read_text()}"
        time.sleep(0.02)
    os.killpg(process.pid, sig)
    process.wait(timeout=300)


def kill_point(request: pytest.FixtureRequest, low: float = 0.1, high: float = 0.9) -> float:
    seed = random.randrange(2**32)
    share = random.Random(seed).uniform(low, high)
    print(f"{request.node.name}: kill point {share:.2f} of the objects (seed {seed})")
    return share


def start(command: list[str], project: Path, env: dict[str, str], log: Path) -> Any:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def iac_up(project: Path, env: dict[str, str], stack_file: Path | None = None) -> Any:
    stack_file = stack_file or project / "stacks" / f"{STACK}.yaml"
    return subprocess.run(
        [str(Path(sys.executable).parent / "iac"), "up", str(stack_file), "--stack", STACK,
         "--project-dir", str(project), "--yes"],
        env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize("checkpoints", [True, False], ids=["checkpoints", "skip-checkpoints"])
def test_what_the_state_keeps_of_a_killed_pulumi_up(
    project: Path,
    pulumi_engine: PulumiEngine,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    checkpoints: bool,
) -> None:
    """With a checkpoint per step, every object written is in the state (as a resource, or
    a pending operation the next update warns about). With checkpoints skipped, the state is
    the one before the update: none of the objects it created is recorded. This is why
    `iac up` keeps its own record of the apply in flight."""
    env = dict(pulumi_engine.env)
    if not checkpoints:
        env["PULUMI_SKIP_CHECKPOINTS"] = "true"
    log = tmp_path / "up.log"
    command = [str(pulumi_engine.pulumi), "up", "--yes", "--skip-preview", "--non-interactive"]
    process = start(command, project, env, log)
    kill_when_written(process, project, kill_point(request), log, signal.SIGKILL)
    created = written(project)
    assert created
    recorded, pending = state(pulumi_engine, project)
    if checkpoints:
        assert created <= set(recorded) | set(pending)
    else:
        assert recorded == []
        assert pending == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sig", "edit"),
    [(signal.SIGKILL, False), (signal.SIGKILL, True), (signal.SIGINT, True)],
    ids=["kill-same-head", "kill-models-removed", "ctrl-c-models-removed"],
)
def test_an_iac_up_killed_at_a_random_point_loses_no_object(
    project: Path,
    pulumi_engine: PulumiEngine,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    sig: int,
    edit: bool,
) -> None:
    """Kill (or Ctrl-C) the first `iac up` of a 25-model stack at a random point. The next
    `iac up` of the same stack file ends at the head; one with models removed is refused
    while the state may lack objects the killed update created (after a Ctrl-C the engine
    saved its state, and it goes ahead). Either way the end is the head: every object
    rendered is declared and recorded once in the state, and another `iac up` changes
    nothing."""
    env = dict(pulumi_engine.env)
    stack_file = project / "stacks" / f"{STACK}.yaml"
    log = tmp_path / "up.log"
    command = [str(Path(sys.executable).parent / "iac"), "up", str(stack_file), "--stack", STACK,
               "--project-dir", str(project), "--yes"]  # fmt: skip
    process = start(command, project, env, log)
    kill_when_written(process, project, kill_point(request), log, sig)
    assert process.returncode != 0, log.read_text()
    before = written(project)

    record = project / ".iac" / f"{STACK}.in-flight.json"
    if sig == signal.SIGKILL:
        # iac up skips the checkpoints: the engine saved nothing, iac's record says what
        # was being applied.
        assert state(pulumi_engine, project) == ([], [])
        assert record.is_file()
        assert set(json.loads(record.read_text())["objects"]) >= before
    else:
        assert not record.exists()  # iac waited for the engine to save its state
        assert set(state(pulumi_engine, project)[0]) >= before
    text = stack_file.read_text()
    if edit:
        kept = text.split("\n  model-")
        stack_file.write_text(
            "\n  model-".join(
                [kept[0]] + [part for part in kept[1:] if f"model-{part[:4]}" not in REMOVED]
            )
        )

    again = iac_up(project, env)
    if sig == signal.SIGKILL and edit:
        # Refused: the removed models' objects may exist without Pulumi knowing.
        assert again.returncode == 1, again.stdout + again.stderr
        assert "was killed before Pulumi saved its state" in again.stderr
        assert "Nothing applied" in again.stderr
        # The stack files it was applying, written out (under their common folder: here
        # the root, the generated stack importing the repository's modules by absolute path).
        found = re.search(rf"`iac up (\S+) --stack {STACK}`", again.stderr)
        assert found, again.stderr
        interrupted = Path(found[1])
        assert interrupted.is_relative_to(project / ".iac" / f"{STACK}.in-flight")
        assert interrupted.read_text() == text
        first = iac_up(project, env, interrupted)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.strip().endswith("done")
        again = iac_up(project, env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip().endswith("done")
    assert not record.exists()

    head = head_objects(project)
    assert written(project) == head
    recorded, pending = state(pulumi_engine, project)
    assert [oid for oid, n in Counter(recorded).items() if n > 1] == []
    assert set(recorded) == head
    assert pending == []
    final = iac_up(project, env)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "No changes." in final.stderr + final.stdout


@pytest.mark.e2e
def test_without_the_record_a_killed_up_leaves_objects_pulumi_never_deletes(
    project: Path, pulumi_engine: PulumiEngine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """What the record guards against, shown by taking it away: `iac up` killed late in a
    first apply, three models removed, the record deleted; the next `iac up` ends `done`,
    yet the removed models' objects the killed update wrote are still there, in no state."""
    stack_file = project / "stacks" / f"{STACK}.yaml"
    log = tmp_path / "up.log"
    command = [str(Path(sys.executable).parent / "iac"), "up", str(stack_file), "--stack", STACK,
               "--project-dir", str(project), "--yes"]  # fmt: skip
    process = start(command, project, dict(pulumi_engine.env), log)
    kill_when_written(process, project, kill_point(request, 0.85, 0.95), log, signal.SIGKILL)
    removed = {oid for oid in written(project) if any(f"/{m}" in oid for m in REMOVED)}
    assert removed  # the removed models' objects were written before the kill
    (project / ".iac" / f"{STACK}.in-flight.json").unlink()
    parts = stack_file.read_text().split("\n  model-")
    stack_file.write_text(
        "\n  model-".join([parts[0]] + [p for p in parts[1:] if f"model-{p[:4]}" not in REMOVED])
    )
    again = iac_up(project, dict(pulumi_engine.env))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip().endswith("done")
    assert written(project) - head_objects(project) == removed
    assert removed.isdisjoint(state(pulumi_engine, project)[0])

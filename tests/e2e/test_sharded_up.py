"""A stack applied as several Pulumi stacks (`cluster.shards`, issue #24), through the real
engine (the Kubernetes provider rendering to a folder, local file backend).

What sharding must keep: what `iac render` prints is what is applied (the union of the
Pulumi stacks' objects, each once); a second `iac up` changes nothing; a change updates only
the Pulumi stacks whose objects it changes; plain `pulumi preview` of every Pulumi stack
agrees with `iac up` (no changes after it); changing `cluster.shards` moves the models'
state between Pulumi stacks without touching an object; an `iac up` killed at a random point
loses nothing."""

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

from benchmarks.generate import changed_stack, large_stack
from iac.compile import compile_stack, object_id
from iac.program.layout import owner
from iac.program.shards import Part, parts, shard_of
from iac.validate import check_stack
from tests.support.render_project import render_project

if TYPE_CHECKING:
    from conftest import PulumiEngine

STACK = "dev"
MODELS = 8
SHARDS = 3
KUBERNETES = "kubernetes:"
SHARD_PREFIX = r"(?:\S+\.s\d+ \| )?"
"""What `iac up` puts before each line of a model shard's update: its Pulumi stack's name."""
CHANGED_OBJECT = re.compile(
    rf"^{SHARD_PREFIX}\s*[-+~]\s+kubernetes:\S+ (\S+) (creating|updating|deleting)"
)
"""A line of Pulumi's progress naming an object it creates, updates or deletes."""


@pytest.fixture
def project(tmp_path: Path, pulumi_engine: PulumiEngine) -> Path:
    """A project as `iac init` writes it, with an 8-model stack in 3 shards rendering to
    `rendered/`."""
    return render_project(tmp_path, pulumi_engine, large_stack(MODELS, shards=SHARDS), STACK)


def stack_file(project: Path) -> Path:
    return project / "stacks" / f"{STACK}.yaml"


def iac_up(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "iac"), "up", str(stack_file(project)), "--stack",
         STACK, "--project-dir", str(project), "--yes"],
        env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def done(result: subprocess.CompletedProcess[str]) -> str:
    """The run's output (the plan, then Pulumi's), once it is known to have ended `done`."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("done"), result.stdout + result.stderr
    return result.stdout + result.stderr


def head_objects(project: Path) -> list[dict[str, Any]]:
    return compile_stack(check_stack(str(stack_file(project)))).objects


def rendered(project: Path) -> dict[str, dict[str, Any]]:
    """The manifests the provider wrote, by object id."""
    found = {}
    for path in (project / "rendered").rglob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        found[object_id(obj)] = obj
    return found


def pulumi_stacks(engine: PulumiEngine, project: Path) -> set[str]:
    listed = json.loads(engine.run("stack", "ls", "--json", cwd=project).stdout)
    return {entry["name"] for entry in listed}


def states(engine: PulumiEngine, project: Path) -> dict[str, list[str]]:
    """Per Pulumi stack of the project, the objects its state records (duplicates kept),
    failing on a pending operation."""
    found = {}
    for name in sorted(pulumi_stacks(engine, project)):
        exported = engine.run("stack", "export", "--stack", name, cwd=project).stdout
        deployment = json.loads(exported)["deployment"]
        assert not deployment.get("pending_operations"), name
        found[name] = [
            object_id(r["inputs"])
            for r in deployment.get("resources") or []
            if r["type"].startswith(KUBERNETES) and not r["type"].startswith("pulumi:providers")
        ]
    return found


def updated_stacks(output: str) -> list[str]:
    """The Pulumi stacks an `iac up` updated, in order (Pulumi prints `Updating (NAME):`)."""
    return re.findall(rf"^{SHARD_PREFIX}Updating \((\S+)\):", output, flags=re.MULTILINE)


def changed_objects(output: str) -> set[str]:
    return {found[1] for line in output.splitlines() if (found := CHANGED_OBJECT.match(line))}


def assert_at_head(engine: PulumiEngine, project: Path, shards: int) -> None:
    """The rendered objects are the head's; each Pulumi stack's state holds exactly the
    objects of its part, each once; the Pulumi stacks are those of `shards`."""
    head = head_objects(project)
    assert rendered(project) == {object_id(obj): obj for obj in head}
    recorded = states(engine, project)
    assert set(recorded) == {p.stack_name(STACK) for p in parts(shards)} & set(recorded)
    for name, ids in recorded.items():
        assert [oid for oid, n in Counter(ids).items() if n > 1] == [], name
    by_stack: dict[str, set[str]] = {}
    for obj in head:
        model = owner(obj)
        part = Part(None if model is None or shards == 1 else shard_of(model, shards), shards)
        by_stack.setdefault(part.stack_name(STACK), set()).add(object_id(obj))
    assert {name: set(ids) for name, ids in recorded.items() if ids} == by_stack


def assert_previews_show_no_change(engine: PulumiEngine, project: Path) -> None:
    """Plain `pulumi preview` of every Pulumi stack (the program `iac init` writes, reading
    its part from the stack's name) agrees with what `iac up` applied."""
    for name in sorted(pulumi_stacks(engine, project)):
        engine.run("preview", "--stack", name, "--expect-no-changes", cwd=project)


@pytest.mark.e2e
def test_a_sharded_stack_applies_each_part_once_and_a_change_only_its_shard(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    env = dict(pulumi_engine.env)
    first = done(iac_up(project, env))
    assert updated_stacks(first)[0] == STACK  # the cluster's objects first
    assert updated_stacks(first)[-1] == STACK  # and its outputs last
    assert_at_head(pulumi_engine, project, SHARDS)
    assert_previews_show_no_change(pulumi_engine, project)

    again = done(iac_up(project, env))
    assert "No changes." in again
    assert updated_stacks(again) == [STACK]  # only the outputs of the run
    assert changed_objects(again) == set()

    shard = Part(shard_of("model-0000", SHARDS), SHARDS).stack_name(STACK)
    # As a run killed between creating this shard's stack and setting its config leaves it:
    # the next apply of the shard gives it the cluster stack's config again.
    pulumi_engine.run("config", "rm", "iac:renderDir", "--stack", shard, cwd=project)
    stack_file(project).write_text(changed_stack(stack_file(project).read_text(), every=100))
    promoted = done(iac_up(project, env))
    assert set(updated_stacks(promoted)) == {STACK, shard}
    touched = changed_objects(promoted)
    assert touched
    # Model 0's objects, and the cluster-wide ones a promotion moves: the GPU pool's
    # demand (NodePool) and the images it pre-pulls (DaemonSet).
    others = {name for name in touched if "model-0000" not in name}
    assert {name.split("/")[0] for name in others} <= {"NodePool", "DaemonSet"}, touched
    assert_at_head(pulumi_engine, project, SHARDS)
    assert_previews_show_no_change(pulumi_engine, project)  # each to the folder: configured


@pytest.mark.e2e
def test_changing_the_shard_count_moves_state_and_no_object(
    project: Path, pulumi_engine: PulumiEngine
) -> None:
    """3 shards → 2 → 1 (one Pulumi stack, as without sharding) → 4: each time the models'
    state moves (`pulumi state move`), no object is created, updated or deleted, Pulumi
    stacks of the old layout are removed, and every preview afterwards shows no change."""
    env = dict(pulumi_engine.env)
    done(iac_up(project, env))
    text = stack_file(project).read_text()
    for shards in (2, 1, 4):
        stack_file(project).write_text(
            text.replace(f", shards: {SHARDS}}}", f", shards: {shards}}}" if shards > 1 else "}")
        )
        output = done(iac_up(project, env))
        assert "Pulumi's state only, the objects stay" in output
        assert changed_objects(output) == set(), output
        assert_at_head(pulumi_engine, project, shards)
        assert pulumi_stacks(pulumi_engine, project) <= {p.stack_name(STACK) for p in parts(shards)}
        assert_previews_show_no_change(pulumi_engine, project)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("low", "high", "sig"),
    [(0.1, 0.5, signal.SIGKILL), (0.5, 0.9, signal.SIGKILL), (0.2, 0.8, signal.SIGINT)],
    ids=["early", "late", "ctrl-c"],
)
def test_a_sharded_iac_up_killed_part_way_loses_nothing(
    project: Path,
    pulumi_engine: PulumiEngine,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    low: float,
    high: float,
    sig: signal.Signals,
) -> None:
    """Kill the first `iac up` (SIGKILL, or Ctrl-C: SIGINT to its process group) once a
    share of the objects drawn at random between `low` and `high` is written (some shards
    done, some in flight side by side, others not started; the seed is printed); the next
    `iac up` ends at the head with each object once in the states, and a third changes
    nothing. After a Ctrl-C every engine running has saved its state: no record of an apply
    in flight is left."""
    seed = random.randrange(2**32)
    point = random.Random(seed).uniform(low, high)
    print(f"{request.node.name}: kill point {point:.2f} of the objects (seed {seed})")
    env = dict(pulumi_engine.env)
    log = tmp_path / "up.log"
    wanted = int(point * len(head_objects(project)))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "iac"), "up", str(stack_file(project)),
             "--stack", STACK, "--project-dir", str(project), "--yes"],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 300
    while len(list((project / "rendered").rglob("*.yaml"))) < wanted:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)
    os.killpg(process.pid, sig)
    process.wait(timeout=120)
    assert process.returncode != 0
    if sig == signal.SIGINT:
        assert list((project / ".iac").glob("*.in-flight.json")) == [], log.read_text()

    done(iac_up(project, env))
    assert_at_head(pulumi_engine, project, SHARDS)
    final = iac_up(project, env)
    output = done(final)
    assert "No changes." in output
    assert changed_objects(output) == set()

"""Which Pulumi stacks `iac up` updates on a sharded stack (`iac.program.sharded`): those
whose objects change, and again any whose last update did not end. The Pulumi updates are
recorded here, not run (tests/e2e/test_sharded_up.py runs them with the engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.generate import changed_stack, large_stack
from iac.compile import Compiled, compile_stack
from iac.program.automation import AutomationEngine
from iac.program.in_flight import InFlight
from iac.program.settings import ClusterAccess
from iac.program.sharded import ShardedEngine
from iac.program.shards import Part, shard_of
from iac.rollout.executor import Progress
from iac.validate import check_stack

MODELS = 8
SHARDS = 3
STACK = "dev"
PROMOTED = Part(shard_of("model-0000", SHARDS), SHARDS).stack_name(STACK)
"""The Pulumi stack of the one model the change promotes."""


def compiled(tmp_path: Path, text: str, name: str) -> Compiled:
    path = tmp_path / name
    path.write_text(text)
    return compile_stack(check_stack(str(path)))


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Compiled, Compiled]:
    """The base (8 models in 3 shards) and a head that promotes model 0 only."""
    text = large_stack(MODELS, shards=SHARDS)
    return compiled(tmp_path, text, "base.yaml"), compiled(
        tmp_path, changed_stack(text, every=100), "head.yaml"
    )


class Recorded(ShardedEngine):
    """The engine, with each Pulumi update recorded instead of run; the shard named in
    `failing` fails its next update as a Ctrl-C would."""

    def __init__(self, project: Path) -> None:
        (project / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
        super().__init__(project, STACK, {}, SHARDS, report=lambda _: None)
        self.updated: list[str] = []
        self.failing: str | None = None
        self._access = ClusterAccess(kubeconfig=None, context=None, render_dir="rendered")
        self.config = {}
        self.cluster.apply = self._record(self.cluster.stack_name)  # type: ignore[method-assign]

    def _record(self, name: str) -> Any:
        def apply(_compiled: Compiled, _progress: Progress) -> None:
            if name == self.failing:
                self.failing = None
                raise KeyboardInterrupt
            self.updated.append(name)

        return apply

    def _apply_shard(self, engine: AutomationEngine, compiled: Compiled, p: Progress) -> None:
        self._record(engine.stack_name)(compiled, p)


def progress(status: str) -> Progress:
    return Progress("head", 0, 1, status)


def test_only_the_shard_a_change_touches_is_updated_then_the_cluster_s_stack(
    tmp_path: Path, releases: tuple[Compiled, Compiled]
) -> None:
    base, head = releases
    engine = Recorded(tmp_path)
    engine.holding(base)
    engine.apply(head, progress("done"))
    assert engine.updated == [PROMOTED, STACK]
    engine.updated.clear()
    engine.apply(head, progress("done"))
    assert engine.updated == [STACK]  # the outputs only


def test_a_shard_whose_update_was_interrupted_is_applied_again_by_the_rollback(
    tmp_path: Path, releases: tuple[Compiled, Compiled]
) -> None:
    """The rollback after a Ctrl-C puts the base back where the interrupted update went,
    although the base is what the shard held before."""
    base, head = releases
    engine = Recorded(tmp_path)
    engine.holding(base)
    engine.failing = PROMOTED
    with pytest.raises(KeyboardInterrupt):
        engine.apply(head, progress("rolling"))
    engine.apply(base, progress("rolled-back"))
    assert engine.updated == [PROMOTED, STACK]


def test_a_shard_whose_update_was_killed_is_applied_again_by_the_next_run(
    tmp_path: Path, releases: tuple[Compiled, Compiled]
) -> None:
    """A record of an update in flight is left by a run killed outright: the next run
    applies that shard even when its stack files no longer change it (here: the base
    again), so its objects end as declared (or, when it would leave some of the killed
    update's objects unknown, `InFlight.check` refuses, tests/program/test_in_flight.py)."""
    base, _ = releases
    InFlight(tmp_path, PROMOTED).write([], {}, progress("rolling"))
    engine = Recorded(tmp_path)
    engine.holding(base)
    engine.apply(base, progress("done"))
    assert engine.updated == [PROMOTED, STACK]

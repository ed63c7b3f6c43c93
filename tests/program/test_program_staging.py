"""Plain `pulumi up` of a rolling promotion (issue #19, item 5): the program reads its
stack's last outputs and registers one stage per update, as `iac up` stages it, saying so
in the Pulumi output; `iac up` and `pulumi up` take over each other's rollouts.

The decisions are checked on `plan_update` with a fixed clock (exact messages), and the
program under mocks, run after run with each run's exports as the next run's live outputs,
as the engine would keep them. The real engine runs the same sequence in
tests/e2e/test_program_cli.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pulumi
import pytest

from iac.compile import Compiled, compile_stack, object_id
from iac.diff.plan import make_plan
from iac.program.outputs import ENDPOINTS, READY_AT, RELEASE, ROLLOUT, SOURCES, stack_sources
from iac.program.staging import Update, declares_rolling, format_time, plan_update
from iac.rollout.executor import Progress, digest, run
from iac.rollout.stages import Stage, stages
from iac.spec.resolved import ResolvedStack
from iac.validate import check_stack
from tests.support.program_helpers import READ_STACK_OUTPUTS, ProgramRun, run_program
from tests.support.stacks import llama_stack, write_stack

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "iac up stacks/dev.yaml --stack dev"
NOW = datetime(2026, 8, 21, 12, 0, 0, tzinfo=UTC)
STACK = llama_stack(
    """\
deployments: {v1: {}, v2: {image: vllm/vllm-openai:v0.7.0}}
environments:
  production:
    deployment: PROD
    autoscaling: {min_replicas: 2, max_replicas: 4}
    promotion: {strategy: STRATEGY, max_surge_percent: 50, stabilization: 5m GATES}
""",
    cluster="{name: c, namespace: models, domain: models.example.com}",
)
GATE = ", gates: [{name: errors, query: 'err{d=\"$deployment\"}', max: 0.02}]"
PROMOTION = "llama/production is promoted from v1 to v2 with `strategy: rolling`"


@dataclass
class Change:
    """A stack file at `path` promoting production from v1 (live) to v2 (the head)."""

    path: Path
    head: ResolvedStack
    stages: list[Stage]
    live: dict[str, Any]
    """The outputs a `pulumi up` of the base left."""

    def plan(self, live: dict[str, Any], now: datetime = NOW) -> Update:
        return plan_update(self.head, compile_stack(self.head), live, now, COMMAND)


def write(path: Path, prod: str, strategy: str = "rolling", gates: str = "") -> None:
    text = STACK.replace("PROD", prod).replace("STRATEGY", strategy).replace(" GATES", gates)
    write_stack(path.parent, text, path.name)


def promotion(tmp_path: Path, strategy: str = "rolling", gates: str = "") -> Change:
    path = tmp_path / "stack.yaml"
    write(path, "v1", strategy, gates)
    base = check_stack(str(path))
    live = {RELEASE: compile_stack(base).release.to_dict(), SOURCES: stack_sources(base)}
    write(path, "v2", strategy, gates)
    head = check_stack(str(path))
    plan = make_plan(compile_stack(base), compile_stack(head))
    return Change(path, head, stages(head, plan.rollouts), live)


def ids(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {object_id(o): o for o in objects}


def registered(run: ProgramRun) -> dict[str, dict[str, Any]]:
    assert run.deployed is not None
    return ids(run.deployed.compiled.objects)


def at(live: dict[str, Any], ready: datetime) -> dict[str, Any]:
    """`live` with its rollout's stage ready at `ready`."""
    return {**live, ROLLOUT: {**live[ROLLOUT], READY_AT: format_time(ready)}}


# --- the decision, with a fixed clock ------------------------------------------------------


def test_the_first_update_of_a_rolling_promotion_applies_its_first_stage(
    tmp_path: Path,
) -> None:
    change = promotion(tmp_path)
    assert [s.description for s in change.stages] == [
        "llama/production: 0% to v2 (1 replicas, v1 2)",
        "llama/production: 50% to v2 (2 replicas, v1 1)",
        "llama/production: 100% to v2 (2 replicas, v1 0)",
        "llama/production: v1 scale to zero",
    ]
    update = change.plan(change.live)
    assert ids(update.compiled.objects) == ids(change.stages[0].compile().objects)
    head = compile_stack(change.head)
    assert update.progress == Progress(digest(head), 0, 4, "rolling")
    assert not update.stamp_ready  # no stabilization follows a stage that moves no traffic
    assert update.ready_at is None
    # The live release stays the one the rollout started from until the last stage.
    assert update.sources == change.live[SOURCES]
    assert [(n.level, n.text) for n in update.notes] == [
        (
            "warning",
            f"{PROMOTION}: applied in one update, all of its traffic would move at once, so "
            "`pulumi up` applies one stage per update: this update applies stage 1/4 "
            "(llama/production: 0% to v2 (1 replicas, v1 2)). The rest: "
            f"`{COMMAND}` (each stage, its stabilization and gates, a rollback on failure), "
            "or `pulumi up` again after this update for stage 2/4",
        )
    ]


def live_after(update: Update) -> dict[str, Any]:
    """The outputs an update leaves (its stage's release, the sources, the progress)."""
    return {
        RELEASE: update.compiled.release.to_dict(),
        SOURCES: update.sources,
        ROLLOUT: update.progress.to_dict() if update.progress else None,
    }


def test_the_next_update_keeps_the_stage_until_its_stabilization_is_over(tmp_path: Path) -> None:
    change = promotion(tmp_path)
    # Stage 1 brings v2 up beside v1 and moves no traffic: nothing to stabilize after it.
    first = change.plan(change.live)
    second = change.plan(at(live_after(first), NOW))
    assert ids(second.compiled.objects) == ids(change.stages[1].compile().objects)
    assert second.progress is not None
    assert second.progress.stage == 1
    assert [n.text for n in second.notes] == [
        f"{PROMOTION}: this update applies stage 2/4 (llama/production: 50% to v2 (2 "
        f"replicas, v1 1)). The rest: `{COMMAND}` (each stage, its stabilization and gates, "
        "a rollback on failure), or `pulumi up` again 5m after this update (the "
        "stabilization) for stage 3/4"
    ]

    live = live_after(second)
    ready = NOW - timedelta(seconds=100)
    kept = change.plan(at(live, ready))
    assert ids(kept.compiled.objects) == ids(second.compiled.objects)
    assert kept.progress == second.progress
    assert (kept.ready_at, kept.stamp_ready) == (format_time(ready), False)
    assert kept.sources == change.live[SOURCES]
    assert [n.text for n in kept.notes] == [
        f"{PROMOTION}: stage 2/4 (llama/production: 50% to v2 (2 replicas, v1 1)) is "
        "stabilizing until 2026-08-21T12:03:20Z (3m20s left of 5m); this update keeps it. "
        f"The rest: `pulumi up` again after then for stage 3/4, or `{COMMAND}`"
    ]

    # Once it is over, the next stage: the last shift (no stabilization after it).
    third = change.plan(at(live, NOW - timedelta(minutes=5)))
    assert ids(third.compiled.objects) == ids(change.stages[2].compile().objects)
    assert third.progress is not None
    assert third.progress.stage == 2
    assert not third.stamp_ready
    assert [n.text for n in third.notes] == [
        f"{PROMOTION}: this update applies stage 3/4 (llama/production: 100% to v2 (2 "
        f"replicas, v1 0)). The rest: `{COMMAND}` (each stage, its stabilization and gates, "
        "a rollback on failure), or `pulumi up` again after this update for stage 4/4"
    ]

    # Then the head: the promotion is complete, and the head is the live release.
    last = change.plan(live_after(third))
    head = compile_stack(change.head)
    assert ids(last.compiled.objects) == ids(head.objects)
    assert last.progress == Progress(digest(head), 3, 4, "done")
    assert last.sources is None  # the program exports the head's
    assert [(n.level, n.text) for n in last.notes] == [
        (
            "info",
            f"{PROMOTION}: this update applies the last stage 4/4 (llama/production: v1 "
            "scale to zero); the promotion is complete",
        )
    ]
    # And after it, nothing is staged (and the live release is not even compiled).
    done = {RELEASE: head.release.to_dict(), SOURCES: {"broken": True}}
    assert change.plan(done) == Update(last.compiled)


def test_a_stage_that_a_gate_follows_is_kept_for_iac_up(tmp_path: Path) -> None:
    change = promotion(tmp_path, gates=GATE)
    # Gates judge the traffic the candidate took: none follows stage 1, which moves none.
    first = change.plan(change.live)
    assert "which checks the gates" not in first.notes[0].text
    second = change.plan(at(live_after(first), NOW))
    assert ids(second.compiled.objects) == ids(change.stages[1].compile().objects)
    assert second.notes[0].text.endswith(
        f"The rest: `{COMMAND}`, which checks the gates (llama/production errors) after this "
        "stage; `pulumi up` keeps this stage until then"
    )
    # However long ago it was ready.
    kept = change.plan(at(live_after(second), NOW - timedelta(days=1)))
    assert ids(kept.compiled.objects) == ids(second.compiled.objects)
    assert kept.progress == second.progress
    assert [n.text for n in kept.notes] == [
        f"{PROMOTION}: stage 2/4 (llama/production: 50% to v2 (2 replicas, v1 1)) is "
        "followed by the gates (llama/production errors), which only `iac up` checks; this "
        f"update keeps it. The rest: `{COMMAND}`"
    ]


def test_a_stage_left_by_an_interrupted_iac_up_stabilizes_from_now(tmp_path: Path) -> None:
    """`iac up` records no time of readiness: its stage is kept, and the time recorded."""
    change = promotion(tmp_path)
    head = compile_stack(change.head)
    live = {
        RELEASE: change.stages[1].compile().release.to_dict(),
        SOURCES: change.live[SOURCES],
        ROLLOUT: Progress(digest(head), 1, 4, "rolling").to_dict(),
    }
    kept = change.plan(live)
    assert ids(kept.compiled.objects) == ids(change.stages[1].compile().objects)
    assert (kept.stamp_ready, kept.ready_at) == (True, None)
    assert [n.text for n in kept.notes] == [
        f"{PROMOTION}: stage 2/4 (llama/production: 50% to v2 (2 replicas, v1 1)) has no "
        "record of when it was ready (an interrupted `iac up`); its stabilization (5m) counts "
        "from the end of this update, which keeps it. The rest: `pulumi up` again 5m after "
        f"this update for stage 3/4, or `{COMMAND}`"
    ]


def test_a_head_edited_during_the_rollout_starts_its_own_from_the_first_stage(
    tmp_path: Path,
) -> None:
    change = promotion(tmp_path)
    first = change.plan(change.live)
    assert first.progress is not None
    live = {
        RELEASE: first.compiled.release.to_dict(),
        SOURCES: first.sources,
        ROLLOUT: {**first.progress.to_dict(), "head": "another-change", READY_AT: "old"},
    }
    again = change.plan(live)
    assert ids(again.compiled.objects) == ids(first.compiled.objects)
    assert again.progress == first.progress
    assert again.notes == first.notes


def test_what_is_not_a_rolling_promotion_is_applied_whole(tmp_path: Path) -> None:
    immediate = promotion(tmp_path, strategy="immediate")
    head = compile_stack(immediate.head)
    assert not declares_rolling(head.release)
    assert immediate.plan(immediate.live) == Update(immediate.plan(immediate.live).compiled)
    (tmp_path / "rolling").mkdir()
    change = promotion(tmp_path / "rolling")
    assert declares_rolling(compile_stack(change.head).release)
    # The first release, and a stack whose outputs predate `sources`.
    assert change.plan({}).progress is None
    assert change.plan({RELEASE: change.live[RELEASE]}).progress is None


# --- the program under mocks, update after update ------------------------------------------


def outputs_of(run: ProgramRun) -> dict[str, Any]:
    """What the engine keeps of a run: its exports (a copy)."""
    return copy.deepcopy(run.exports)


def test_pulumi_up_after_pulumi_up_walks_the_stages_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    write(path, "v1")
    first = run_program(path)  # the stack's first update: no outputs yet
    assert [c.args for c in first.calls if c.token == READ_STACK_OUTPUTS] == [
        {"name": "organization/iac-test/dev"}
    ]
    assert first.warnings() == []
    assert ROLLOUT not in first.exports
    live = outputs_of(first)

    change = promotion(tmp_path)  # the same stack file, now promoting v2
    head, staged = change.head, change.stages

    previewed = run_program(path, live=live, preview=True)
    stage1 = run_program(path, live=live)
    assert registered(stage1) == ids(staged[0].compile().objects)
    assert registered(previewed) == registered(stage1)
    assert previewed.warnings() == stage1.warnings()
    (warning,) = stage1.warnings()
    assert warning.startswith(f"{PROMOTION}: applied in one update")
    assert f"`iac up {path} --stack dev`" in warning
    exported = outputs_of(stage1)
    # Stage 1 brings v2 up beside v1 and sends it nothing (a 0 % side is no backend).
    assert exported[RELEASE]["models"]["llama"]["environments"] == {
        "production": {"traffic": {"v1": 100, "v2": 0}}
    }
    assert exported[SOURCES] == live[SOURCES]
    assert READY_AT not in exported[ROLLOUT]  # no stabilization follows it
    assert exported[ROLLOUT] == Progress(digest(compile_stack(head)), 0, 4, "rolling").to_dict()

    stage2 = run_program(path, live=outputs_of(stage1))
    assert registered(stage2) == ids(staged[1].compile().objects)
    exported = outputs_of(stage2)
    assert exported[RELEASE]["models"]["llama"]["environments"] == {
        "production": {"traffic": {"v1": 50, "v2": 50}}
    }
    ready = datetime.strptime(exported[ROLLOUT].pop(READY_AT), "%Y-%m-%dT%H:%M:%SZ")
    assert abs(ready.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    assert exported[ROLLOUT] == Progress(digest(compile_stack(head)), 1, 4, "rolling").to_dict()

    kept = run_program(path, live=outputs_of(stage2))
    assert registered(kept) == registered(stage2)
    assert "this update keeps it" in kept.warnings()[0]
    assert outputs_of(kept)[ROLLOUT] == outputs_of(stage2)[ROLLOUT]

    stage3 = run_program(path, live=at(outputs_of(stage2), datetime.now(UTC) - timedelta(hours=1)))
    assert registered(stage3) == ids(staged[2].compile().objects)
    stage4 = run_program(path, live=outputs_of(stage3))
    assert registered(stage4) == ids(compile_stack(head).objects)
    assert stage4.warnings() == []
    assert stage4.infos() == [
        f"{PROMOTION}: this update applies the last stage 4/4 (llama/production: v1 scale to "
        "zero); the promotion is complete"
    ]
    assert outputs_of(stage4)[SOURCES] == stack_sources(head)
    assert outputs_of(stage4)[ENDPOINTS] == live[ENDPOINTS]
    after = run_program(path, live=outputs_of(stage4))
    assert registered(after) == registered(stage4)
    assert (after.warnings(), after.infos()) == ([], [])


def test_iac_up_resumes_after_the_stage_a_pulumi_up_applied(tmp_path: Path) -> None:
    """The program records the progress as `iac up` does: the same head digest (the last
    stage's compile is the program's head), so `iac up` goes on from the next stage."""
    change = promotion(tmp_path)
    first = change.plan(change.live)
    assert first.progress is not None
    assert first.progress.head == digest(change.stages[-1].compile())

    class Engine:
        def __init__(self) -> None:
            self.applied: list[Progress] = []

        def apply(self, compiled: Compiled, progress: Progress) -> None:
            self.applied.append(progress)

        def progress(self) -> Progress | None:
            return first.progress

    engine, said = Engine(), []
    outcome = run(
        change.stages, engine, None, lambda q: 0.0, report=said.append, sleep=lambda s: None
    )
    assert outcome.status == "done"
    assert said[0] == "resuming after stage 1 of 4"
    assert [p.stage for p in engine.applied] == [1, 2, 3]


def test_a_stack_without_rolling_promotions_reads_no_outputs(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    write(path, "v1", strategy="immediate")
    assert run_program(path).calls == []


def test_outputs_that_cannot_be_read_stop_the_update(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    write(path, "v1")
    with pytest.raises(pulumi.RunError) as failed:
        run_program(path, live_failure="access denied")
    message = str(failed.value)
    assert message.startswith(
        "the stack declares a rolling promotion, and the program could not read its "
        "stack's last outputs to tell how far it has gone (organization/iac-test/dev: "
        "invoke of pulumi:pulumi:readStackOutputs failed: access denied (name); dev: "
    )
    assert message.endswith("); run the change with `iac up`")

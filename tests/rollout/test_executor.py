"""The rollout executor against a recording stand-in of the engine: step order, rollback
on a failed step and on a failed gate, resume after an interruption (issue #7). The real
engine path runs in tests/e2e."""

from __future__ import annotations

from pathlib import Path

import pytest

from iac.compile import Compiled, compile_stack
from iac.diff.plan import make_plan
from iac.rollout.executor import Progress, digest, run
from iac.rollout.stages import stages
from tests.support.recording_engine import Recorder
from tests.support.stacks import llama_stack, load_stack

STACK = llama_stack(
    """\
deployments: {v3: {}, v5: {}}
environments:
  production:
    deployment: PROD
    autoscaling: {min_replicas: 4, max_replicas: 8}
    promotion:
      strategy: rolling
      max_surge_percent: 25
      stabilization: 2m
      gates: [{name: errors, query: 'err{env="$environment",d="$deployment"}', max: 0.02}]
"""
)


@pytest.fixture
def change(tmp_path: Path) -> tuple[Compiled, list]:
    def load(name: str, prod: str) -> object:
        return load_stack(tmp_path, STACK.replace("PROD", prod), name)

    base, head = load("base.yaml", "v3"), load("head.yaml", "v5")
    base_compiled = compile_stack(base)
    plan = make_plan(base_compiled, compile_stack(head))
    return base_compiled, stages(head, plan.rollouts)


def test_stages_in_order_with_stabilization_and_gates(change: tuple) -> None:
    base, found = change
    engine, log, queries, slept = Recorder(), [], [], []

    def metric(query: str) -> float:
        queries.append(query)
        return 0.001

    outcome = run(found, engine, base, metric, report=log.append, sleep=slept.append)
    assert outcome.status == "done"
    assert outcome.applied == (0, 1, 2, 3, 4, 5)
    assert [p.stage for _, p in engine.applied] == [0, 1, 2, 3, 4, 5]
    assert [p.status for _, p in engine.applied] == ["rolling"] * 5 + ["done"]
    assert engine.applied[-1][0] == digest(found[-1].compile())
    assert queries == ['err{env="production",d="v5"}'] * 4  # after each shift
    assert sum(slept) == 3 * 120  # stabilization after each shift but the last
    # The first candidate comes up beside v3's 4 replicas before any traffic moves.
    assert log[0] == "stage 1/6: llama/production: 0% to v5 (1 replicas, v3 4)"
    assert log[1] == "stage 2/6: llama/production: 25% to v5 (2 replicas, v3 3)"
    assert "  gate errors: 0.001 ok" in log


def test_a_failed_step_rolls_back_to_the_base(change: tuple) -> None:
    base, found = change
    engine, log = Recorder(fail_at=2), []
    outcome = run(found, engine, base, lambda q: 0.0, report=log.append, sleep=lambda s: None)
    assert outcome.status == "rolled-back"
    assert outcome.applied == (0, 1)
    assert engine.applied[-1] == (digest(base), engine.applied[-1][1])
    assert engine.applied[-1][1].status == "rolled-back"
    assert "stage 3 failed: Deployment llama-v5 did not become ready (stage 2)" in log


def test_a_failed_gate_rolls_back(change: tuple) -> None:
    base, found = change
    engine, log = Recorder(), []
    outcome = run(found, engine, base, lambda q: 0.2, report=log.append, sleep=lambda s: None)
    assert outcome.status == "rolled-back"
    assert outcome.reason == "gate errors: 0.2 is above 0.02"
    assert outcome.applied == (0, 1)  # judged after the first shift
    assert engine.applied[-1][0] == digest(base)


def test_no_rollback_leaves_it_for_the_next_run_to_resume(change: tuple) -> None:
    base, found = change
    engine = Recorder(fail_at=1)
    outcome = run(
        found,
        engine,
        base,
        lambda q: 0.0,
        rollback=False,
        report=lambda m: None,
        sleep=lambda s: None,
    )
    assert outcome.status == "failed"
    assert engine.progress() == Progress(digest(found[-1].compile()), 0, 6, "rolling")
    # The next run (the cause fixed) resumes after the last applied stage.
    engine.fail_at = None
    log: list[str] = []
    outcome = run(found, engine, base, lambda q: 0.0, report=log.append, sleep=lambda s: None)
    assert outcome.status == "done"
    assert outcome.applied == (1, 2, 3, 4, 5)
    assert log[0] == "resuming after stage 1 of 6"


def test_an_interrupt_rolls_back(change: tuple) -> None:
    base, found = change
    engine = Recorder()

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    outcome = run(found, engine, base, lambda q: 0.0, report=lambda m: None, sleep=interrupted)
    assert outcome.status == "rolled-back"
    assert outcome.reason == "interrupted"


def test_the_first_release_has_nothing_to_roll_back_to(change: tuple) -> None:
    _, found = change
    outcome = run(
        found, Recorder(fail_at=0), None, lambda q: 0.0, report=lambda m: None, sleep=lambda s: None
    )
    assert outcome.status == "failed"


def _lock_message(pid: int, host: str) -> str:
    """What the Pulumi CLI says of a held file-backend lock (pkg/backend/diy/lock.go)."""
    return (
        "error: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.\n"
        f"  file:///state/.pulumi/locks/organization/p/dev/1f2e.json: created by root@{host} "
        f"(pid {pid}) at 2026-11-27T04:30:00Z"
    )


def test_only_a_lock_of_a_dead_process_of_this_host_is_released() -> None:
    import os
    import subprocess
    import sys

    from iac.program.automation import dead_lock_holders

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(finished.stdout)
    assert dead_lock_holders(_lock_message(dead, "here"), "here") == f"pid {dead} of root@here"
    # A live process, another host, or no holder named: left alone.
    assert dead_lock_holders(_lock_message(os.getppid(), "here"), "here") is None
    assert dead_lock_holders(_lock_message(dead, "elsewhere"), "here") is None
    assert dead_lock_holders("error: the stack is currently locked", "here") is None
    both = _lock_message(dead, "here") + "\n" + _lock_message(os.getppid(), "here")
    assert dead_lock_holders(both, "here") is None


def test_an_empty_attrs_file_a_killed_update_left_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen on the real engine: SIGKILL while Pulumi rewrote `dev.json.attrs` left it empty,
    and the next `iac up` failed with `failed to load checkpoint: EOF`."""
    from iac.program.automation import repair_file_backend

    (tmp_path / "Pulumi.yaml").write_text("name: serving\nruntime: python\n")
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / "serving"
    stacks.mkdir(parents=True)
    (stacks / "dev.json").write_text("{}")
    (stacks / "dev.json.attrs").write_text("")
    (stacks / "dev.json.bak.attrs").write_text('{"user.metadata": null}')
    (stacks / "prod.json.attrs").write_text("")  # another stack's: not ours to touch
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "state").as_uri())
    assert repair_file_backend(tmp_path, "serving", "dev") == [stacks / "dev.json.attrs"]
    assert sorted(p.name for p in stacks.iterdir()) == [
        "dev.json", "dev.json.bak.attrs", "prod.json.attrs"
    ]  # fmt: skip
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket")  # not a file backend: nothing
    assert repair_file_backend(tmp_path, "serving", "prod") == []

"""`iac up`'s record of the apply in flight (`iac.program.in_flight.InFlight`), which
stands in for Pulumi's per-step checkpoints that `iac up` skips, and the Ctrl-C deferral
that lets the engine save its state first. The real engine, killed at random points:
tests/e2e/test_interrupted_large_up.py."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from iac.errors import IacError
from iac.program.in_flight import InFlight, ctrl_c_after_the_engine
from iac.rollout.executor import Progress

PROGRESS = Progress("abc", 0, 2, "rolling")
SOURCES = {"stack": "stacks/dev.yaml", "files": {"stacks/dev.yaml": "version: 1\n"}}


def killed_run(project: Path, objects: list[str]) -> InFlight:
    """The record an `iac up` killed during its apply left (another process's)."""
    record = InFlight(project, "dev")
    record.write(objects, SOURCES, PROGRESS)
    data = json.loads(record.path.read_text())
    record.path.write_text(json.dumps({**data, "run": "another run"}))
    return record


def test_an_apply_declaring_every_recorded_object_goes_ahead(tmp_path: Path) -> None:
    record = killed_run(tmp_path, ["v1/Service/models/a", "apps/v1/Deployment/models/a"])
    said: list[str] = []
    kept = record.check({"v1/Service/models/a", "apps/v1/Deployment/models/a", "x"}, said.append)
    assert kept == set()
    assert said == [
        "the last update of stack dev was killed before Pulumi saved its state; this apply "
        "registers again every object it may have created"
    ]


def test_an_apply_leaving_out_a_recorded_object_is_refused_with_the_files_to_apply(
    tmp_path: Path,
) -> None:
    record = killed_run(tmp_path, [f"v1/Service/models/m{i}" for i in range(7)])
    with pytest.raises(IacError) as raised:
        record.check({"v1/Service/models/m0"}, print)
    folder = tmp_path / ".iac" / "dev.in-flight"
    assert str(raised.value) == (
        "the last update of stack dev was killed before Pulumi saved its state, while "
        "applying 6 object(s) this apply does not declare (v1/Service/models/m1, "
        "v1/Service/models/m2, v1/Service/models/m3, v1/Service/models/m4, "
        "v1/Service/models/m5 and 1 more): they may exist in the cluster without Pulumi "
        "knowing, and would be left there. Nothing applied; apply the stack files it was "
        f"applying first: `iac up {folder / 'stacks' / 'dev.yaml'} --stack dev`, then this "
        f"one (or, having checked the cluster holds none of them, remove {record.path})"
    )
    assert (folder / "stacks" / "dev.yaml").read_text() == "version: 1\n"


def test_recorded_paths_stay_inside_the_folder(tmp_path: Path) -> None:
    record = InFlight(tmp_path, "dev")
    record.write(["a"], {"stack": "s.yaml", "files": {"../../escape.yaml": "x"}}, PROGRESS)
    data = json.loads(record.path.read_text())
    record.path.write_text(json.dumps({**data, "run": "another run"}))
    with pytest.raises(IacError):
        record.check(set(), print)
    assert not (tmp_path.parent / "escape.yaml").exists()


def test_an_unreadable_record_is_refused(tmp_path: Path) -> None:
    record = InFlight(tmp_path, "dev")
    record.folder.mkdir()
    record.path.write_text("{not json")
    with pytest.raises(IacError, match="is not a record iac up can read"):
        record.check({"a"}, print)


def test_this_process_s_interrupted_apply_stays_recorded_until_an_apply_ends(
    tmp_path: Path,
) -> None:
    record = InFlight(tmp_path, "dev")
    assert record.write(["a", "b"], SOURCES, PROGRESS) is None
    # The rollback after a Ctrl-C declares other objects: both stay recorded.
    assert record.check({"c"}, print) == {"a", "b"}
    record.clear()
    assert record.check({"c"}, print) == set()


def test_a_record_an_apply_replaced_is_put_back_when_the_apply_did_not_start(
    tmp_path: Path,
) -> None:
    killed = killed_run(tmp_path, ["a"])
    before = killed.path.read_text()
    replaced = killed.write(["a", "b"], SOURCES, PROGRESS)
    assert replaced == before
    killed.restore(replaced)
    assert killed.path.read_text() == before
    killed.restore(None)
    assert not killed.path.exists()


def engine_run(
    ctrl_c: int, then: Exception | None = None, seen: list[str] | None = None
) -> list[str]:
    """An engine's run under `ctrl_c_after_the_engine`, `ctrl_c` Ctrl-Cs into it, ending
    with `then` raised (a cancelled update's error); what it saw, into `seen`."""
    seen = [] if seen is None else seen
    with ctrl_c_after_the_engine() as interrupted:
        for _ in range(ctrl_c):
            os.kill(os.getpid(), signal.SIGINT)
        seen.append(f"ran to its end, interrupted: {interrupted}")
        if then:
            raise then
    return seen


def test_a_first_ctrl_c_is_raised_once_the_engine_ended() -> None:
    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        engine_run(1, seen=seen)
    assert seen == ["ran to its end, interrupted: [True]"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert engine_run(0) == ["ran to its end, interrupted: []"]


def test_the_error_of_a_cancelled_update_is_raised_as_the_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt):
        engine_run(1, RuntimeError("update cancelled"))
    with pytest.raises(RuntimeError):
        engine_run(0, RuntimeError("failed without a Ctrl-C"))


def test_a_second_ctrl_c_is_raised_at_once() -> None:
    seen: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        engine_run(2, seen=seen)
    assert seen == []


def test_without_ctrl_c_nothing_changes() -> None:
    with ctrl_c_after_the_engine() as interrupted:
        pass
    assert interrupted == []

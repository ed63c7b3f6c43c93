"""The command line's process-wide settings (`iac.cli.process`): the cyclic GC paused around
bulk building, resumed with what was built aged; the library leaves the collector alone."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.cli.process import gc_paused
from iac.compile import compile_stack
from iac.diff.plan import make_plan
from iac.render.text import render
from iac.validate import check_stack

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "01-single-model")


class _Node:
    other: object = None


def test_what_a_pause_built_leaves_the_young_generation_and_the_collector_resumes() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        data = [[i] for i in range(10_000)]
    assert gc.isenabled()
    # Not scanned by the next young collection, but still tracked for a full one.
    young = {id(o) for o in gc.get_objects(generation=0)}
    assert not any(id(item) in young for item in data)
    assert all(gc.is_tracked(item) for item in data[:10])
    assert gc.get_freeze_count() == 0


def test_a_cycle_made_during_a_pause_is_still_collected() -> None:
    with gc_paused():
        node = _Node()
        node.other = node
        ref = weakref.ref(node)
        del node
    assert ref() is not None
    gc.collect()
    assert ref() is None


def test_objects_someone_else_froze_stay_frozen() -> None:
    # Watched through one object, not `gc.get_freeze_count()`: other threads of the test
    # process (a live-cluster fixture's servers) free frozen objects meanwhile.
    marker: list[object] = []

    def frozen() -> bool:  # the permanent generation is not among gc.get_objects()'s
        return not any(o is marker for o in gc.get_objects())

    gc.freeze()
    try:
        assert frozen()
        with gc_paused():
            pass
        assert frozen()
    finally:
        gc.unfreeze()


def test_nested_pauses_resume_once_at_the_outermost() -> None:
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.fixture
def collector_untouchable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any change to the collector's state fails the test."""

    def refuse(*_: object) -> None:
        raise AssertionError("the library changed the garbage collector")

    for name in ("disable", "enable", "freeze", "unfreeze", "set_threshold"):
        monkeypatch.setattr(gc, name, refuse)


def test_the_library_leaves_the_collector_alone(collector_untouchable: None) -> None:
    """Loading, compiling, rendering and planning, as a program importing `iac` calls them."""
    compiled = compile_stack(check_stack(EXAMPLE))
    assert "kind: Deployment" in render(compiled.objects)
    assert make_plan(compiled, compiled).changed is False


def test_a_command_builds_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def watched(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return compile_stack(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("iac.cli.render.compile_stack", watched)
    result = CliRunner().invoke(cli, ["render", EXAMPLE])
    assert result.exit_code == 0, result.output
    assert seen == [False]
    assert gc.isenabled()

"""Pausing the cyclic GC around bulk building: paused, resumed, and what was built is aged."""

from __future__ import annotations

import gc
import weakref

from iac.gc_pause import gc_paused, without_gc


class _Node:
    other: object = None


def test_what_a_pause_built_leaves_the_young_generation_and_the_collector_resumes() -> None:
    @without_gc
    def build() -> list[list[int]]:
        assert not gc.isenabled()
        return [[i] for i in range(10_000)]

    assert gc.isenabled()
    data = build()
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

"""Pausing the cyclic garbage collector around bulk building of plain data.

Loading and compiling a large stack allocates hundreds of thousands of dicts, lists and
strings that all stay alive until the result is returned. CPython's generational GC is
triggered by allocation counts and rescans them again and again (measured: a third to a
half of the time on a 1,000-model stack) while finding nothing to free, since plain data
holds no cycles. Reference counting still frees temporaries; the collector resumes after.

Resuming is not free either: everything allocated during the pause is still in the young
generation, and the first allocation after `gc.enable()` would scan all of it (0.15-0.3 s
after loading or compiling a 1,000-model stack). So on resuming, the survivors are moved to
the oldest generation unscanned (`gc.freeze()` then `gc.unfreeze()`, two list splices), as
if they had already survived the young collections they would survive anyway. The next full
collection still sees them, so cyclic garbage made during the pause is still freed then.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:  # the outermost pause resumes
            _age_survivors()
            gc.enable()


def _age_survivors() -> None:
    """Move every tracked object to the oldest generation without scanning it."""
    # Objects someone else froze on purpose (before forking a server) must stay frozen,
    # and `unfreeze` would release them too.
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def without_gc(function: Callable[P, R]) -> Callable[P, R]:
    """Run `function` with the cyclic GC paused (see module docstring)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with gc_paused():
            return function(*args, **kwargs)

    return wrapper

"""What the `iac` process does for speed that a program importing `iac` must not get.

A command that builds a whole release of plain data (load, compile, render, plan) runs it
inside `bulk_work`, the one place that changes process-wide state; the library never does.

**The cyclic garbage collector is paused.** Loading and compiling a large stack allocates
hundreds of thousands of dicts, lists and strings that all stay alive until the command is
done. CPython's generational GC is triggered by allocation counts and rescans them again and
again while finding nothing to free, since plain data holds no cycles (what that costs:
docs/benchmarks.md). Reference counting still frees temporaries; the collector resumes after.
Resuming is not free either: everything allocated during the pause is still in the young
generation, and the first allocation after `gc.enable()` would scan all of it. So on
resuming, the survivors are moved to the oldest generation unscanned (`gc.freeze()` then
`gc.unfreeze()`, two list splices), as if they had already survived the young collections
they would survive anyway. The next full collection still sees them, so cyclic garbage made
during the pause is still freed then.

**The process leaves without freeing.** At exit CPython frees every object still alive, one
by one: after `iac render` or `iac plan` of a 1,000-model stack, millions of dicts, lists and
strings the operating system takes back at once anyway. A command that holds nothing else to
clean up (no temporary files, no child processes, no open connections) says so
(`bulk_work(leave_without_teardown=True)`); `iac.cli.main` then flushes stdout and stderr and
leaves with `os._exit`, as mypy does for the same reason. Commands that drive Pulumi or write
state keep the normal exit, with its atexit handlers. The request is kept in the command's
click context (`Invocation`), so a command run any other way (click's test runner) exits as
usual.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import click


@dataclass
class Invocation:
    """One run of `iac`: what the command line asked and what the command asks of the exit.
    It is the root click context's `obj`."""

    debug: bool = False
    """`--debug`: show the traceback of an error, as well as its message."""
    leave_without_teardown: bool = False
    """Set by `bulk_work`: `main` leaves with `os._exit` after flushing the output."""


def invocation(ctx: click.Context | None = None) -> Invocation:
    """This run's `Invocation` (made on first use)."""
    root = (ctx or click.get_current_context()).find_root()
    return root.ensure_object(Invocation)


@contextlib.contextmanager
def bulk_work(*, leave_without_teardown: bool) -> Iterator[None]:
    """Run a command's building of plain data with the cyclic GC paused, and, when
    `leave_without_teardown`, let `main` leave without freeing it (see the module docstring)."""
    if leave_without_teardown:
        invocation().leave_without_teardown = True
    with gc_paused():
        yield


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC disabled inside; the outermost pause resumes it, with what was built
    meanwhile aged unscanned."""
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


def exit_now(code: int, run: Invocation) -> None:
    """Flush the output and leave with `code`, without teardown if the command asked for it;
    otherwise a normal `sys.exit`."""
    if not run.leave_without_teardown:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`iac render | head`) or stream
            code = code or 1
    os._exit(code)


def exit_code(exc: SystemExit) -> int:
    """The status `sys.exit(value)` would give: None is 0, an int is itself, anything else
    is printed to stderr and is 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1

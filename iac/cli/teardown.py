"""Leaving without freeing: commands that build a large release in memory skip the
interpreter's teardown.

At exit CPython frees every object still alive, one by one. After `iac render` or
`iac plan` of a 1,000-model stack that is millions of dicts, lists and strings: a quarter
of a second spent on memory the operating system takes back at once anyway. A command that
holds nothing else to clean up (no temporary files, no child processes, no open
connections) calls `skip_at_exit()`; `iac.cli.main` then flushes stdout and stderr and
leaves with `os._exit`, as mypy does for the same reason. Commands that drive Pulumi or
write state keep the normal exit, with its atexit handlers.
"""

from __future__ import annotations

import os
import sys

_skip = False


def skip_at_exit() -> None:
    """Ask `iac.cli.main` to leave without freeing this process's objects."""
    global _skip
    _skip = True


def exit_now(code: int) -> None:
    """Flush the output and leave with `code`, without teardown if a command asked for it;
    otherwise a normal `sys.exit`."""
    if not _skip:
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

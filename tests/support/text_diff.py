"""What an edit changed in a file's text, line by line."""

from __future__ import annotations

import difflib


def changed_lines(before: str, after: str) -> list[str]:
    """The removed (`-`) and added (`+`) lines from `before` to `after`, without context."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]

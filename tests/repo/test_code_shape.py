"""The code keeps a shape a newcomer can read: no function over 60 lines, no module over 500.

A long function usually holds several steps that deserve names of their own, and a long
module several concepts; the limits make that split happen when the code grows, not later.
Lengths are counted as `ast` sees them: a function from its `def` (decorators left out) to
its last line, nested functions inside it included; a module by its lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "iac"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _where(path: Path, line: int) -> str:
    shown = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    return f"{shown}:{line}"


def long_functions(path: Path) -> list[str]:
    """`file:line name (N lines)` for each function or method of `path` over the limit."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{_where(path, node.lineno)} {node.name} ({length} lines)")
    return found


def test_the_package_has_sources() -> None:
    # Guards the two tests below against passing because they looked in the wrong place.
    assert len(_sources()) > 50


def test_no_function_is_over_60_lines() -> None:
    too_long = [entry for path in _sources() for entry in long_functions(path)]
    assert not too_long, (
        f"functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n"
        + "\n".join(too_long)
    )


def test_no_module_is_over_500_lines() -> None:
    too_long = []
    for path in _sources():
        length = len(path.read_text(encoding="utf-8").splitlines())
        if length > MAX_MODULE_LINES:
            too_long.append(f"{_where(path, 1)} ({length} lines)")
    assert not too_long, (
        f"modules over {MAX_MODULE_LINES} lines (split them by concept):\n" + "\n".join(too_long)
    )


def test_the_function_rule_counts_from_def_to_last_line(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    source = tmp_path / "long.py"
    source.write_text(f"def short():\n    pass\n\n\ndef long():\n{body}")
    assert [e.split(" ", 1)[1] for e in long_functions(source)] == [
        f"long ({MAX_FUNCTION_LINES + 1} lines)"
    ]

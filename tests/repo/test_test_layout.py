"""Tests stay where docs/testing.md ("Where a test goes") puts them: a test module is read on
its own, so it imports no other test module; what several share lives in tests/support/ (or,
for the live cluster, tests/live/) under a public name. (tests/harness/ tests the live
stand-ins themselves, private parts included.)"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def borrowed(path: Path) -> list[str]:
    """`line module.name` for each import of `path` from a test module of the tests package,
    or of a name tests/support/ keeps private."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
        if not module.startswith("tests."):
            continue
        assert isinstance(node, ast.ImportFrom)
        from_a_test = module.rsplit(".", 1)[-1].startswith("test_")
        from_support = module.startswith("tests.support.")
        found += [
            f"{node.lineno} {module}.{alias.name}"
            for alias in node.names
            if from_a_test or (from_support and alias.name.startswith("_"))
        ]
    return found


def test_no_test_module_borrows_from_another() -> None:
    sources = sorted(TESTS.rglob("*.py"))
    assert len(sources) > 50  # guards against passing because it looked in the wrong place
    found = [
        f"{path.relative_to(TESTS.parent)}:{entry}" for path in sources for entry in borrowed(path)
    ]
    assert not found, (
        "imports from test modules, or of names tests/support/ keeps private (move the helper "
        "into tests/support/, in a module named for what it holds):\n" + "\n".join(found)
    )


def test_the_rule_sees_a_test_modules_helper_and_a_private_name(tmp_path: Path) -> None:
    source = tmp_path / "borrowing.py"
    source.write_text(
        "from tests.diff.test_plan import BASE\n"
        "from tests.support.stacks import _private, write_stack\n"
        "from tests.live.standins import _Route\n"
        "from iac.cli import _main\n"
        "import tests.support.stacks\n"
    )
    assert borrowed(source) == ["1 tests.diff.test_plan.BASE", "2 tests.support.stacks._private"]

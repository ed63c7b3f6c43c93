"""Fuzzing the loader, validator, compiler and planner with mutated stacks.

`mutations()` is a hypothesis strategy of stacks derived from the bundled examples: a value
replaced by one of the wrong type, a key removed, an unknown key added, huge numbers, odd
unicode, deep nesting. `run_one()` feeds a stack text through `iac validate` and, when it is
valid, `iac render` and `iac plan`, and raises if anything but a clean exit (0, or 1 with
located diagnostics) happens. Used by tests/cli/test_fuzz.py (bounded) and scripts/fuzz.py.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import strategies as st

from iac.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [
    yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*/stack.yaml"))
] + [yaml.safe_load((ROOT / "stacks" / "demo.yaml").read_text())]
for seed in SEEDS:
    seed["imports"] = [str(ROOT / "modules" / Path(i).name) for i in seed.get("imports", [])]

DIAGNOSTIC = re.compile(r"^\S+:\d+:\d+: (error|warning|info): .+$")

_weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "H100:999", "0s", "-1", "1e309", "💥", "a" * 300, "${x}", "~", "null"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return data


@st.composite
def mutations(draw: st.DrawFn) -> str:
    import copy

    data = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add", "nest"]))
        target: Any = data
        try:
            for key in path:
                target = target[key]
        except (KeyError, IndexError, TypeError):
            continue
        if action == "replace":
            data = _set(data, path, draw(_weird))
        elif action == "delete" and path:
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
        elif action == "add" and isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=12))] = draw(_weird)
        elif action == "nest":
            depth = draw(st.integers(min_value=1, max_value=80))
            nested: Any = draw(_weird)
            for _ in range(depth):
                nested = {"x": nested}
            data = _set(data, path, nested)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def run_one(text: str) -> int:
    """Validate (and render and plan when valid) one stack text; return the exit code."""
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(cli, ["validate", str(path)])
        check_outcome(result, "validate")
        if result.exit_code == 0:
            check_outcome(runner.invoke(cli, ["render", str(path)]), "render")
            check_outcome(runner.invoke(cli, ["plan", str(path), "--base", str(path)]), "plan")
        return result.exit_code


def check_outcome(result: Any, command: str) -> None:
    """A command either succeeded or failed with located messages; it never crashed."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{command} crashed") from result.exception
    if result.exit_code not in (0, 1):
        raise AssertionError(f"{command} exited {result.exit_code}: {result.output}")
    if result.exit_code == 1:
        lines = [line for line in result.stderr.splitlines() if line]
        assert lines, f"{command} failed without saying why"
        for line in lines:
            assert DIAGNOSTIC.match(line) or line.startswith(("the ", "Error")), line

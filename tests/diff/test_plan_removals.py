"""The text plan names the objects a change removes (the JSON and the markdown list every
object; the text counts the others)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from benchmarks.generate import large_stack
from iac.cli import cli
from iac.diff.report import REMOVALS_NAMED


def _plan_text(tmp_path: Path, base_models: int, head_models: int) -> list[str]:
    base, head = tmp_path / "base.yaml", tmp_path / "head.yaml"
    base.write_text(large_stack(base_models))
    head.write_text(large_stack(head_models))
    result = CliRunner().invoke(cli, ["plan", str(head), "--base", str(base)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Objects:"))
    return lines[at:]


def test_each_removed_object_is_named(tmp_path: Path) -> None:
    lines = _plan_text(tmp_path, 2, 2)
    assert lines == ["Objects: 0 to add, 0 to change, 0 to remove"]
    # A model taken out: its objects, named, in the order the base declares them.
    lines = _plan_text(tmp_path, 2, 1)
    assert lines[0].startswith("Objects: 0 to add, ")
    removed = int(lines[0].rsplit(", ", 1)[1].split()[0])
    assert removed > REMOVALS_NAMED
    named = lines[1 : 1 + REMOVALS_NAMED]
    assert "  - apps/v1/Deployment/models/model-0001-v1" in named
    assert all(line.startswith("  - ") and "model-0001" in line for line in named)
    assert lines[1 + REMOVALS_NAMED :] == [
        f"  ... and {removed - REMOVALS_NAMED} more (`--format json`)"
    ]
